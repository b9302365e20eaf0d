"""Discovery alone on labelled photos: every method on the same patch features (one extractor
pass per image), scored class-agnostically with :mod:`autolabel.evaluate`'s metrics: CorLoc,
recall at IoU 0.5 and 0.75, AP50, AR@100 and the correction cost. Cheap method comparisons;
what ``annotate`` exports is measured by :mod:`autolabel.tools.devset.quality`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autolabel.errors import ConfigError
from autolabel.tools.devset.packaged import DevImage
from autolabel.tools.devset.rounding import rounded


@dataclass(frozen=True)
class MethodSpec:
    """A registered discovery method with parameter overrides: ``name`` or ``name:k=v:k=v``."""

    name: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return ":".join([self.name, *(f"{k}={v}" for k, v in self.overrides)])

    @classmethod
    def parse(cls, text: str) -> MethodSpec:
        name, *rest = text.strip().split(":")
        pairs = []
        for r in rest:
            k, eq, v = r.partition("=")
            if not eq or not k:
                raise ConfigError(f"method {text!r}: expected name:key=value, got {r!r}")
            pairs.append((k, _number(v)))
        return cls(name, tuple(pairs))


def resolve_methods(methods: Sequence[MethodSpec]) -> list[tuple[MethodSpec, Any]]:
    """Each spec with its registered method, its overrides checked against what the method takes.

    Raises:
        ConfigError: an unknown method, or a parameter the method does not take.
    """
    from autolabel.discovery import get_discovery

    resolved = [(m, get_discovery(m.name)) for m in methods]
    for spec, method in resolved:
        accepted = set(inspect.signature(method.fn).parameters) - {"keys", "grid_hw"}
        unknown = sorted({k for k, _ in spec.overrides} - accepted)
        if unknown:
            raise ConfigError(f"method {spec.label!r}: {method.name} takes no {', '.join(unknown)}; "
                              f"it takes {', '.join(sorted(accepted))}")
    return resolved


def _number(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(v.lower(), v)


@dataclass
class MethodResult:
    """One method's scores on the dev set (fractions in [0, 1]; None when undefined)."""

    method: str
    corloc: float | None
    recall50: float | None
    recall75: float | None
    ap50: float | None
    ar100: float | None
    edits_per_image: float
    boxes_per_image: float
    ms_per_image: float
    """Mean discovery time per image (wall clock, this machine), grid to regions."""

    def to_dict(self) -> dict[str, Any]:
        return rounded(self.__dict__)


@dataclass
class DevsetReport:
    devset: str
    preset: str
    extractor: str
    images: int
    boxes: int
    missing: list[dict[str, str]] = field(default_factory=list)
    results: list[MethodResult] = field(default_factory=list)
    extractor_ms_per_image: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"devset": self.devset, "preset": self.preset, "extractor": self.extractor, "images": self.images,
                "boxes": self.boxes, "missing": self.missing, "extractor_ms_per_image": round(self.extractor_ms_per_image, 1),
                "results": [r.to_dict() for r in self.results]}


def score_predictions(gt: Sequence[DevImage], preds: Sequence[Sequence[tuple[tuple[float, float, float, float], float]]],
                      method: str = "", ms_per_image: float = 0.0) -> MethodResult:
    """Class-agnostic scores of per-image predictions ``[(pixel box, objectness), ...]``.

    Every box is one class ("object"), ranked by objectness (used as the score too), so the
    correction cost counts deletes, draws and adjusts, never relabels. Recall at IoU ``t`` is
    the correction cost's recall at matching IoU ``t``.
    """
    from autolabel.evaluate.matching import EvalImage
    from autolabel.evaluate.metrics import coco_metrics, corloc, correction_cost

    images = []
    for g, p in zip(gt, preds):
        boxes = [b for b, _ in p]
        obj = [o for _, o in p]
        images.append(EvalImage.build(g.file_name, g.boxes, ["object"] * len(g.boxes), boxes, ["object"] * len(boxes),
                                      obj, obj))
    cl, _, _ = corloc(images)
    coco = coco_metrics(images)
    c50 = correction_cost(images, iou=0.5)
    c75 = correction_cost(images, iou=0.75)
    n = max(1, len(images))
    return MethodResult(method, cl, c50.recall, c75.recall, coco["ap50"], coco["ar100"], c50.edits_per_image,
                        sum(len(p) for p in preds) / n, ms_per_image)


