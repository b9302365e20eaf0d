"""Intake: discovery order, EXIF orientation, every PIL mode, and every kind of bad file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolabel.errors import ImageError, InputError
from autolabel.images import DecodedImage, decode_image, find_images
from tests.conftest import write_image


def test_find_images_recursive_sorted_case_insensitive_hidden_skipped(tmp_path: Path) -> None:
    for rel in ["b/2.JPG", "a/1.png", "a/sub/3.TiFF", "c.webp", "d.bmp", "e.jpeg", ".hidden/x.jpg", "a/.y.jpg", "notes.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    src = find_images(tmp_path)
    assert src.root == tmp_path.resolve()
    assert src.paths == ("a/1.png", "a/sub/3.TiFF", "b/2.JPG", "c.webp", "d.bmp", "e.jpeg")


def test_symlinked_file_is_followed(tmp_path: Path) -> None:
    real = write_image(tmp_path / "elsewhere" / "real.png")
    (tmp_path / "in").mkdir()
    os.symlink(real, tmp_path / "in" / "link.png")
    src = find_images(tmp_path / "in")
    assert src.paths == ("link.png",)
    assert decode_image(src.root, "link.png").width == 64


def test_single_file_input(tmp_path: Path) -> None:
    p = write_image(tmp_path / "one.png")
    src = find_images(p)
    assert src.root == tmp_path.resolve() and src.paths == ("one.png",)


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: p, "no images"),
    (lambda p: (p / "a.txt").write_text("x") and (p / "a.txt"), "is not an image"),
])
def test_bad_inputs_are_one_line_errors(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(InputError, match=match):
        find_images(make(tmp_path))


def test_exif_orientation_gives_displayed_size_and_pixels(tmp_path: Path) -> None:
    # A 60x40 landscape stored with orientation 6 (rotate 90 CW to display) shows as 40x60.
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :10] = 255  # a white band on the stored image's left edge
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    d = decode_image(tmp_path, "rot.jpg")
    assert (d.width, d.height) == (40, 60)
    shown = np.asarray(d.image)
    assert shown[:10, :, :].mean() > 200  # the band is now along the top
    assert shown[-10:, :, :].mean() < 50


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_becomes_rgb(tmp_path: Path, mode: str) -> None:
    fmt = {"CMYK": "TIFF", "I;16": "PNG", "I": "TIFF", "F": "TIFF", "LA": "PNG", "RGBA": "PNG"}.get(mode, "PNG")
    ext = ".tif" if fmt == "TIFF" else ".png"
    base = Image.fromarray((np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint8), "L")
    if mode == "I;16":
        img = Image.fromarray((np.arange(48 * 64).reshape(48, 64) * 20).astype(np.uint16))
    elif mode in ("I", "F"):
        img = Image.fromarray(np.arange(48 * 64).reshape(48, 64).astype(np.int32 if mode == "I" else np.float32))
    else:
        img = base.convert(mode)
    img.save(tmp_path / f"m{ext}", format=fmt)
    d = decode_image(tmp_path, f"m{ext}")
    assert d.image.mode == "RGB" and d.image.size == (64, 48)
    assert np.asarray(d.image).std() > 0  # content survived the conversion


def test_transparent_pixels_become_white(tmp_path: Path) -> None:
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert np.asarray(decode_image(tmp_path, "t.png").image).min() == 255


def _truncated(p: Path) -> None:
    write_image(p, (200, 150), fmt="JPEG", quality=95)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("name, make, reason", [
    ("empty.jpg", lambda p: p.write_bytes(b""), "empty file"),
    ("text.jpg", lambda p: p.write_text("this is not a picture"), "not an image"),
    ("trunc.jpg", _truncated, "truncated"),
    ("garbage.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200)), "corrupt|not an image|truncated"),
])
def test_bad_files_raise_image_error_with_reason(tmp_path: Path, name: str, make, reason: str) -> None:
    make(tmp_path / name)
    with pytest.raises(ImageError, match=reason) as ei:
        decode_image(tmp_path, name)
    assert ei.value.path == name


def test_pixel_limit_refuses_bombs_before_decoding(tmp_path: Path) -> None:
    write_image(tmp_path / "big.png", (300, 200))
    with pytest.raises(ImageError, match="over the limit of 10,000"):
        decode_image(tmp_path, "big.png", max_pixels=10_000)
    assert decode_image(tmp_path, "big.png", max_pixels=60_000).width == 300


def test_too_small_for_one_patch(tmp_path: Path) -> None:
    write_image(tmp_path / "tiny.png", (40, 8))
    with pytest.raises(ImageError, match="smaller than one 16-pixel patch"):
        decode_image(tmp_path, "tiny.png", min_side=16)


def test_missing_file_is_image_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere.png", tmp_path / "dangling.png")
    with pytest.raises(ImageError, match="cannot read"):
        decode_image(tmp_path, "dangling.png")


def test_header_pixels_reads_the_size_without_decoding(tmp_path: Path) -> None:
    from autolabel.images import header_pixels

    write_image(tmp_path / "a.png", (40, 30))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:60])  # header intact, pixels gone
    (tmp_path / "t.txt").write_text("hello")
    assert header_pixels(tmp_path, "a.png") == 1200
    assert header_pixels(tmp_path, "cut.png") == 1200
    assert header_pixels(tmp_path, "t.txt") == 0
    assert header_pixels(tmp_path, "missing.jpg") == 0


# -- hostile inputs (issue 14) -----------------------------------------------------------------


def test_non_utf8_name_is_found_and_decodes(tmp_path: Path) -> None:
    """A name from an old zip (byte 0xff, not UTF-8) is kept losslessly (surrogateescape)."""
    write_image(tmp_path / "ok.png")
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xff.png"), "wb") as f:
        f.write((tmp_path / "ok.png").read_bytes())
    src = find_images(tmp_path)
    assert src.paths == ("bad\udcff.png", "ok.png")
    assert os.fsencode(src.paths[0]) == b"bad\xff.png"
    assert decode_image(src.root, src.paths[0]).width == 64


def _in_thread(fn, timeout: float = 10.0):
    """Run ``fn`` in a daemon thread; fail the test (instead of hanging) if it blocks."""
    import threading

    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "blocked on a non-regular file"
    return out


def test_symlink_to_fifo_is_refused_without_opening_it_blocking(tmp_path: Path) -> None:
    from autolabel.images import header_pixels

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "in").mkdir()
    os.symlink(tmp_path / "pipe", tmp_path / "in" / "m.jpg")
    src = find_images(tmp_path / "in")
    assert src.paths == ("m.jpg",)  # listed, so it becomes a failure line, not silence
    try:
        assert _in_thread(lambda: header_pixels(src.root, "m.jpg"))["value"] == 0
        err = _in_thread(lambda: decode_image(src.root, "m.jpg"))["error"]
        assert isinstance(err, ImageError) and "not a regular file: it is a FIFO" in err.reason
    finally:  # a regressed open blocks waiting for a writer: be one, so the thread ends
        import contextlib

        with contextlib.suppress(OSError):
            os.close(os.open(tmp_path / "pipe", os.O_WRONLY | os.O_NONBLOCK))


def test_unreadable_subfolder_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, and root reads a 0o000 folder; so make listing fail the way it fails for
    # a user without permission: os.walk's scandir raises PermissionError for that folder.
    for rel in ("a.png", "locked/b.png", "locked/deeper/c.png", "open/d.png"):
        write_image(tmp_path / rel)
    real_scandir = os.scandir

    def scandir(path=".", *a, **k):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    src = find_images(tmp_path)
    assert src.paths == ("a.png", "open/d.png")
    assert src.unreadable == (("locked", "Permission denied"),)


def test_unreadable_input_folder_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "in" / "a.png")
    real_scandir = os.scandir

    def scandir(path=".", *a, **k):  # as for a user without permission (tests run as root)
        if os.fspath(path).endswith("in"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError, match=r"cannot read the input folder .*in \(Permission denied\)"):
        find_images(tmp_path / "in")


def test_excluded_folder_is_never_input(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "run" / "previews" / "a.png")
    assert find_images(tmp_path).paths == ("a.png", "run/previews/a.png")
    assert find_images(tmp_path, exclude=[tmp_path / "run"]).paths == ("a.png",)


def test_single_file_symlink_with_another_name(tmp_path: Path) -> None:
    real = write_image(tmp_path / "elsewhere" / "IMG_0001.png")
    os.symlink(real, tmp_path / "photo.png")
    src = find_images(tmp_path / "photo.png")
    assert src.root == tmp_path.resolve() and src.paths == ("photo.png",)
    assert decode_image(src.root, "photo.png").width == 64


def test_bomb_beyond_pils_own_limit_quotes_the_configured_limit(tmp_path: Path) -> None:
    """PIL refuses at twice its limit before our check runs; the reason quotes max_pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    w = h = 30_000  # 900 MP declared in a few bytes: over 2 x max(PIL's limit, 200 MP)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(ImageError) as ei:
        decode_image(tmp_path, "bomb.png", max_pixels=200_000_000)
    assert ei.value.reason.startswith("900,000,000 pixels is over the limit of 200,000,000 ")
    assert "400000000" not in ei.value.reason and "400,000,000" not in ei.value.reason


