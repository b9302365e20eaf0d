"""autolabel.pipeline.decode: EXIF orientation on tensors as PIL turns images, and a batch with a
file torchvision cannot decode gives None for that file only (the caller's PIL fallback)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from autolabel.images import EncodedJpeg
from autolabel.pipeline.decode import decode_jpegs, orient

CPU = torch.device("cpu")


def _jpeg(size: tuple[int, int], seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    arr = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    b = io.BytesIO()
    Image.fromarray(arr).save(b, "JPEG", quality=95)
    return b.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_turns_pixels_as_pil_exif_transpose(orientation: int) -> None:
    arr = (np.random.default_rng(orientation).random((5, 7, 3)) * 255).astype(np.uint8)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = orientation
    b = io.BytesIO()
    im.save(b, "PNG", exif=exif)
    with Image.open(io.BytesIO(b.getvalue())) as tagged:
        want = np.asarray(ImageOps.exif_transpose(tagged))
    got = orient(torch.from_numpy(arr).permute(2, 0, 1), orientation).permute(1, 2, 0).numpy()
    assert got.shape == want.shape and (got == want).all()


def test_decode_jpegs_gives_none_only_for_what_it_cannot_decode() -> None:
    good_a, good_b = _jpeg((40, 30), 1), _jpeg((24, 32), 2)
    files = [EncodedJpeg("a.jpg", good_a, 40, 30),
             EncodedJpeg("bad.jpg", good_a[: len(good_a) // 3], 40, 30),  # truncated: the batch call fails
             EncodedJpeg("b.jpg", good_b, 24, 32, orientation=6),
             EncodedJpeg("lies.jpg", good_b, 99, 99)]  # decodes, but not to its header's size
    out = decode_jpegs(files, CPU)
    assert [None if t is None else tuple(t.shape) for t in out] == [(3, 30, 40), None, (3, 24, 32), None]
    with Image.open(io.BytesIO(good_a)) as im:
        assert (out[0].permute(1, 2, 0).numpy() == np.asarray(im.convert("RGB"))).all()
    assert out[0].dtype == torch.uint8 and out[0].device == CPU
    assert decode_jpegs([], CPU) == []
