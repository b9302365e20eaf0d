"""Benchmark the real pipeline: images/s, time per stage, achieved GFLOP/s, peak memory.

Everything a user needs to size a job, and what the project holds its speed targets against.
Random weights are allowed (``weights="random"``), so it runs offline with any preset.

Reported, all from one process:

* ``images_per_second`` of the full pipeline (decode ... write), after one warm-up image;
* ``stages``: seconds and share of wall time per stage (decode runs in background threads,
  so ``decode`` overlaps the others; ``decode_wait`` is the time the models waited for it);
* ``gflops``: floating-point work per image of the extractor and per crop of the classifier
  (counted by ``torch.utils.flop_counter`` on the real inputs), and the GFLOP/s the two model
  stages achieved, next to this machine's matmul peak measured in the same run (fp32, bf16);
* ``memory``: peak RSS after the first ``rss_checkpoint`` images and at the end;
* ``masks_share``: share of the wall time spent turning each object's pixels into its stored
  mask (stage ``masks``: sampling to the displayed image and RLE encoding; 0 with masks off);
  ``run_size``: bytes of ``predictions.jsonl`` per image and per 1,000 images, and the masks'
  share of them (:mod:`autolabel.tools.bench.runsize`);
* with ``baseline``: the same images through a reference loop of the original application's
  design (``original``: fp32, the classifier rebuilt for every box, crops one at a time;
  ``fixed``: models built once, fp32, crops one at a time), the speed-up over it, and the
  speed-up *ceiling*: the baseline's time per image over this run's GFLOP per image done at the
  fastest matmul peak measured here. No implementation of the same work can beat the ceiling on
  this machine, so a target above it needs other hardware (or less work), not other code.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from PIL import Image

from autolabel.config import PipelineConfig
from autolabel.store import PREDICTIONS, RunStore
from autolabel.tools.bench.export_timing import ExportTiming, time_exports
from autolabel.tools.bench.measure import (
    count_flops,
    current_rss_mb,
    device_name,
    matmul_peak,
    reset_peak_rss,
    speedup_ceiling,
    vm_hwm_mb,
)
from autolabel.tools.bench.runsize import RunSize, measure_run_size

if TYPE_CHECKING:
    from autolabel.images import DecodedImage

log = logging.getLogger(__name__)


def synthetic_images(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> Path:
    """Write ``n`` JPEGs of ``size`` (W, H) with a few coloured shapes each; returns ``folder``.

    Images are made once and reused: file ``i`` only depends on ``seed`` and ``i``.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    base = (rng.random((h // 8 + 1, w // 8 + 1, 3)) * 255).astype(np.uint8)
    for i in range(n):
        p = folder / f"synthetic_{i:06d}.jpg"
        if p.exists():
            continue
        r = np.random.default_rng(seed * 1_000_003 + i)
        img = np.asarray(Image.fromarray(np.roll(base, i, axis=1)).resize((w, h), Image.BILINEAR)).copy()
        for _ in range(3):
            bw, bh = int(r.integers(w // 8, w // 3)), int(r.integers(h // 8, h // 3))
            x, y = int(r.integers(0, w - bw)), int(r.integers(0, h - bh))
            img[y: y + bh, x: x + bw] = r.integers(0, 255, 3)
        Image.fromarray(img).save(p, quality=90)
    return folder


@dataclass
class BenchSettings:
    """What was measured, where: models, device, sizes, versions."""

    extractor: str
    classifier: str
    weights: dict[str, str]
    """Weight source per role (``extractor``, ``classifier``)."""
    device: str
    device_name: str
    precision: str
    threads: int
    batch_size: int
    image_batch: int
    workers: int
    max_side: int
    num_seeds: int
    max_boxes: int
    images: str
    """The folder of images measured."""
    image_count: int
    image_size: list[int]
    """``[width, height]`` of the first readable image, in pixels."""
    grid_hw: list[int]
    """Patch grid ``[h, w]`` of that image, height first."""
    torch: str
    python: str
    cpu_count: int | None
    decoder: str = "pil"
    """How JPEGs were decoded: ``pil`` or ``device`` (``decoder``; ``auto`` is ``pil``)."""
    discovery: str = ""
    """The discovery method (``discovery``)."""
    refine_processes: int = 0
    """Refinement worker processes used (``refine_processes`` resolved for the device; 0 with
    ``refine`` off or in the pipeline's thread)."""
    failed_images: int = 0
    """Of ``image_count``, the images that could not be read (they count in images/s as failures)."""
    size_range: list[list[int]] = field(default_factory=list)
    """``[[width, height], [width, height]]`` of the smallest and the largest image read, in
    pixels (by area); empty when none was read."""


@dataclass
class StageTime:
    """One pipeline stage: seconds in it, share of the wall time, how many calls/items."""

    seconds: float
    share: float
    count: int


@dataclass
class FlopReport:
    """Model work (GFLOP per image / per crop) and achieved rates (GFLOP/s)."""

    extractor_per_image: float
    classifier_per_crop: float
    model_stages_gflop_per_second: float
    extractor_gflop_per_second: float
    classifier_gflop_per_second: float
    matmul_peak: dict[str, float] = field(default_factory=dict)
    """``fp32`` and ``bf16`` matmul GFLOP/s measured here; empty when not measured."""

    @property
    def model_stages_share_of_bf16_peak(self) -> float | None:
        bf16 = self.matmul_peak.get("bf16")
        return self.model_stages_gflop_per_second / bf16 if bf16 else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.model_stages_share_of_bf16_peak is not None:
            d["model_stages_share_of_bf16_peak"] = self.model_stages_share_of_bf16_peak
        return d


@dataclass
class BaselineReport:
    """The reference loop of the original design on the same images and models."""

    kind: str
    """``original`` or ``fixed``."""
    images: int
    seconds: float
    images_per_second: float
    speedup: float | None = None
    """This run's images/s over the baseline's."""
    speedup_ceiling: float | None = None
    """The most any implementation could gain here (see :func:`speedup_ceiling`); None when
    no matmul peak was measured."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.speedup_ceiling is None:
            del d["speedup_ceiling"]
        return d


@dataclass
class BenchReport:
    """The numbers of one benchmark run; :meth:`to_dict` is the ``--json`` output."""

    settings: BenchSettings
    images_per_second: float
    seconds_per_image: float
    wall_seconds: float
    model_build_seconds: float
    boxes: int
    crops_per_image: float
    stages: dict[str, StageTime]
    gflops: FlopReport
    memory: dict[str, float]
    """Peak RSS in MiB: ``start_mb``, ``peak_after_<n>_mb``, ``peak_end_mb``."""
    discovery_share: float
    """Share of the wall time spent in discovery."""
    baseline: BaselineReport | None = None
    masks_share: float = 0.0
    """Share of the wall time spent making the stored masks (stage ``masks``)."""
    run_size: RunSize | None = None
    """Size of the run's ``predictions.jsonl`` per image and the masks' bytes in it."""
    export: ExportTiming | None = None
    """Seconds per image to export the run, per format and all formats in one call
    (:mod:`autolabel.tools.bench.export_timing`); None when not measured."""
    shapes: dict[str, int] = field(default_factory=dict)
    """Distinct input shapes each model (``extractor``, ``classifier``) saw in the measured run."""
    gpu_memory: dict[str, float] = field(default_factory=dict)
    """On CUDA: ``peak_allocated_mb`` (``torch.cuda.max_memory_allocated``) and
    ``peak_reserved_mb`` over the measured run; empty elsewhere."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "settings": asdict(self.settings),
            "images_per_second": self.images_per_second,
            "seconds_per_image": self.seconds_per_image,
            "wall_seconds": self.wall_seconds,
            "model_build_seconds": self.model_build_seconds,
            "boxes": self.boxes,
            "crops_per_image": self.crops_per_image,
            "stages": {k: asdict(v) for k, v in self.stages.items()},
            "gflops": self.gflops.to_dict(),
            "memory": dict(self.memory),
            "discovery_share": self.discovery_share,
            "shapes": dict(self.shapes),
            "gpu_memory": dict(self.gpu_memory),
        }
        if self.baseline is not None:
            d["baseline"] = self.baseline.to_dict()
        d["masks_share"] = self.masks_share
        if self.run_size is not None:
            d["run_size"] = self.run_size.to_dict()
        if self.export is not None:
            d["export"] = self.export.to_dict()
        return d


def _baseline(kind: str, cfg: PipelineConfig, root: Path, paths: list[str], limit: int) -> BaselineReport:
    """The original application's loop: fp32, crops one at a time (and the classifier
    rebuilt for every box when ``kind == 'original'``). Returns images/s on ``limit`` images.

    Random weights are the benchmark's own: ``build_model`` seeds them
    (:data:`autolabel.models.RANDOM_SEED`).
    """
    from autolabel.models import build_model
    from autolabel.pipeline import Annotator

    ann = Annotator(cfg.replace(precision="fp32", batch_size=1, image_batch=1, workers=1,
                                pad_batches="off", device_crops="off", overlap="off",
                                refine_processes=0))
    device = ann.models.device
    t0 = time.perf_counter()
    n = 0
    for path in paths[:limit]:
        (result,) = ann.process(root, [path])  # one image; crops classified one per batch
        if kind == "original":
            # The original rebuilt the classifier for every box: charge one build per box.
            for _ in getattr(result, "detections", ()):
                build_model(cfg.classifier, cfg.classifier_weights, "classifier", device)
        n += 1
    dt = time.perf_counter() - t0
    return BaselineReport(kind, n, dt, n / dt if dt else 0.0)


def run_bench(
    cfg: PipelineConfig,
    images: Path | None = None,
    synthetic: int = 20,
    size: tuple[int, int] = (640, 480),
    baseline: str | None = None,
    baseline_images: int = 3,
    rss_checkpoint: int = 50,
    work_dir: Path | None = None,
    measure_peak: bool = True,
    export: bool = True,
) -> BenchReport:
    """Run the pipeline on ``images`` (or ``synthetic`` generated images of ``size``) and measure.

    Args:
        cfg: pipeline settings (weights may be ``random``).
        images: a folder of images; None to generate ``synthetic`` images of ``size`` (W, H).
        baseline: ``original`` or ``fixed`` to also time the reference loop on
            ``baseline_images`` images, with the same models and images.
        rss_checkpoint: report peak RSS after this many images as well as at the end.
        work_dir: where synthetic images and the run go (a temporary folder by default).
        measure_peak: measure the matmul peaks (about 2 s).
        export: also time exporting the run (:mod:`autolabel.tools.bench.export_timing`).
    """
    from autolabel.engines.local import annotate
    from autolabel.images import find_images
    from autolabel.pipeline import Annotator
    from autolabel.pipeline.refine import resolve_refine_processes
    from autolabel.pipeline.scheduler import resolve_workers

    tmp = tempfile.TemporaryDirectory(prefix="autolabel-bench-") if work_dir is None else None
    work = Path(tmp.name) if tmp else Path(work_dir)  # type: ignore[arg-type]
    ann = Annotator(cfg)
    try:
        if images is None:
            images = synthetic_images(work / f"synthetic_{size[0]}x{size[1]}", synthetic, size)
        source = find_images(images)
        t_build = time.perf_counter()
        models = ann.models
        build_s = time.perf_counter() - t_build
        device = models.device

        # FLOPs of the model stages on the real input shapes.
        from autolabel.pipeline.features import prepare_image

        first = _first_readable(source.root, source.paths, cfg.max_pixels, models.features.patch)
        rz = prepare_image(first.image, cfg.max_side, models.features.patch, models.features.mean, models.features.std)
        from autolabel.models import model_dtype

        x = rz.tensor[None].to(device, model_dtype(models.extractor.module))
        ex_gflop = count_flops(lambda: models.features(x))
        crop = models.classify.preprocess(first.image, (0, 0, first.width, first.height), cfg.crop_margin)[None].to(device, model_dtype(models.classify.module))
        clf_gflop = count_flops(lambda: models.classify.module(crop))

        # Warm up on one image (allocator, oneDNN kernels), not counted.
        list(ann.process(source.root, [first.path]))
        ann.clock.reset()
        ann.shapes.reset()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)

        run_dir = work / "run"
        if run_dir.exists():
            import shutil

            shutil.rmtree(run_dir)
        reset_peak_rss()
        rss = {"start_mb": current_rss_mb()}
        done = {"n": 0, "boxes": 0}

        def progress(n: int, boxes: int, failed: int) -> None:
            done["n"] += n
            done["boxes"] += boxes
            if done["n"] == rss_checkpoint:
                rss[f"peak_after_{rss_checkpoint}_mb"] = vm_hwm_mb()

        summary = annotate(cfg, source.root, run_dir, progress=progress, annotator=ann)
        # The peak over the whole run is at least the checkpoint's (VmHWM can read a hair lower
        # after the kernel trims pages).
        rss["peak_end_mb"] = max(vm_hwm_mb(), rss.get(f"peak_after_{rss_checkpoint}_mb", 0.0))
        gpu_memory = {}
        if device.type == "cuda":
            gpu_memory = {"peak_allocated_mb": torch.cuda.max_memory_allocated(device) / 2**20,
                          "peak_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20}
        wall = summary.seconds
        n = summary.processed
        st = dict(ann.clock.seconds)
        counts = dict(ann.clock.counts)
        crops = counts.get("classify", 0)
        model_s = st.get("extractor", 0.0) + st.get("classify", 0.0)
        model_gflop = ex_gflop * counts.get("extractor", 0) + clf_gflop * crops
        peaks = {}
        if measure_peak:
            peaks = {
                "fp32": matmul_peak(torch.float32, device),
                "bf16": matmul_peak(torch.bfloat16, device),
            }
        settings = BenchSettings(
            extractor=cfg.extractor, classifier=cfg.classifier,
            weights={"extractor": models.extractor.weights, "classifier": models.classifier.weights},
            device=str(device), device_name=device_name(device), precision=models.precision,
            threads=torch.get_num_threads(), batch_size=cfg.batch_size, image_batch=cfg.image_batch,
            workers=resolve_workers(cfg.workers), max_side=cfg.max_side, num_seeds=cfg.num_seeds, max_boxes=cfg.max_boxes,
            images=str(images), image_count=n, image_size=[first.width, first.height],
            grid_hw=list(rz.grid), torch=torch.__version__, python=platform.python_version(),
            cpu_count=os.cpu_count(), decoder="device" if cfg.decoder == "device" else "pil",
            discovery=cfg.discovery,
            refine_processes=resolve_refine_processes(cfg.refine_processes, device.type) if cfg.refine else 0,
            failed_images=summary.failed, size_range=_size_range(run_dir),
        )
        flops = FlopReport(
            extractor_per_image=ex_gflop,
            classifier_per_crop=clf_gflop,
            model_stages_gflop_per_second=model_gflop / model_s if model_s else 0.0,
            extractor_gflop_per_second=ex_gflop * counts.get("extractor", 0) / st["extractor"] if st.get("extractor") else 0.0,
            classifier_gflop_per_second=clf_gflop * crops / st["classify"] if st.get("classify") else 0.0,
            matmul_peak=peaks,
        )
        report = BenchReport(
            settings=settings,
            images_per_second=n / wall if wall else 0.0,
            seconds_per_image=wall / n if n else 0.0,
            wall_seconds=wall,
            model_build_seconds=build_s,
            boxes=summary.boxes,
            crops_per_image=crops / n if n else 0.0,
            stages={k: StageTime(v, v / wall if wall else 0.0, counts.get(k, 0)) for k, v in sorted(st.items())},
            gflops=flops,
            memory=rss,
            discovery_share=st.get("discovery", 0.0) / wall if wall else 0.0,
            masks_share=st.get("masks", 0.0) / wall if wall else 0.0,
            run_size=measure_run_size(run_dir / PREDICTIONS),
            shapes=ann.shapes.counts(),
            gpu_memory=gpu_memory,
        )
        if export:
            report.export = time_exports(run_dir, work / "export", report.seconds_per_image)
        if baseline:
            b = _baseline(baseline, cfg, source.root, list(source.paths), baseline_images)
            b.speedup = report.images_per_second / b.images_per_second if b.images_per_second else None
            if peaks and b.images_per_second:
                b.speedup_ceiling = speedup_ceiling(
                    1.0 / b.images_per_second, ex_gflop + clf_gflop * report.crops_per_image, max(peaks.values()))
            report.baseline = b
        return report
    finally:
        ann.close()
        if tmp:
            tmp.cleanup()


def _size_range(run_dir: Path) -> list[list[int]]:
    """The smallest and largest ``[width, height]`` (by area) among the run's records."""
    sizes = [(r.width, r.height) for r in RunStore(run_dir).iter_images()]
    if not sizes:
        return []
    return [list(min(sizes, key=lambda s: s[0] * s[1])), list(max(sizes, key=lambda s: s[0] * s[1]))]


def _first_readable(root: Path, paths: Sequence[str], max_pixels: int, min_side: int) -> DecodedImage:
    """The first image of ``paths`` that decodes (the one FLOPs are counted and warmed up on).

    Raises:
        InputError: if none does, with the first file's reason.
    """
    from autolabel.errors import ImageError, InputError
    from autolabel.images import decode_image

    first_error: ImageError | None = None
    for p in paths:
        try:
            return decode_image(root, p, max_pixels=max_pixels, min_side=min_side)
        except ImageError as e:
            first_error = first_error or e
    raise InputError(f"none of the {len(paths)} image(s) under {root} can be read (first: {first_error})")