def test_fifo_named_like_an_image_is_listed_and_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    os.mkfifo(tmp_path / "p.png")
    src = find_images(tmp_path)
    assert src.paths == ("a.png", "p.png")  # a failure line, not a silent skip
    err = _in_thread(lambda: decode_image(src.root, "p.png"))["error"]
    assert isinstance(err, ImageError) and err.reason == "not a regular file: it is a FIFO (named pipe)"


# -- decoder: device (read_encoded) ------------------------------------------------------------
def test_read_encoded_reads_plain_jpegs_and_leaves_the_rest_to_pil(tmp_path: Path) -> None:
    from autolabel.images import EncodedJpeg, read_encoded

    write_image(tmp_path / "rgb.jpg", (40, 30))
    write_image(tmp_path / "gray.jpg", (40, 30), mode="L")
    write_image(tmp_path / "cmyk.jpg", (40, 30), mode="CMYK")
    write_image(tmp_path / "png_named.jpg", (40, 30), fmt="PNG")
    data = (tmp_path / "rgb.jpg").read_bytes()
    (tmp_path / "trailing.jpg").write_bytes(data + b"extra")
    img = Image.open(tmp_path / "rgb.jpg")
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "rot6.jpg", exif=exif)

    rgb = read_encoded(tmp_path, "rgb.jpg")
    assert isinstance(rgb, EncodedJpeg) and (rgb.width, rgb.height, rgb.orientation) == (40, 30, 1)
    assert rgb.data == data
    gray = read_encoded(tmp_path, "gray.jpg")
    assert isinstance(gray, EncodedJpeg)
    rot = read_encoded(tmp_path, "rot6.jpg")
    assert isinstance(rot, EncodedJpeg) and (rot.width, rot.height, rot.orientation) == (40, 30, 6)
    for name in ("cmyk.jpg", "png_named.jpg", "trailing.jpg"):  # PIL decodes them, as decoder: pil does
        got = read_encoded(tmp_path, name)
        assert isinstance(got, DecodedImage) and got.pixels is None and got.image.mode == "RGB"
        assert (np.asarray(got.image) == np.asarray(decode_image(tmp_path, name).image)).all()
    # Over the size guard, or under one patch once turned: PIL's path says why, in its words.
    with pytest.raises(ImageError, match="1,200 pixels is over the limit of 1,000"):
        read_encoded(tmp_path, "rgb.jpg", max_pixels=1000)
    with pytest.raises(ImageError, match="image is 30x40, smaller than one 35-pixel patch"):
        read_encoded(tmp_path, "rot6.jpg", min_side=35)


def test_decoded_image_from_pixels_builds_its_pil_image_when_asked() -> None:
    import torch

    px = torch.arange(2 * 3 * 3, dtype=torch.uint8).view(3, 2, 3)
    d = DecodedImage("a.jpg", pixels=px)
    assert (d.width, d.height) == (3, 2) and d._image is None
    assert d.image.size == (3, 2) and (np.asarray(d.image) == px.permute(1, 2, 0).numpy()).all()
    assert d.image is d.image  # built once
    with pytest.raises(ValueError, match="exactly one"):
        DecodedImage("a.jpg")
