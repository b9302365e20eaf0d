"""The run lifecycle without models: manifest from the config, resume checks, start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from autolabel import run as run_mod
from autolabel.errors import ModelError, ResumeMismatchError, WeightsError
from autolabel.images import find_images
from autolabel.run import start_run
from autolabel.store import RunStore
from tests.conftest import write_image


@pytest.fixture(autouse=True)
def no_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here fails if anything builds a model."""
    import autolabel.models

    def refuse(*a, **k):
        raise AssertionError("the run lifecycle built a model")

    monkeypatch.setattr(autolabel.models, "build_model", refuse)
    monkeypatch.setattr("timm.create_model", refuse)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    for name in ("a.png", "b.png", "c.png"):
        write_image(folder / name)
    return folder


def _start(run: Path, cfg, images: Path, **kw):
    return start_run(RunStore(run), cfg, find_images(images), images, **kw)


def test_a_new_run_gets_its_manifest_from_the_config(tmp_path: Path, images: Path, tiny_config) -> None:
    todo, summary = _start(tmp_path / "run", tiny_config, images)
    assert todo == ["a.png", "b.png", "c.png"] and (summary.total, summary.skipped) == (3, 0)
    m = RunStore(tmp_path / "run").read_manifest()
    assert m["schema"] == "autolabel.run/1" and m["created"].endswith("Z")
    assert m["models"] == {"extractor": {"name": "test_vit", "weights": "random"},
                           "classifier": {"name": "test_convnext", "weights": "random"}}
    assert m["image_root"] == str(images.resolve()) and m["config"] == tiny_config.to_dict()
    assert m["label_space"] == "imagenet-1k" and m["classes"] is None and m["vocabulary"] is None


def test_a_vocabulary_fixes_the_class_list(tmp_path: Path, images: Path, tiny_config) -> None:
    _start(tmp_path / "run", tiny_config.replace(vocabulary="cat,dog"), images)
    m = RunStore(tmp_path / "run").read_manifest()
    assert m["classes"] == ["cat", "dog"] and m["vocabulary"]


def test_resume_skips_what_is_done_and_refuses_other_settings(tmp_path: Path, images: Path, tiny_config,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    run = tmp_path / "run"
    _start(run, tiny_config, images)
    store = RunStore(run)
    created = store.read_manifest()["created"]
    with store.prediction_writer() as p:
        p.append({"path": "a.png", "width": 64, "height": 48, "detections": []})
    with store.failure_writer() as f:
        f.append({"path": "c.png", "reason": "broken"})
    todo, summary = _start(run, tiny_config.replace(batch_size=3, workers=0), images)  # speed settings may change
    assert todo == ["b.png"] and (summary.total, summary.skipped) == (3, 2)
    with pytest.raises(ResumeMismatchError, match=r"max_boxes: 10 in the run, 2 now.*--allow-config-change"):
        _start(run, tiny_config.replace(max_boxes=2), images)
    with caplog.at_level(logging.WARNING, logger="autolabel.run"):
        assert _start(run, tiny_config.replace(max_boxes=2), images, allow_config_change=True)[0] == ["b.png"]
    assert "changed settings: max_boxes" in caplog.text
    other = tmp_path / "other"
    write_image(other / "x.png")
    with pytest.raises(ResumeMismatchError, match="holds images from"):
        _start(run, tiny_config, other)
    assert store.read_manifest()["created"] == created  # set once


def test_an_edited_vocabulary_file_refuses_to_resume(tmp_path: Path, images: Path, tiny_config) -> None:
    vocab = tmp_path / "vocab.yaml"
    vocab.write_text("classes: [cat, dog]\n")
    cfg = tiny_config.replace(vocabulary=str(vocab))
    _start(tmp_path / "run", cfg, images)
    assert _start(tmp_path / "run", cfg, images)[0] == ["a.png", "b.png", "c.png"]  # same file: resumes
    vocab.write_text("classes: [cat, cup]\n")
    with pytest.raises(ResumeMismatchError, match="another class vocabulary"):
        _start(tmp_path / "run", cfg, images)
    assert _start(tmp_path / "run", cfg, images, allow_config_change=True)[0]


def test_prepare_runs_before_the_manifest_and_a_failure_leaves_no_run(tmp_path: Path, images: Path,
                                                                      tiny_config) -> None:
    seen = []
    _start(tmp_path / "run", tiny_config, images, prepare=lambda: seen.append((tmp_path / "run" / "manifest.json").exists()))
    assert seen == [False]

    def fail() -> None:
        raise ModelError("no such weights")

    with pytest.raises(ModelError):
        _start(tmp_path / "run2", tiny_config, images, prepare=fail)
    assert not RunStore(tmp_path / "run2").exists()


def test_nothing_to_do_calls_nothing(tmp_path: Path, images: Path, tiny_config) -> None:
    run = tmp_path / "run"
    _start(run, tiny_config, images)
    with RunStore(run).prediction_writer() as p:
        for name in ("a.png", "b.png", "c.png"):
            p.append({"path": name, "width": 64, "height": 48, "detections": []})
    calls = []
    assert _start(run, tiny_config, images, prepare=lambda: calls.append(1))[0] == []
    assert calls == []


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"extractor_weights": "/no/such/file.pth"}, WeightsError, "--extractor-weights /no/such/file.pth: no such file"),
    ({"classifier": "no_such_model_xyz"}, ModelError, "unknown classifier model"),
    ({"extractor": "no_such_model_xyz"}, ModelError, "unknown extractor model"),
    ({"classifier": "vit_small_patch16_224.dino"}, ModelError, "no classification head"),
])
def test_bad_models_or_weights_leave_no_run(tmp_path: Path, images: Path, tiny_config, change, error, match) -> None:
    with pytest.raises(error, match=match):
        _start(tmp_path / "run", tiny_config.replace(**change), images)
    assert not RunStore(tmp_path / "run").exists()


def test_a_weights_file_is_recorded_by_its_absolute_path(tmp_path: Path, images: Path, tiny_config,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "w.pth").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    _start(tmp_path / "run", tiny_config.replace(classifier_weights="w.pth"), images)
    weights = RunStore(tmp_path / "run").read_manifest()["models"]["classifier"]["weights"]
    assert weights == str((tmp_path / "w.pth").resolve())


def test_the_labeler_matches_the_one_built_with_the_models(tiny_config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # this one builds the models, to compare
    from autolabel.pipeline import load_models

    cfg = tiny_config.replace(vocabulary="cat,dog")
    built = load_models(cfg).labeler
    planned = run_mod.run_labeler(cfg)
    assert (planned.space, planned.classes, planned.describe()) == (built.space, built.classes, built.describe())
