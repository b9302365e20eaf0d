"""Shared fixtures. Every test is offline: the model hub is switched off for the whole session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Before anything imports huggingface_hub or timm: never reach for the network, never touch the
# user's caches. Subprocesses started by tests inherit these.
_HF_HOME = tempfile.mkdtemp(prefix="autolabel-test-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = _HF_HOME
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
# FiftyOne reads its database folder once, at import: give the whole session a fresh private one,
# so no test ever sees (or leaves) datasets in the user's ~/.fiftyone database.
_FIFTYONE_DB = tempfile.mkdtemp(prefix="autolabel-test-fiftyone-db-")
os.environ["FIFTYONE_DATABASE_DIR"] = _FIFTYONE_DB


def _stop_fiftyone_database() -> None:
    """Stop the mongod this process started (if FiftyOne was used), and wait for it to exit."""
    import sys

    database = sys.modules.get("fiftyone.core.odm.database")
    service = getattr(database, "_db_service", None)
    if service is None or getattr(service, "attached", False) or service.child is None:
        return  # never started, or another process's database
    import psutil

    started = [service.child, *service.child.children(recursive=True)]
    service.stop()  # closes the service's stdin: it stops mongod and exits
    psutil.wait_procs(started, timeout=30)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave nothing behind: each test process's FiftyOne database (hundreds of MB) and model
    cache folder are removed when it ends."""
    _stop_fiftyone_database()
    for folder in (_FIFTYONE_DB, _HF_HOME):
        shutil.rmtree(folder, ignore_errors=True)


REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The bundled sample photos (chelsea, coffee, astronaut, rocket)."""
    return SAMPLE_DATA


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample photos."""
    dst = tmp_path / "images"
    shutil.copytree(SAMPLE_DATA, dst, ignore=shutil.ignore_patterns("*.md"))
    return dst


@pytest.fixture(scope="session")
def tiny_config():
    """Random-init tiny timm models (test_vit + test_convnext): the whole pipeline in seconds."""
    from autolabel.config import PipelineConfig

    return PipelineConfig(
        extractor="test_vit", extractor_weights="random",
        classifier="test_convnext", classifier_weights="random",
        max_side=128, num_seeds=4, batch_size=8, image_batch=4, workers=2, precision="fp32",
    )


@pytest.fixture(scope="session")
def lite_config():
    from autolabel.config import get_preset

    return get_preset("lite")


def write_image(path: Path, size: tuple[int, int] = (64, 48), mode: str = "RGB", fmt: str | None = None, **save) -> Path:
    """Write a small image with some structure (a bright square on a gradient)."""
    import numpy as np
    from PIL import Image

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * 255 // max(1, w - 1)), (yy * 255 // max(1, h - 1)), np.full_like(xx, 90)], -1).astype("uint8")
    arr[h // 4: h // 2, w // 4: w // 2] = 255
    img = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **save)
    return path


@pytest.fixture
def mixed_folder(sample_copy: Path) -> Path:
    """Sample photos in nested folders with the same basename, plus every kind of bad file."""
    (sample_copy / "sub").mkdir()
    shutil.copy(sample_copy / "coffee.jpg", sample_copy / "sub" / "chelsea.jpg")
    (sample_copy / "empty.jpg").write_bytes(b"")
    (sample_copy / "not_an_image.png").write_text("hello")
    data = (sample_copy / "rocket.jpg").read_bytes()
    (sample_copy / "truncated.jpg").write_bytes(data[: len(data) // 3])
    write_image(sample_copy / "tiny.png", (10, 10))
    write_image(sample_copy / "bomb.png", (900, 900))
    return sample_copy


@pytest.fixture
def make_run(tmp_path: Path):
    """The shared run factory: ``make_run(records, **manifest)`` writes a run under ``tmp_path``
    through :func:`tests.runs.write_run` and returns its store (``name=`` picks the folder)."""
    from tests.runs import write_run

    def factory(records=(), *, name: str = "run", **kwargs):
        return write_run(tmp_path / name, records, **kwargs)

    return factory
