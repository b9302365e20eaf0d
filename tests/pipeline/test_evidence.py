"""Classifier evidence: the whole photo's class activation map, the evidence IoU of a box and
the score factor it gives in the label stage."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from autolabel.config import PRESETS, PipelineConfig
from autolabel.errors import ConfigError, ModelError
from autolabel.pipeline.evidence import (
    box_factors,
    cell_overlap,
    class_maps,
    evidence_factors,
    evidence_input,
    evidence_map,
    evidence_size,
    soft_iou,
)
from autolabel.pipeline.label import Labelling, keep
from autolabel.pipeline.work import Found, Item
from autolabel.vocabulary import LabelResult

DOG = "n02085620"


def _found(box, obj) -> Found:
    return Found(box, obj, None)  # type: ignore[arg-type]  # the mask is not read here


def _left_maps(k: int = 3, h: int = 4, w: int = 6) -> np.ndarray:
    """Per-cell logits where class 1 is seen only in the left half of the photo."""
    maps = np.zeros((k, h, w))
    maps[1, :, : w // 2] = 5.0
    return maps


def test_the_class_map_of_a_tiny_cnn_has_one_cell_per_32_pixels_and_averages_to_its_logits() -> None:
    import timm

    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=7).eval()
    x = torch.randn(1, 3, 96, 160)
    maps = class_maps(model, x)
    assert maps.shape == (7, 3, 5) and maps.dtype == torch.float32
    with torch.inference_mode():
        whole = model(x)[0]
    # global average pooling then a linear layer: the cells' mean is the photo's logits
    assert torch.allclose(maps.mean(dim=(1, 2)), whole, atol=1e-4)


def test_a_model_without_a_feature_map_is_a_model_error() -> None:
    vit = SimpleNamespace(forward_features=lambda x: torch.zeros(1, 5, 8))
    with pytest.raises(ModelError):
        class_maps(vit, torch.zeros(1, 3, 32, 32))


def test_the_whole_photo_input_keeps_the_aspect_in_multiples_of_32() -> None:
    assert evidence_size(640, 480, 576) == (576, 448)
    assert evidence_size(480, 640, 576) == (448, 576)
    assert evidence_size(10, 2000, 576) == (32, 576)
    x = evidence_input(Image.new("RGB", (640, 480), (255, 0, 128)), 576, (0.5,) * 3, (0.5,) * 3)
    assert x.shape == (3, 448, 576)
    assert x[:, 0, 0].tolist() == pytest.approx([1.0, -1.0, 128 / 255 * 2 - 1], abs=1e-5)


def test_cell_overlap_counts_partial_cells() -> None:
    ov = cell_overlap((0, 0, 15, 10), 60, 40, (4, 6))  # cells of 10 x 10 pixels
    assert ov.shape == (4, 6)
    assert ov[0, 0] == pytest.approx(1.0) and ov[0, 1] == pytest.approx(0.5) and ov[1, 0] == 0.0
    assert ov.sum() == pytest.approx(1.5)


def test_evidence_on_the_left_ranks_a_left_box_over_the_whole_photo() -> None:
    maps = _left_maps()
    emap = evidence_map(maps, [1], [1.0])
    assert emap.max() == pytest.approx(1.0) and emap[:, 3:].max() == 0.0
    left, whole, right = (0, 0, 30, 40), (0, 0, 60, 40), (30, 0, 60, 40)
    assert soft_iou(emap, left, 60, 40) == pytest.approx(1.0)
    assert soft_iou(emap, whole, 60, 40) == pytest.approx(0.5)
    assert soft_iou(emap, right, 60, 40) == 0.0
    tops = [([1, 0], [0.8, 0.1])] * 3
    assert box_factors(maps, [whole, left, right], tops, 60, 40) == pytest.approx([0.5, 1.0, 0.0])
    # in the label stage: equal objectness and probability, the left box now ranks first
    regions = [_found(whole, 0.6), _found(left, 0.6)]
    named = [LabelResult("dog", DOG, 0.5, ())] * 2
    plain = keep(0.0, regions, named)
    ranked = keep(0.0, regions, named, evidence=box_factors(maps, [whole, left], tops[:2], 60, 40))
    assert [f.box for f, _, _ in ranked] == [left, whole]
    assert ranked[0][2] == pytest.approx(plain[0][2]) and ranked[1][2] == pytest.approx(0.5 * plain[1][2])


def test_no_evidence_anywhere_leaves_every_box_as_it_is() -> None:
    flat = np.ones((3, 4, 6))
    assert evidence_map(flat, [0, 1], [0.6, 0.3]).max() == 0.0
    assert box_factors(flat, [(0, 0, 30, 40), (0, 0, 60, 40)], [([0], [1.0])] * 2, 60, 40) == [1.0, 1.0]
    assert evidence_factors([]) == []


def test_factors_lie_in_0_1_with_the_best_box_at_1() -> None:
    rng = np.random.default_rng(0)
    for power in (0.0, 0.5, 1.0, 2.0):
        ious = rng.uniform(0, 1, size=20).tolist()
        f = evidence_factors(ious, power)
        assert all(0.0 <= v <= 1.0 for v in f) and max(f) == pytest.approx(1.0)
        assert np.array_equal(np.argsort(f, kind="stable"), np.argsort(ious, kind="stable")) or power == 0.0
    maps = rng.normal(size=(5, 4, 6))
    boxes = [tuple(sorted(rng.uniform(0, 60, 2))) for _ in range(8)]
    boxes = [(a, 5.0, b + 1.0, 35.0) for a, b in boxes]
    tops = [(rng.choice(5, 3, replace=False).tolist(), rng.dirichlet(np.ones(3)).tolist()) for _ in boxes]
    f = box_factors(maps, boxes, tops, 60, 40)
    assert all(0.0 <= v <= 1.0 for v in f) and max(f) == pytest.approx(1.0)


class _Clock:
    def __call__(self, name: str, n: int):
        import contextlib

        return contextlib.nullcontext()


class _Classifier:
    """Classifies every crop as class 1 at 0.8 and sees class 1 only in the left half."""

    def __init__(self) -> None:
        self.maps_calls = 0

    def classify(self, crops, batch_size, *, shapes=None, pad=False):
        p = torch.full((len(crops), 3), 0.1)
        p[:, 1] = 0.8
        return p

    def class_maps(self, image, side):
        self.maps_calls += 1
        return torch.from_numpy(_left_maps()).float()


class _Labeler:
    space = SimpleNamespace(synsets=(DOG, DOG, DOG))

    def label(self, probs):
        return [LabelResult("dog", DOG, float(row[1]), ()) for row in probs]


def _item() -> Item:
    from autolabel.images import DecodedImage

    it = Item("a.jpg", decoded=DecodedImage("a.jpg", Image.new("RGB", (60, 40))))
    it.regions = [_found((0, 0, 60, 40), 0.6), _found((0, 0, 30, 40), 0.6)]
    it.crops = [torch.zeros(3, 8, 8), torch.zeros(3, 8, 8)]
    return it


def test_label_stage_applies_the_factor_only_when_configured() -> None:
    off = PipelineConfig(min_score=0.0)
    clf = _Classifier()
    plain = Labelling(off, _Clock(), None)(clf, _Labeler(), "cpu", [_item()])[0]
    assert clf.maps_calls == 0  # off: no whole-photo pass
    assert [f.box for f, _, _ in plain] == [(0, 0, 60, 40), (0, 0, 30, 40)]  # ties keep discovery's order
    assert [s for _, _, s in plain] == [s for _, _, s in keep(0.0, _item().regions, _Labeler().label(clf.classify([0, 0], 8)))]
    on = off.replace(evidence_side=64)
    ranked = Labelling(on, _Clock(), None)(clf, _Labeler(), "cpu", [_item()])[0]
    assert clf.maps_calls == 1
    assert [f.box for f, _, _ in ranked] == [(0, 0, 30, 40), (0, 0, 60, 40)]
    assert ranked[1][2] == pytest.approx(0.5 * plain[0][2])


def test_config_fields_validate_and_old_runs_resume() -> None:
    assert PipelineConfig().evidence_side == 0 and PipelineConfig().evidence_power == 1.0
    for bad in ({"evidence_side": 16}, {"evidence_side": -1}, {"evidence_side": True}, {"evidence_power": -1}):
        with pytest.raises(ConfigError):
            PipelineConfig(**bad)
    for cfg in (PipelineConfig(), PRESETS["default"]):
        stored = cfg.result_dict()
        stored.pop("evidence_side")
        stored.pop("evidence_power")
        assert cfg.differences(stored) == []  # runs made before the factor existed resume as they were


def test_rescoring_records_says_it_leaves_the_factor_out(caplog: pytest.LogCaptureFixture) -> None:
    from autolabel.tools.devset.sweep import rescore_like
    from autolabel.types import Alternative, Detection, ImageAnnotations

    det = Detection("a-0", (0, 0, 40, 40), "dog", 0.5, 0.6, DOG, (Alternative("dog", DOG, 0.5),), class_score=0.5)
    rec = ImageAnnotations("a.jpg", 100, 100, (det,))
    cfg = PRESETS["lite"].replace(min_score=0.0)
    assert cfg.evidence_side > 0
    with caplog.at_level("WARNING"):
        on = rescore_like([rec], cfg)
    assert "evidence" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        off = rescore_like([rec], cfg.replace(evidence_side=0))
    assert "evidence" not in caplog.text
    assert [d.score for d in on[0].detections] == [d.score for d in off[0].detections]
