"""Fixtures for the exporter tests (the sample run and its data live in :mod:`tests.exporters.sample`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.exporters.sample import build_run


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample run (with a corrected revision ``001-fiftyone``); treat it as read-only."""
    return build_run(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def exported(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All five formats of the sample run's original predictions, images copied, COCO results
    file on. Returns the output folder (``<out>/<format>/``)."""
    from autolabel.export import export

    out = tmp_path_factory.mktemp("exported")
    export(sample_run, ["coco", "voc", "yolo", "cvat", "labelstudio"], out, revision="original",
           copy_images=True, coco_results=True)
    return out


@pytest.fixture(scope="session")
def fo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """fiftyone, imported once with a private database folder and tracking off."""
    if "fiftyone" not in sys.modules:  # the settings are read once, at import
        os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
        os.environ["FIFTYONE_DATABASE_DIR"] = str(tmp_path_factory.mktemp("fiftyone-db"))
    import fiftyone

    return fiftyone


@pytest.fixture(scope="session")
def dm_dataset() -> Any:
    """datumaro's ``Dataset`` class (imported once)."""
    from datumaro.components.dataset import Dataset

    return Dataset


@pytest.fixture(scope="session")
def masked_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose detections carry masks (:mod:`tests.exporters.masked_sample`); read-only."""
    from tests.exporters.masked_sample import build_masked_run

    return build_masked_run(tmp_path_factory.mktemp("masked"))
