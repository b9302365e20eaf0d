"""The CVAT auto-annotation function, driven by cvat-sdk's own ``annotate_task`` (and by
``cvat-cli task auto-annotate``) against a stand-in for CVAT's endpoints
(:mod:`tests.integrations.cvat_standin`; a real CVAT server needs Docker). What is checked is what
the server received, against what the pipeline gives for the same images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

cvataa = pytest.importorskip("cvat_sdk.auto_annotation")

from cvat_sdk import Client, Config  # noqa: E402
from cvat_sdk.core.client import AccessTokenCredentials  # noqa: E402
from cvat_sdk.masks import decode_mask  # noqa: E402

from autolabel import masks  # noqa: E402
from autolabel.errors import ConfigError  # noqa: E402
from autolabel.formats.polygons import polygons_to_mask  # noqa: E402
from autolabel.integrations.cvat import AutolabelFunction, create  # noqa: E402
from autolabel.pipeline import annotate_images  # noqa: E402
from tests.integrations.cvat_standin import TOKEN, StandIn, Task  # noqa: E402

IMAGES = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")
CLASSES = "cat,coffee mug,person"
TASK_LABELS = [("cat", "any"), ("person", "any")]  # a task with some of the function's labels


@pytest.fixture(scope="module")
def function() -> AutolabelFunction:
    fn = create(preset="lite", classes=CLASSES)
    yield fn
    fn.close()


@pytest.fixture(scope="module")
def expected(function: AutolabelFunction, sample_data: Path):
    """The pipeline's records of the task's images, given as CVAT hands them over (PIL images)."""
    images = [Image.open(sample_data / n) for n in IMAGES]
    return list(annotate_images(images, function.config, models=function.models, names=list(IMAGES)))


def run_task(tmp_path: Path, fn, images: list[Path], labels=TASK_LABELS, **kwargs) -> Task:
    task = Task(7, images, labels)
    with StandIn(task) as server:
        client = Client(server.url, config=Config(cache_dir=tmp_path / "cvat-cache"), check_server_version=False)
        client.login(AccessTokenCredentials(TOKEN))
        cvataa.annotate_task(client, task.id, fn, **kwargs)
    return task


def uploaded(task: Task) -> list[dict]:
    assert len(task.uploads) == 1 and task.uploads[0]["method"] == "PATCH" and task.uploads[0]["action"] == "create"
    return task.uploads[0]["shapes"]


def wanted(expected, threshold: float | None = None) -> list[tuple[int, object]]:
    """(frame, detection) of every detection of a label the task has, at or above ``threshold``."""
    names = {n for n, _ in TASK_LABELS}
    return [(frame, d) for frame, rec in enumerate(expected) for d in rec.detections
            if d.label in names and (threshold is None or d.score >= threshold)]


def test_spec_declares_the_classes_in_order_with_distinct_ids(function):
    labels = function.spec.labels
    assert [(lab.name, lab.id, lab.type) for lab in labels] == [("cat", 0, "mask"), ("coffee mug", 1, "mask"), ("person", 2, "mask")]


def test_rectangles_are_the_pipeline_boxes_at_or_above_the_threshold(tmp_path, function, expected, sample_data):
    fn = AutolabelFunction(function.config, shapes="rectangle", models=function.models)
    assert {lab.type for lab in fn.spec.labels} == {"rectangle"}
    scores = sorted(d.score for _, d in wanted(expected))
    assert len(scores) >= 2, "the sample images should give at least two cats or persons"
    threshold = scores[len(scores) // 2]  # a real cut: some shapes above, some below
    task = run_task(tmp_path, fn, [sample_data / n for n in IMAGES], conf_threshold=threshold, allow_unmatched_labels=True)
    got = uploaded(task)
    want = wanted(expected, threshold)
    assert 0 < len(want) < len(wanted(expected))
    assert [(s["frame"], task.label_name(s["label_id"]), s["type"], s["source"]) for s in got] == \
        [(f, d.label, "rectangle", "auto") for f, d in want]
    for s, (_, d) in zip(got, want):
        assert s["points"] == pytest.approx(list(d.box))
        assert s["score"] == pytest.approx(d.score)
        assert s["score"] >= threshold


def test_masks_decode_to_the_pipeline_masks(tmp_path, function, expected, sample_data):
    task = run_task(tmp_path, function, [sample_data / n for n in IMAGES], allow_unmatched_labels=True)
    got = uploaded(task)
    want = wanted(expected)
    assert [(s["frame"], task.label_name(s["label_id"]), s["type"]) for s in got] == [(f, d.label, "mask") for f, d in want]
    for s, (frame, d) in zip(got, want):
        w, h = task.frame_size(frame)
        bitmap = decode_mask(s["points"], image_width=w, image_height=h)
        assert d.mask is not None
        assert np.array_equal(bitmap, masks.decode(d.mask))


def test_conv_mask_to_poly_sends_polygons_that_cover_the_mask(tmp_path, function, expected, sample_data):
    task = run_task(tmp_path, function, [sample_data / n for n in IMAGES], allow_unmatched_labels=True,
                    conv_mask_to_poly=True)
    got = uploaded(task)
    assert got and {s["type"] for s in got} == {"polygon"}
    for frame, d in wanted(expected):
        mine = [s for s in got if s["frame"] == frame and s["score"] == pytest.approx(d.score)
                and task.label_name(s["label_id"]) == d.label]
        assert mine, f"no polygon for {d.id}"
        if len(mine) > 1:  # the parts of one object are one group
            assert len({s["group"] for s in mine}) == 1 and mine[0]["group"] > 0
        w, h = task.frame_size(frame)
        drawn = polygons_to_mask([np.reshape(s["points"], (-1, 2)) for s in mine], h, w)
        truth = masks.decode(d.mask)
        assert (drawn & truth).sum() / (drawn | truth).sum() > 0.9


def test_a_task_label_of_another_type_is_refused_before_any_image(tmp_path, function, sample_data):
    with pytest.raises(cvataa.BadFunctionError, match="type 'mask' in the function, but 'rectangle'"):
        run_task(tmp_path, function, [sample_data / "chelsea.jpg"], labels=[("cat", "rectangle")],
                 allow_unmatched_labels=True)


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="shapes"):
        create(preset="lite", shapes="circle")
    with pytest.raises(ConfigError, match="unknown setting"):
        create(preset="lite", colour="red")
    with pytest.raises(ConfigError, match="unknown preset"):
        create(preset="nope")
    with pytest.raises(ConfigError, match="either classes or vocabulary"):
        create(preset="lite", classes="cat", vocabulary="v.yaml")


def cvat_cli(tmp_path: Path, server: StandIn, *args: str) -> subprocess.CompletedProcess:
    """``cvat-cli --server-host <stand-in> ARGS`` in a fresh process, with its token in the
    environment and its caches and profiles under ``tmp_path``."""
    pytest.importorskip("cvat_cli")
    env = {**os.environ, "CVAT_ACCESS_TOKEN": TOKEN, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-m", "cvat_cli", "--server-host", server.url, *args],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_cvat_cli_loads_the_module_as_it_is(tmp_path, sample_data):
    task = Task(3, [sample_data / "chelsea.jpg", sample_data / "coffee.jpg"], [("cat", "any")])
    with StandIn(task) as server:
        cvat_cli(tmp_path, server, "task", "auto-annotate", str(task.id), "--function-module", "autolabel.integrations.cvat",
                 "-p", "preset=str:lite", "-p", "classes=str:cat,dog", "--conv-mask-to-poly", "--conf-threshold", "0.3",
                 "--allow-unmatched-labels")
    shapes = uploaded(task)
    assert shapes, "the cat photo should give at least one cat at 0.3 (its two best score about 0.41)"
    assert {s["type"] for s in shapes} == {"polygon"}
    assert {task.label_name(s["label_id"]) for s in shapes} == {"cat"}
    assert all(s["score"] >= 0.3 for s in shapes)
    assert {s["frame"] for s in shapes} == {0}


@pytest.mark.slow
def test_cvat_cli_registers_the_module_as_a_native_function_for_agent_mode(tmp_path, sample_data):
    with StandIn(Task(1, [sample_data / "chelsea.jpg"], [("cat", "any")])) as server:
        proc = cvat_cli(tmp_path, server, "function", "create-native", "autolabel lite", "--function-module",
                        "autolabel.integrations.cvat", "-p", "preset=str:lite", "-p", "classes=str:cat,dog",
                        "-p", "masks=bool:false")
    assert proc.stdout.strip() == "1"
    (function,) = server.functions
    assert function["provider"] == "native" and function["kind"] == "detector" and function["name"] == "autolabel lite"
    assert function["labels_v2"] == [{"name": "cat", "attributes": [], "type": "rectangle"},
                                     {"name": "dog", "attributes": [], "type": "rectangle"}]


@pytest.mark.parametrize("unmapped, extra", [("drop", 0), ("other", 1), ("keep", None)])
def test_spec_labels_cover_every_label_the_vocabulary_gives(tmp_path, unmapped, extra):
    import torch

    from autolabel.integrations.cvat import label_names
    from autolabel.integrations.settings import integration_config
    from autolabel.run import run_labeler

    vocab = tmp_path / "vocab.yaml"
    vocab.write_text(f"classes:\n  cat: [cat]\n  tabby: [tabby]\n  dog: [dog]\nunmapped: {unmapped}\n", encoding="utf-8")
    labeler = run_labeler(integration_config(preset="lite", vocabulary=vocab))
    names = label_names(labeler)
    assert names[:3] == ["cat", "tabby", "dog"] and len(set(names)) == len(names)
    if extra is not None:
        assert len(names) == 3 + extra
    # every label the labeler really gives (peaked random probabilities over the 1000 classes) is declared
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(400, len(labeler.space)) * 6, dim=1)
    given = {r.label for r in labeler.label(probs) if r is not None}
    assert given and given <= set(names)
    if unmapped == "keep":
        assert "tabby (n02123045)" in names  # a kept classifier class named like a user class
