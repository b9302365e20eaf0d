"""The "images in, records out" API: files, bytes, PIL images and arrays give the records
the folder pipeline gives, with no run directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolabel.errors import ImageError
from autolabel.pipeline import Annotator, annotate_image, annotate_images, load_models
from autolabel.types import ImageAnnotations, ImageFailure


@pytest.fixture(scope="module")
def lite_models(lite_config):
    return load_models(lite_config)


def _boxes(record: ImageAnnotations) -> list[tuple]:
    return [(d.box, d.label, round(d.score, 4), d.mask is not None) for d in record.detections]


def test_every_kind_of_input_gives_the_folder_pipelines_records(sample_data: Path, lite_config, lite_models) -> None:
    names = ["chelsea.jpg", "coffee.jpg"]
    want = {r.path: _boxes(r) for r in Annotator(lite_config, lite_models).process(sample_data, names)}
    assert all(want.values())  # real objects found: the comparison below means something
    for name in names:
        path = sample_data / name
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        inputs = [str(path), path.read_bytes(), rgb, np.asarray(rgb)]
        got = list(annotate_images(inputs, lite_config, models=lite_models, names=[name] * 4))
        assert [r.path for r in got] == [name] * 4
        assert [_boxes(r) for r in got] == [want[name]] * 4
        assert [d.id for d in got[2].detections] == [f"{Path(name).stem}-{i}" for i in range(len(got[2].detections))]


def test_default_names_and_a_bad_image_among_good_ones(sample_data: Path, lite_config, lite_models) -> None:
    path = sample_data / "rocket.jpg"
    got = list(annotate_images([str(path), b"not an image", np.zeros((4, 4, 3), np.uint8)], lite_config, models=lite_models))
    assert isinstance(got[0], ImageAnnotations) and got[0].path == "rocket.jpg"
    assert isinstance(got[1], ImageFailure) and got[1].path == "image-1" and "not an image" in got[1].reason
    assert isinstance(got[2], ImageFailure) and "smaller than one" in got[2].reason


def test_annotate_image_raises_a_typed_error_naming_the_image(lite_config, lite_models) -> None:
    with pytest.raises(ImageError, match="upload.png"):
        annotate_image(b"", lite_config, models=lite_models, name="upload.png")
    with pytest.raises(ImageError, match="uint8"):
        annotate_image(np.zeros((64, 64, 3), np.float32), lite_config, models=lite_models)
    record = annotate_image(Image.new("RGB", (96, 64), (120, 30, 200)), lite_config, models=lite_models, name="flat")
    assert (record.path, record.width, record.height) == ("flat", 96, 64)
