"""Resuming runs with and without masks, including runs made before masks existed (no models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autolabel.errors import ResumeMismatchError
from autolabel.images import find_images
from autolabel.run import start_run
from autolabel.store import RunStore
from tests.conftest import write_image


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    for name in ("a.png", "b.png"):
        write_image(folder / name)
    return folder


def _start(run: Path, cfg, images: Path, **kw):
    return start_run(RunStore(run), cfg, find_images(images), images, **kw)


def test_masks_setting_must_match_to_resume(tmp_path: Path, images: Path, tiny_config) -> None:
    run = tmp_path / "run"
    _start(run, tiny_config.replace(masks=False), images)
    assert RunStore(run).read_manifest()["config"]["masks"] is False
    with pytest.raises(ResumeMismatchError, match=r"masks: False in the run, True now"):
        _start(run, tiny_config, images)
    assert _start(run, tiny_config.replace(masks=False), images)[0] == ["a.png", "b.png"]


def test_a_run_from_before_masks_resumes_without_them(tmp_path: Path, images: Path, tiny_config) -> None:
    run = tmp_path / "old"
    _start(run, tiny_config.replace(masks=False), images)
    manifest = run / "manifest.json"
    m = json.loads(manifest.read_text())
    del m["config"]["masks"]  # as an older autolabel wrote it
    manifest.write_text(json.dumps(m))
    assert _start(run, tiny_config.replace(masks=False), images)[0] == ["a.png", "b.png"]
    with pytest.raises(ResumeMismatchError, match="masks"):
        _start(run, tiny_config, images)