def evaluate_discovery(cfg: Any, present: Sequence[tuple[DevImage, Path]], methods: Sequence[MethodSpec], *,
                       preset: str = "", devset: str = "", progress: Callable[[str], None] | None = None) -> DevsetReport:
    """Run ``methods`` on each photo's features (one extractor pass per image) and score them.

    Boxes are mapped from the grid to original pixels as the pipeline does (clipped; boxes
    shorter than ``cfg.min_box_size`` dropped; at most ``cfg.max_boxes`` by objectness). The
    extractor runs in float32 on ``cfg.device`` so the table does not depend on the CPU's
    bf16 support.
    """
    import torch

    from autolabel.devices import resolve_device
    from autolabel.geometry import clip_box
    from autolabel.images import decode_image
    from autolabel.models import build_model
    from autolabel.pipeline.features import extractor_kwargs, make_extractor, prepare_image

    resolved = resolve_methods(methods)
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    built = build_model(cfg.extractor, cfg.extractor_weights, "extractor", device, **extractor_kwargs(cfg.extractor))
    feats = make_extractor(built, getattr(cfg, "feature_layers", None), getattr(cfg, "feature_scales", None))
    preds: dict[str, list[list[tuple[tuple[float, float, float, float], float]]]] = {m.label: [] for m, _ in resolved}
    secs = {m.label: 0.0 for m, _ in resolved}
    ex_secs = 0.0
    for img, path in present:
        if progress:
            progress(img.file_name)
        dec = decode_image(path.parent, path.name, max_pixels=cfg.max_pixels, min_side=feats.patch)
        rz = prepare_image(dec.image, cfg.max_side, feats.patch, feats.mean, feats.std, getattr(cfg, "upscale", 1.0))
        t0 = time.perf_counter()
        with torch.inference_mode():
            keys = feats(rz.tensor[None].to(device))[0]
        ex_secs += time.perf_counter() - t0
        for spec, method in resolved:
            params = {**method.params_from(cfg), **dict(spec.overrides)}
            t0 = time.perf_counter()
            regions = method(keys, rz.grid, **params)
            secs[spec.label] += time.perf_counter() - t0
            out = []
            for r in regions:
                px = clip_box(rz.grid_box_to_pixels(r.box), dec.width, dec.height)
                if min(px[2] - px[0], px[3] - px[1]) < cfg.min_box_size:
                    continue
                out.append((tuple(px), float(r.objectness)))
            preds[spec.label].append(out[: cfg.max_boxes])
    gts = [img for img, _ in present]
    n = max(1, len(present))
    report = DevsetReport(devset, preset, cfg.extractor, len(present), sum(len(g.boxes) for g in gts),
                          extractor_ms_per_image=1000 * ex_secs / n)
    for spec, _ in resolved:
        report.results.append(score_predictions(gts, preds[spec.label], spec.label, 1000 * secs[spec.label] / n))
    return report


def format_table(report: DevsetReport) -> str:
    """The report as a Markdown table (what the README holds)."""
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    head = (f"dev set {report.devset}: {report.images} images, {report.boxes} boxes; preset {report.preset} "
            f"({report.extractor}, extractor {report.extractor_ms_per_image:.0f} ms/image)")
    lines = [head, "",
             "| method | CorLoc | recall@0.5 | recall@0.75 | AP50 | AR100 | edits/image | boxes/image | ms/image |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report.results:
        lines.append(f"| {r.method} | {f(r.corloc)} | {f(r.recall50)} | {f(r.recall75)} | {f(r.ap50)} | {f(r.ar100)} | "
                     f"{r.edits_per_image:.2f} | {r.boxes_per_image:.1f} | {r.ms_per_image:.1f} |")
    for m in report.missing:
        lines.append(f"missing {m['image']}: {m['reason']}")
    return "\n".join(lines)
