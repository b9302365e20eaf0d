"""Streaming compute: images in, one record per image out (intake -> features -> discovery ->
classify -> labels). What an engine runs on a worker; it writes nothing.

:class:`Annotator` builds the models once, then streams images through the stages:

* background threads decode images (EXIF, RGB) and resize them for the extractor while the
  models run on the previous chunk; with ``decoder: device`` they only read the JPEGs' bytes,
  and stage 1 decodes a chunk's JPEGs in one batch on the model's device and resizes them there
  (:mod:`autolabel.device_decode`);
* the extractor runs on batches of same-size images, discovery (:func:`discover_regions`) on
  each image's keys;
* crops of a whole chunk of images are classified together, ``batch_size`` at a time;
* each object written gets its instance mask (``masks``, :meth:`Annotator._mask`): its pixels
  as COCO RLE over the displayed image, its box their bounds;
* results come out in input order, one :class:`ImageAnnotations` or :class:`ImageFailure` per
  path, so an engine can append each as it comes (see :mod:`autolabel.engines`).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import torch

from autolabel.batching import ShapeLog, bucket, buckets_for, pad_rows
from autolabel.classify import Classifier, label_space_of, model_dtype
from autolabel.config import PipelineConfig
from autolabel.crops import CropSpec, device_crops, image_tensor
from autolabel.discovery import Region, get_discovery
from autolabel.discovery.batched import discover_batch
from autolabel.discovery.refine import PixelMask, grid_mask, union_masks
from autolabel.discovery.tiles import Tile, dedupe_tiles, edge_margin, merge_tiles, tile_layout
from autolabel.errors import ImageError, ModelError
from autolabel.features import (
    FeatureExtractor,
    Resized,
    extractor_kwargs,
    make_extractor,
    prepare_image,
    prepare_tensor,
)
from autolabel.geometry import clip_box, suppress_nested
from autolabel.intake import DecodedImage, EncodedJpeg, decode_image, header_pixels, read_encoded
from autolabel.masks import RLE, from_frame
from autolabel.models import BuiltModel, build_model, resolve_device
from autolabel.refining import Encoded, Refiner, resolve_refine_processes
from autolabel.scoring import detection_score
from autolabel.timing import StageClock
from autolabel.types import Box, Detection, ImageAnnotations, ImageFailure
from autolabel.vocabulary import Labeler, LabelResult, build_labeler

log = logging.getLogger(__name__)

REFINE_AHEAD = 2
"""With ``overlap``: chunks whose refinement runs ahead of the one being placed and cropped."""
CANDIDATES_PER_BOX = 2
"""Regions refined per box an image may keep (``max_boxes``): see ``Annotator._candidates``."""

Result = ImageAnnotations | ImageFailure
"""What the pipeline gives for one image path."""
_T = TypeVar("_T")
_U = TypeVar("_U")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where the hardware runs it fast (CUDA with bf16, CPUs with
    AVX512-BF16 or AMX), else ``fp32``."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        cpu = torch.cpu
        fast = getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        return "bf16" if fast else "fp32"
    return "fp32"


@dataclass
class Models:
    """Everything built once per run."""

    extractor: BuiltModel
    classifier: BuiltModel
    features: FeatureExtractor
    classify: Classifier
    labeler: Labeler
    precision: str

    @property
    def device(self) -> torch.device:
        return self.extractor.device


def load_models(cfg: PipelineConfig) -> Models:
    """Build the extractor, the classifier (shared if they are the same model) and the labeler.

    Raises:
        ModelError, WeightsError, ConfigError (vocabulary).
    """
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    ex_kwargs = extractor_kwargs(cfg.extractor)
    extractor = build_model(cfg.extractor, cfg.extractor_weights, "extractor", device, **ex_kwargs)
    if (cfg.classifier, cfg.classifier_weights) == (cfg.extractor, cfg.extractor_weights) and not ex_kwargs:
        classifier = extractor
    else:
        classifier = build_model(cfg.classifier, cfg.classifier_weights, "classifier", device)
    if precision == "bf16":
        # Convert the weights once: on CPUs this is ~2-4x faster than autocast, which casts
        # every weight on every call (measured with autolabel bench; see README).
        extractor.module.to(torch.bfloat16)
        classifier.module.to(torch.bfloat16)
    clf = Classifier(classifier)
    space = label_space_of(cfg.classifier)  # the run's classes come from the config alone
    if clf.num_classes != len(space):
        raise ModelError(f"classifier {cfg.classifier!r} has {clf.num_classes} outputs, its timm config {len(space)}")
    labeler = build_labeler(space, cfg.vocabulary, cfg.topk)
    return Models(extractor, classifier, make_extractor(extractor), clf, labeler, precision)


@dataclass
@dataclass(frozen=True)
class _View:
    """What the extractor sees of one image: the whole image, or one tile of it."""

    resized: Resized
    tile: Tile
    """The part of the displayed image it shows (the whole image when not tiling)."""


@dataclass(frozen=True)
class _Found:
    """One discovered object, placed in the displayed image."""

    box: tuple[float, float, float, float]
    """Displayed-image pixels (x1, y1, x2, y2), exclusive: the bounds of ``mask``."""
    objectness: float
    mask: PixelMask
    """The object's pixels (refined, or its patch mask with ``refine`` off)."""
    view: int = 0
    """Index of the view (tile) it was found in."""
    encoded: Encoded = None
    """``mask`` as :meth:`Annotator._mask` writes it, when a refinement worker encoded it
    (:func:`autolabel.refining.encode_found`); valid while ``box == encoded_for``."""
    encoded_for: Box | None = None
    """The box ``encoded`` was cut to (None: not encoded)."""


