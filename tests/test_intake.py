"""Intake: discovery order, EXIF orientation, every PIL mode, and every kind of bad file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolabel.errors import ImageError, InputError
from autolabel.intake import decode_image, find_images
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
    from autolabel.intake import header_pixels

    write_image(tmp_path / "a.png", (40, 30))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:60])  # header intact, pixels gone
    (tmp_path / "t.txt").write_text("hello")
    assert header_pixels(tmp_path, "a.png") == 1200
    assert header_pixels(tmp_path, "cut.png") == 1200
    assert header_pixels(tmp_path, "t.txt") == 0
    assert header_pixels(tmp_path, "missing.jpg") == 0