@dataclass
class _Item:
    path: str
    pixels: int = 0
    """Pixels charged to the in-flight budget (from the file header) until the item is done."""
    decoded: DecodedImage | None = None
    encoded: EncodedJpeg | None = None
    """A JPEG read for decoding on the device (``decoder: device``), until stage 1 decodes it."""
    views: list[_View] = field(default_factory=list)
    failure: ImageFailure | None = None
    pending: list[Callable[[], list[_Found]]] = field(default_factory=list)
    """Per view, what gives its objects once refined (before tiles are merged and boxes selected)."""
    regions: list[_Found] = field(default_factory=list)
    """The objects to classify, by descending objectness."""
    crops: list[torch.Tensor] | torch.Tensor = field(default_factory=list)
    """Classifier inputs of ``regions``: ``(3, S, S)`` CPU tensors (PIL path), or one
    ``(len(regions), 3, S, S)`` tensor on the device (device crops)."""


class Annotator:
    """Turns images into records with one configuration: the compute an engine runs.

    Args:
        config: the pipeline settings.
        models: prebuilt models (built lazily from ``config`` otherwise).
    """

    def __init__(self, config: PipelineConfig, models: Models | None = None) -> None:
        self.config = config
        self._models = models
        self.clock = StageClock()
        """Seconds per stage: decode (worker threads), decode_wait, batch_decode (``decoder:
        device``: decoding and resizing a chunk's JPEGs on the device), extractor, discovery,
        refine (in worker processes with ``refine_processes``), refine_wait (stage 1b waiting
        for them), crop, classify, write."""
        self._refiner = Refiner(0)
        """Runs refinement jobs: in the calling thread, or a pool of ``refine_processes`` worker
        processes started by the first :meth:`stream` and kept until :meth:`close`."""
        self.shapes = ShapeLog()
        """Distinct input shapes the extractor and the classifier were called on."""

    def close(self) -> None:
        """Stop the refinement worker processes, if any (they also stop when Python exits)."""
        self._refiner.close()

    def __enter__(self) -> Annotator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def models(self) -> Models:
        if self._models is None:
            self._models = load_models(self.config)
        return self._models

    def stream(self, root: str | Path, paths: list[str]) -> Iterator[tuple[Result, DecodedImage | None]]:
        """Run every stage on ``paths`` (relative to ``root``): one result per path, in order,
        with its decoded image (None for a failure), valid until the next result is taken."""
        for item, record in self._stream(self.models, Path(root), list(paths)):
            yield (item.failure if item.failure is not None else record), item.decoded  # type: ignore[misc]

    def process(self, root: str | Path, paths: list[str]) -> Iterator[Result]:
        """Run every stage on ``paths`` (relative to ``root``); one result per path, in order."""
        for result, _ in self.stream(root, paths):
            yield result

    # -- stages --------------------------------------------------------------------------
    def _decode(self, models: Models, root: Path, path: str, pixels: int = 0) -> _Item:
        cfg = self.config
        feats = models.features
        item = _Item(path, pixels)
        t0 = time.perf_counter()
        try:
            if cfg.decoder == "device":
                got = read_encoded(root, path, max_pixels=cfg.max_pixels, min_side=feats.patch)
                if isinstance(got, EncodedJpeg):
                    item.encoded = got  # decoded in stage 1 (_decode_batch)
                else:
                    item.decoded = got
            else:
                item.decoded = decode_image(root, path, max_pixels=cfg.max_pixels, min_side=feats.patch)
            if item.decoded is not None:
                item.views = self._views(item.decoded, feats)
        except Exception as e:
            item.failure = _decode_failure(path, e)
        self.clock.add("decode", time.perf_counter() - t0)
        return item

    def _chunks(self, models: Models, root: Path, paths: list[str], pool: ThreadPoolExecutor,
                budget: _PixelBudget) -> Iterator[list[_Item]]:
        """Decoded items in input order, ``image_batch`` at a time, decoding ahead of use.

        Decoding runs ahead by up to ``2 * image_batch`` images while the decoded images held
        (ahead plus the chunk in the models, until :meth:`_stream` releases them) stay within
        ``budget``; one image is always allowed, however large.
        """
        size = self.config.image_batch
        window: collections.deque[Future[_Item]] = collections.deque()
        pending = collections.deque(paths)
        ahead = max(2 * size, resolve_workers(self.config.workers))
        max_pixels = self.config.max_pixels

        def fill(wait: bool = False) -> None:
            while pending and len(window) < ahead:
                p = header_pixels(root, pending[0])
                p = p if p <= max_pixels else 0  # refused before decoding: holds nothing
                if not budget.take(p, wait=wait and not window):
                    return
                window.append(pool.submit(self._decode, models, root, pending.popleft(), p))

        fill()
        while window:
            chunk = []
            while window and len(chunk) < size:
                with self.clock("decode_wait"):
                    chunk.append(window.popleft().result())
                fill()
            yield chunk
            # The chunks handed out are released by the consumer: at once when it runs on this
            # thread; with ``overlap`` on another thread, so with nothing decoded ahead wait for
            # it (never while building a chunk: those pixels are this thread's to release).
            fill(wait=True)

    def _stream(self, models: Models, root: Path, paths: list[str]) -> Iterator[tuple[_Item, ImageAnnotations | None]]:
        workers = resolve_workers(self.config.workers)
        budget = _PixelBudget(int(self.config.inflight_megapixels * 1_000_000))
        overlap = self.config.speed_option("overlap", models.device.type)
        # CUDA: stages 1a and 1b queue their kernels on streams of their own, so the GPU runs them
        # beside stage 2's classifier batches; their results are complete before they are handed over.
        streams = [torch.cuda.Stream(models.device) for _ in range(2)] if overlap and models.device.type == "cuda" else []
        processes = resolve_refine_processes(self.config.refine_processes, models.device.type) if self.config.refine else 0
        if self._refiner.processes != processes:  # kept between streams: workers start once
            self._refiner.close()
            self._refiner = Refiner(processes)
        self._refiner.start()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="autolabel-decode") as pool:

            def discovered(chunk: list[_Item]) -> list[_Item]:
                """Stage 1a: device decoding, extractor and discovery of one chunk; its refinement
                jobs started."""
                with torch.cuda.stream(streams[0]) if streams else contextlib.nullcontext():
                    self._decode_batch(models, root, chunk)
                    self._discover(models, [it for it in chunk if it.failure is None])
                    if streams:
                        streams[0].synchronize()
                return chunk

            def located(chunk: list[_Item]) -> list[_Item]:
                """Stage 1b: one chunk's refined objects placed and selected, and their crops."""
                good = [it for it in chunk if it.failure is None]
                self._place(good)
                with torch.cuda.stream(streams[1]) if streams else contextlib.nullcontext():
                    self._crop(models, good, pool)
                    if streams:
                        streams[1].synchronize()
                return chunk

            chunks = self._chunks(models, root, paths, pool, budget)
            if overlap:  # refinement of REFINE_AHEAD chunks runs while stage 1b waits for the oldest
                staged = run_ahead(run_ahead(chunks, discovered, depth=REFINE_AHEAD), located, depth=1)
            else:
                staged = map(located, map(discovered, chunks))
            for chunk in staged:
                records = self._label(models, [it for it in chunk if it.failure is None])  # stage 2
                for it in chunk:
                    yield it, records.get(it.path)
                    it.decoded, it.views = None, []  # written: its pixels may go
                    budget.release(it.pixels)

    @torch.inference_mode()
    def _decode_batch(self, models: Models, root: Path, items: list[_Item]) -> None:
        """Decode the chunk's JPEGs read for the device (``item.encoded``) with one batched call
        on the model's device (:func:`~autolabel.device_decode.decode_jpegs`) and make their
        views there. One the device cannot decode is decoded with PIL
        (:func:`~autolabel.intake.decode_image`), so a bad file fails with PIL's reason."""
        todo = [it for it in items if it.encoded is not None]
        if not todo:
            return
        from autolabel.device_decode import decode_jpegs

        cfg = self.config
        feats = models.features
        with self.clock("batch_decode", len(todo)):
            pixels = decode_jpegs([it.encoded for it in todo], models.device)  # type: ignore[misc]
            for it, px in zip(todo, pixels):
                it.encoded = None
                try:
                    if px is None:
                        it.decoded = decode_image(root, it.path, max_pixels=cfg.max_pixels, min_side=feats.patch)
                    else:
                        it.decoded = DecodedImage(it.path, pixels=px)
                    it.views = self._views(it.decoded, feats)
                except Exception as e:
                    it.decoded, it.failure = None, _decode_failure(it.path, e)

    def _views(self, decoded: DecodedImage, feats: FeatureExtractor) -> list[_View]:
        """The extractor inputs of one image: the whole image, or each of ``tiles`` (every tile
        resized to ``max_side`` on its own, see :mod:`autolabel.discovery.tiles`). From the
        device pixels on their device when there are some (``decoder: device``), else from the
        PIL image on this thread."""
        cfg = self.config
        rows, cols = cfg.tile_grid
        width, height = decoded.width, decoded.height
        px = decoded.pixels

        def prepare(x0: int, y0: int, x1: int, y1: int) -> Resized:
            whole = (x0, y0, x1, y1) == (0, 0, width, height)
            if px is not None:
                return prepare_tensor(px if whole else px[:, y0:y1, x0:x1], cfg.max_side, feats.patch, feats.mean, feats.std)
            image = decoded.image if whole else decoded.image.crop((x0, y0, x1, y1))
            return prepare_image(image, cfg.max_side, feats.patch, feats.mean, feats.std)

        if (rows, cols) == (1, 1):
            return [_View(prepare(0, 0, width, height), Tile(0, 0, width, height))]
        return [_View(prepare(t.x0, t.y0, t.x1, t.y1), t) for t in tile_layout(width, height, rows, cols, cfg.tile_overlap)]

    @torch.inference_mode()
    def _discover(self, models: Models, items: list[_Item]) -> None:
        """Extractor on same-size batches of views, then discovery on each batch's keys at once
        (:func:`~autolabel.discovery.batched.discover_batch`); starts each view's refinement
        (in worker processes with ``refine_processes``, see :mod:`autolabel.refining`) into
        ``item.pending``, which :meth:`_place` collects."""
        by_shape: dict[tuple[int, ...], list[tuple[_Item, int]]] = {}
        for it in items:
            it.pending = []
            for i, v in enumerate(it.views):
                by_shape.setdefault(tuple(v.resized.tensor.shape), []).append((it, i))
        for group in by_shape.values():
            with self.clock("extractor", len(group)):
                keys = self._extract(models, [it.views[i].resized.tensor for it, i in group])
            with self.clock("discovery", len(group)):
                found = discover_batch(keys, group[0][0].views[group[0][1]].resized.grid, self.config, discover_regions)
            for (it, i), regions in zip(group, found):
                it.pending.append(self._localise(it, i, self._candidates(regions)))

    def _place(self, items: list[_Item]) -> None:
        """Each item's objects from its finished refinement jobs, selected: fills
        ``item.regions`` (see :meth:`_select`)."""
        for it in items:
            found = []
            with self.clock("refine_wait"):
                for result in it.pending:
                    found.extend(result())
            it.pending = []
            it.regions = self._select(it, found)

    def _candidates(self, regions: list[Region]) -> list[Region]:
        """The regions worth refining: those at ``min_objectness`` or above, at most
        :data:`CANDIDATES_PER_BOX` x ``max_boxes`` of them by objectness. Refinement costs a few
        ms per region and a method such as ``maskcut`` can return a hundred components of
        random or noisy keys; only ``max_boxes`` survive selection, with some lost to the size
        filter and nested-duplicate suppression, hence the slack."""
        cfg = self.config
        kept = [r for r in regions if r.objectness >= cfg.min_objectness]
        kept.sort(key=lambda r: -r.objectness)  # stable: the method's order among equals
        return kept[: CANDIDATES_PER_BOX * cfg.max_boxes]

    def _localise(self, it: _Item, index: int, regions: list[Region]) -> Callable[[], list[_Found]]:
        """Each region's pixels and box in the displayed image: refined at pixel level
        (``refine``, :mod:`autolabel.discovery.refine`) or its patch mask, for view ``index``
        of ``it``. Returns a function that gives them: refinement jobs are started here and may
        run in worker processes, which then also encode the masks (``masks`` on, whole images)."""
        view = it.views[index]
        rz = view.resized
        origin, scale = (float(view.tile.x0), float(view.tile.y0)), (rz.scale_x, rz.scale_y)
        if not regions or not self.config.refine:
            masks = [grid_mask(r, rz.patch, origin, scale) for r in regions]
            return lambda: [_Found(m.box, r.objectness, m, index) for r, m in zip(regions, masks)]
        assert it.decoded is not None
        frame = None
        if self._refiner.processes and self.config.masks and len(it.views) == 1:
            frame = (it.decoded.width, it.decoded.height)
        job = self._refiner.submit(rz.host_pixels(), rz.patch, origin, scale, regions, frame)

        def result() -> list[_Found]:
            done = job.result()
            self.clock.add("refine", done.seconds, len(regions))
            encoded = done.encoded if done.encoded is not None else [None] * len(regions)
            return [_Found(m.box, r.objectness, m, index, enc, None if frame is None else clip_box(m.box, *frame))
                    for r, m, enc in zip(regions, done.masks, encoded)]

        return result

    def _select(self, it: _Item, found: list[_Found]) -> list[_Found]:
        """One image's objects to classify: tiles merged (:func:`merge_tiles`, then one box per
        object seen by two tiles, :func:`dedupe_tiles`), boxes clipped, too small or too faint ones dropped, nested duplicates of one
        object dropped (:meth:`_unnest`), the ``max_boxes`` best kept (by objectness)."""
        cfg = self.config
        assert it.decoded is not None
        W, H = it.decoded.width, it.decoded.height
        if len(it.views) > 1 and found:
            tol = max(v.resized.patch * max(v.resized.scale_x, v.resized.scale_y) for v in it.views) / 2.0
            merged = merge_tiles([f.box for f in found], [f.objectness for f in found], [f.view for f in found],
                                 [v.tile for v in it.views], W, H, edge_tol=tol)
            tiles = [v.tile for v in it.views]
            margins = [edge_margin(box, tiles[found[m[0]].view], W, H) if len(m) == 1 else float("inf") for box, _, m in merged]
            keep = dedupe_tiles([box for box, _, _ in merged], margins, [frozenset(found[k].view for k in m) for _, _, m in merged],
                                cfg.nms_iou, cfg.nested_containment)
            found = [_Found(box, obj, union_masks([found[k].mask for k in members]), found[members[0]].view)
                     for box, obj, members in (merged[k] for k in keep)]
        out = []
        for f in sorted(found, key=lambda f: -f.objectness):
            px = clip_box(f.box, W, H)
            if min(px[2] - px[0], px[3] - px[1]) < cfg.min_box_size or f.objectness < cfg.min_objectness:
                continue
            out.append(_Found(px, f.objectness, f.mask, f.view, f.encoded, f.encoded_for))
        return self._unnest(out)[: cfg.max_boxes]

    def _unnest(self, found: list[_Found]) -> list[_Found]:
        """Nested duplicates of one object reduced to one: of two boxes where one lies at least
        ``nested_containment`` inside the other (which IoU misses when one is much bigger), the
        one discovery scores lower goes (:func:`~autolabel.geometry.suppress_nested`). Ranked
        by objectness, before classification: the class probability of two crops of one object
        differs by chance (a looser crop can read as surer), the discovery score does not."""
        if len(found) < 2:
            return found
        keep = suppress_nested(torch.tensor([f.box for f in found], dtype=torch.float32),
                               torch.tensor([f.objectness for f in found], dtype=torch.float64),
                               self.config.nested_containment)
        return [found[k] for k in keep.tolist()]

    def _extract(self, models: Models, tensors: list[torch.Tensor]) -> torch.Tensor:
        """Patch keys ``(n, h*w, C)`` of ``n`` same-size ``(3, H, W)`` images, in the extractor's
        dtype. With padding on, the batch is padded with zero images to a bucket of
        ``image_batch`` (the extractor sees one batch size per image size); padding rows are
        dropped."""
        n = len(tensors)
        batch = torch.stack(tensors)
        if self.config.speed_option("pad_batches", models.device.type):
            batch = pad_rows(batch, bucket(n, buckets_for(self.config.image_batch)))
        self.shapes.see("extractor", batch.shape)
        batch = _to_device(batch, models.device, model_dtype(models.extractor.module))
        keys = models.features(batch)[:n]  # discovery runs in the extractor's dtype
        if keys.is_cuda:  # this stream only: the other stage's kernels run on
            torch.cuda.current_stream(keys.device).synchronize()
        return keys

    def _crop(self, models: Models, items: list[_Item], pool: ThreadPoolExecutor) -> None:
        """Classifier inputs for every region: on the device (``device_crops``), or with PIL in
        the decode threads."""
        spec = self._crop_spec(models)
        if spec is not None:
            self._device_crops(models, items, spec)
            return
        margin = self.config.crop_margin
        t0 = time.perf_counter()
        jobs = [(it, pool.submit(models.classify.preprocess, it.decoded.image, box, margin)) for it in items for box in (f.box for f in it.regions)]  # type: ignore[union-attr]
        for it in items:
            it.crops = []
        for it, fut in jobs:
            it.crops.append(fut.result())  # type: ignore[union-attr]
        self.clock.add("crop", time.perf_counter() - t0, len(jobs))

    def _crop_spec(self, models: Models) -> CropSpec | None:
        """The classifier's transform for device crops, or None to crop with PIL (off, or a
        transform the device path cannot reproduce)."""
        if not self.config.speed_option("device_crops", models.device.type):
            return None
        try:
            return CropSpec.from_data_config(models.classify.data_config)
        except ValueError as e:
            log.info("cropping with PIL: %s", e)
            return None

    def _device_crops(self, models: Models, items: list[_Item], spec: CropSpec) -> None:
        """Each image's crops cut on the device (:func:`autolabel.crops.device_crops`) from its
        device pixels (``decoder: device``), or from its PIL image uploaded once (pinned,
        asynchronous on CUDA)."""
        margin = self.config.crop_margin
        dtype = model_dtype(models.classify.module)
        with self.clock("crop", sum(len(it.regions) for it in items)):
            for it in items:
                if not it.regions:
                    it.crops = []
                    continue
                assert it.decoded is not None
                px = it.decoded.pixels
                img = px[None] if px is not None else image_tensor(it.decoded.image, models.device)
                it.crops = device_crops(img, [f.box for f in it.regions], margin, spec, dtype,
                                        min_side=models.classify.input_side)

    def _label(self, models: Models, items: list[_Item]) -> dict[str, ImageAnnotations]:
        cfg = self.config
        crops = _gather_crops(items)
        with self.clock("classify", len(crops)):
            probs = models.classify.classify(crops, cfg.batch_size, shapes=self.shapes,
                                             pad=cfg.speed_option("pad_batches", models.device.type))
            results = models.labeler.label(probs) if len(crops) else []
        out: dict[str, ImageAnnotations] = {}
        i = 0
        for it in items:
            assert it.decoded is not None
            dets: list[Detection] = []
            stem = Path(it.path).stem
            for found, res, score in self._keep(it.regions, results[i: i + len(it.regions)]):
                box, mask = self._mask(found, it.decoded.width, it.decoded.height)
                dets.append(Detection(
                    id=f"{stem}-{len(dets)}", box=box, label=res.label, score=score,
                    objectness=min(max(found.objectness, 0.0), 1.0), label_id=res.label_id, topk=res.topk,
                    class_score=res.score, mask=mask,
                ))
            i += len(it.regions)
            out[it.path] = ImageAnnotations(it.path, it.decoded.width, it.decoded.height, tuple(dets))
            it.crops = []
        return out

    def _mask(self, found: _Found, width: int, height: int) -> tuple[Box, RLE | None]:
        """A written object's box and mask. With ``masks`` on: its pixels (``found.mask``: refined,
        or the patch mask with ``refine`` off) sampled onto the ``width x height`` displayed image
        and cut to its box, as COCO RLE, and the box made the mask's bounds in whole pixels
        (:func:`autolabel.masks.from_frame`). With ``masks`` off, or if no displayed pixel's
        centre falls on the object: the box as found and no mask. Timed as stage ``masks``."""
        if not self.config.masks:
            return found.box, None
        pm = found.mask
        if found.encoded_for is not None and found.encoded_for == found.box:
            encoded = found.encoded  # encoded by a refinement worker, with these arguments
        else:
            with self.clock("masks"):
                encoded = from_frame(pm.mask, pm.origin, pm.scale, width, height, box=found.box)
        if encoded is None:
            return found.box, None
        rle, bounds = encoded
        return bounds, rle

    def _keep(self, regions: list[_Found], results: list[LabelResult | None]) -> list[tuple[_Found, LabelResult, float]]:
        """The named objects worth writing, by descending score: each scored
        ``sqrt(objectness * class probability)`` (:mod:`autolabel.scoring`), those below
        ``min_score`` dropped."""
        cands = []
        for found, res in zip(regions, results):
            if res is None:
                continue
            score = detection_score(found.objectness, res.score)
            if score >= self.config.min_score:
                cands.append((found, res, score))
        return sorted(cands, key=lambda c: -c[2])


class _PixelBudget:
    """Pixels of the decoded images held at once (thread-safe: with ``overlap`` the decode
    window is filled by the stage-1 thread and released by the consumer)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._cond = threading.Condition()

    def take(self, pixels: int, wait: bool = False) -> bool:
        """Charge ``pixels`` if they fit, or if nothing is held (one image always may go);
        with ``wait``, block until they do (another thread must be releasing)."""
        with self._cond:
            while self.held and self.held + pixels > self.limit:
                if not wait:
                    return False
                self._cond.wait()
            self.held += pixels
            return True

    def release(self, pixels: int) -> None:
        with self._cond:
            self.held -= pixels
            self._cond.notify_all()


MAX_AUTO_WORKERS = 32
"""Most decode threads ``workers: 0`` (auto) starts."""


def resolve_workers(workers: int, cpu_count: int | None = None) -> int:
    """Decode threads for the config's ``workers``: itself if > 0, else one per core (at
    least 2, at most :data:`MAX_AUTO_WORKERS`). PIL decodes without the GIL, so threads scale
    with cores."""
    if workers > 0:
        return workers
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 2)
    return max(2, min(MAX_AUTO_WORKERS, cores))


def _decode_failure(path: str, error: Exception) -> ImageFailure:
    """The failure record of an image that could not be decoded: an :class:`ImageError`'s plain
    reason, or, for a decoder bug on one odd file (which must not end the run), its type and text."""
    if isinstance(error, ImageError):
        return ImageFailure(path, error.reason)
    log.debug("unexpected error decoding %s", path, exc_info=error)
    return ImageFailure(path, f"could not be decoded ({type(error).__name__}: {error})")


def _to_device(x: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``x`` on ``device`` in ``dtype``: through pinned memory, asynchronously, from the CPU to
    CUDA; a tensor already on a device (``decoder: device``) is only cast."""
    if x.device.type != "cpu":
        return x.to(device, dtype)
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True).to(dtype)
    return x.to(device, dtype)


def _gather_crops(items: list[_Item]) -> list[torch.Tensor] | torch.Tensor:
    """All items' classifier inputs in order: a list of CPU tensors, or one tensor when the
    crops were cut on the device."""
    parts = [it.crops for it in items if len(it.crops)]
    if parts and all(isinstance(p, torch.Tensor) for p in parts):
        return torch.cat(parts)  # type: ignore[arg-type]
    return [c for p in parts for c in p]


_DONE = object()


def run_ahead(source: Iterator[_T], fn: Callable[[_T], _U], depth: int = 1) -> Iterator[_U]:
    """``map(fn, source)`` computed in a background thread up to ``depth`` results ahead of
    the consumer (a bounded producer-consumer queue), in order. An exception in ``source`` or
    ``fn`` is raised in the consumer; closing the returned iterator stops the producer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for x in source:
                if not put((fn(x), None)):
                    return
        except BaseException as e:  # handed to the consumer
            put((None, e))
            return
        put((_DONE, None))

    thread = threading.Thread(target=produce, name="autolabel-stage", daemon=True)
    thread.start()
    try:
        while True:
            value, error = q.get()
            if error is not None:
                raise error
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        thread.join()


def discover_regions(keys: torch.Tensor, grid: tuple[int, int], cfg: PipelineConfig) -> list[Region]:
    """The object regions of one image, by the discovery method ``cfg.discovery`` names.

    Args:
        keys: ``(h * w, d)`` patch keys of the image, row-major over ``grid``.
        grid: ``(h, w)`` patches, height first.
        cfg: the method and its parameters.

    Returns:
        Regions (:class:`~autolabel.discovery.Region`: box in patch units of ``grid``, objectness,
        seed, patch mask), by descending objectness.
    """
    method = get_discovery(cfg.discovery)
    return method(keys, grid, **method.params_from(cfg))
