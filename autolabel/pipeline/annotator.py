"""The :class:`Annotator`: the pipeline's stages composed, images in, one record per image out.
What an engine runs on a worker; it writes nothing.

Stages, in the order data flows (one module each):

====================  =========================================  ===============================
stage                 what it does                               runs on
====================  =========================================  ===============================
``decode``            files (or in-memory images) to RGB, views  decode threads; device JPEGs
``features``          views to ``(B, h*w, C)`` patch keys        the model's device
``discover``          keys to patch-grid regions (with           the keys' device
                      ``agreement_scale``: scored by agreement
                      with a second reading of each view,
                      stage ``agreement``; with
                      ``saliency_power``: by how much they
                      stand out of the view)
``refine``            regions to pixel masks and boxes (with     a thread or worker processes
                      ``mask_readings``: masks drawn again on
                      a half-patch grid from views read
                      shifted, stage ``mask_readings``)
``select``            tiles merged, boxes filtered, best kept    host
``crops``             boxes to classifier inputs                 decode threads or the device
``classify`` /        crops to class probabilities, names,       the model's device, then host
``label``             scores (kept at ``min_score``)
``records``           ids, boxes, masks as COCO RLE              host
====================  =========================================  ===============================

:mod:`autolabel.pipeline.scheduler` runs them on threads and CUDA streams with overlap; the
result of each image comes out in input order, an :class:`~autolabel.types.ImageAnnotations`
or an :class:`~autolabel.types.ImageFailure`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

from autolabel.config import PipelineConfig
from autolabel.discovery.shifted import READINGS, ShiftedMask, shift_batch, shifted_masks
from autolabel.images import DecodedImage, header_size
from autolabel.pipeline.batching import ShapeLog, bucket, buckets_for
from autolabel.pipeline.clock import StageClock
from autolabel.pipeline.crops import Cropping
from autolabel.pipeline.decode import Decoding
from autolabel.pipeline.discover import find_regions, same_size_views
from autolabel.pipeline.evidence import cell_logits
from autolabel.pipeline.features import device_batch, extract, extract_keeping_map, extract_rescaled, held_pixels, shares_classifier
from autolabel.pipeline.label import Labelling
from autolabel.pipeline.loading import Models, load_models
from autolabel.pipeline.records import build_record
from autolabel.pipeline.refine import Refining
from autolabel.pipeline.scheduler import Entry, PixelBudget, decoded_chunks, on_stream, resolve_workers, stage_streams, staged
from autolabel.pipeline.select import select
from autolabel.pipeline.work import ClassMaps, Item
from autolabel.types import ImageAnnotations, ImageFailure

Result = ImageAnnotations | ImageFailure
"""What the pipeline gives for one image."""


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
        for them), crop, classify, masks."""
        self.shapes = ShapeLog()
        """Distinct input shapes the extractor and the classifier were called on."""
        self.refining = Refining(config, self.clock)
        """Runs refinement jobs: in the calling thread, or a pool of ``refine_processes`` worker
        processes started by the first stream and kept until :meth:`close`."""
        self.cropping = Cropping(config, self.clock)
        self.labelling = Labelling(config, self.clock, self.shapes)

    def close(self) -> None:
        """Stop the refinement worker processes, if any (they also stop when Python exits)."""
        self.refining.close()

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
        root = Path(root)
        entries = [(p, None) for p in paths]
        for item, record in self._stream(self.models, root, entries, lambda e: header_size(root, e[0])):
            yield (item.failure if item.failure is not None else record), item.decoded  # type: ignore[misc]

    def process(self, root: str | Path, paths: list[str]) -> Iterator[Result]:
        """Run every stage on ``paths`` (relative to ``root``); one result per path, in order."""
        for result, _ in self.stream(root, paths):
            yield result

    def process_images(self, entries: Iterable[tuple[str, Any]], root: str | Path = ".") -> Iterator[Result]:
        """Run every stage on ``(name, image)`` pairs, one result per pair, in order, named
        ``name``: ``image`` is file bytes, a ``PIL.Image`` or a uint8 array
        (:func:`autolabel.images.decode_memory`), a file's :class:`~pathlib.Path`, or None to
        read the file ``root / name``."""
        root = Path(root)

        def size_of(entry: Entry) -> tuple[int, int] | None:
            source = entry[1]
            if source is None or isinstance(source, Path):
                return header_size(root, entry[0]) if source is None else header_size(source.parent, source.name)
            return _memory_size(source)

        for item, record in self._stream(self.models, root, entries, size_of):
            yield item.failure if item.failure is not None else record  # type: ignore[misc]

    def _stream(self, models: Models, root: Path, entries: Iterable[Entry],
                size_of: Callable[[Entry], tuple[int, int] | None]) -> Iterator[tuple[Item, ImageAnnotations | None]]:
        cfg = self.config
        device = models.device
        budget = PixelBudget(int(cfg.inflight_megapixels * 1_000_000))
        overlap = cfg.speed_option("overlap", device.type)
        streams = stage_streams(device, overlap)
        decoding = Decoding(cfg, models.features, self.clock)
        self.refining.start(device.type)

        def pixels(entry: Entry) -> int:
            """What ``entry`` will hold decoded (charged to the budget): 0 if refused unread."""
            size = size_of(entry)
            if size is None or size[0] * size[1] > cfg.max_pixels:
                return 0  # refused before decoding (or unreadable): holds nothing
            return held_pixels(*size, cfg, models.features.patch)

        workers = resolve_workers(cfg.workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="autolabel-decode") as pool:

            def discovered(chunk: list[Item]) -> None:
                """Stage 1a: device decoding, extractor and discovery of one chunk; its refinement
                jobs started."""
                decoding.on_device(root, chunk, device)
                self._discover(models, [it for it in chunk if it.failure is None])

            def located(chunk: list[Item]) -> None:
                """Stage 1b: one chunk's refined objects placed and selected, and their crops."""
                good = [it for it in chunk if it.failure is None]
                for it in good:
                    it.regions = select(cfg, it, self.refining.collect(it))
                on_stream(streams, 1, lambda items: self.cropping(models.classify, device, items, pool), good)

            chunks = decoded_chunks(entries, lambda path, p, source: decoding.read(root, path, p, source), pixels, pool, budget,
                                    size=cfg.image_batch, ahead=max(2 * cfg.image_batch, workers), clock=self.clock)
            for chunk in staged(chunks, lambda c: on_stream(streams, 0, discovered, c), located, overlap):
                good = [it for it in chunk if it.failure is None]
                named = self.labelling(models.classify, models.labeler, device.type, good)  # stage 2
                records = {it.path: build_record(cfg, self.clock, it, n) for it, n in zip(good, named)}
                for it in chunk:
                    yield it, records.get(it.path)
                    it.decoded, it.views = None, []  # written: its pixels may go
                    budget.release(it.pixels)

    @torch.inference_mode()
    def _discover(self, models: Models, items: list[Item]) -> None:
        """Extractor on same-size batches of views, then discovery on each batch's keys at once;
        starts each view's refinement into ``item.pending``, which stage 1b collects. Where the
        extractor is the classifier (:func:`~autolabel.pipeline.features.shares_classifier`),
        also the class maps of each photo seen whole (:meth:`_class_maps`)."""
        cfg = self.config
        pad = cfg.speed_option("pad_batches", models.device.type)
        share = shares_classifier(cfg, models.features, models.classify)
        for it in items:
            it.pending = []
        for group in same_size_views(items, cfg.image_batch):
            tensors = [it.views[i].resized.tensor for it, i in group]
            pad_to = bucket(len(group), buckets_for(cfg.image_batch)) if pad else None
            whole = [k for k, (it, _) in enumerate(group) if share and _seen_whole(it)]
            with self.clock("extractor", len(group)):
                batch = device_batch(models.extractor.module, models.device, tensors, pad_to, self.shapes)
                if whole:
                    keys, chosen = extract_keeping_map(models.features, batch, len(group))  # type: ignore[arg-type]
                else:
                    keys = extract(models.features, batch, len(group))
            if whole:
                with self.clock("evidence", len(whole)):
                    self._class_maps(models, [group[k][0] for k in whole], chosen[whole])
            grid = group[0][0].views[group[0][1]].resized.grid
            second = None
            if cfg.agreement_scale:  # the views read again at a second scale (scale agreement)
                with self.clock("agreement", len(group)):
                    second = extract_rescaled(models.features, batch, len(group), cfg.agreement_scale, grid,
                                              shapes=self.shapes)
            with self.clock("discovery", len(group)):
                chosen_regions = find_regions(keys, second, grid, cfg)
            shifted: list[list[tuple[ShiftedMask, ...]] | None] = [None] * len(group)
            if cfg.mask_readings and cfg.masks and cfg.refine:  # masks drawn on a half-patch grid
                with self.clock("mask_readings", len(group)):
                    patch = group[0][0].views[group[0][1]].resized.patch
                    reads = [(dy, dx, extract(models.features, shift_batch(batch, dy, dx, patch), len(group)))
                             for dy, dx in READINGS[cfg.mask_readings]]
                    shifted = [shifted_masks(regions, keys[k], [(dy, dx, r[k]) for dy, dx, r in reads], grid)
                               for k, regions in enumerate(chosen_regions)]
            for (it, i), regions, extra in zip(group, chosen_regions, shifted):
                it.pending.append(self.refining.localise(it, i, regions, extra))

    @staticmethod
    def _class_maps(models: Models, items: list[Item], chosen: torch.Tensor) -> None:
        """Sets each item's :attr:`~autolabel.pipeline.work.Item.class_maps` from its view's
        chosen map (``(n, C, h, w)``, one row per item): the network carried on to its final
        map (:meth:`~autolabel.pipeline.features.CNNMap.finish`), then its head per cell."""
        feats = models.features
        final = feats.finish(chosen)  # type: ignore[attr-defined]
        logits = cell_logits(models.classify.module, final)
        cells = feats.final_stride  # type: ignore[attr-defined]
        for it, z in zip(items, logits):
            r = it.views[0].resized
            it.class_maps = ClassMaps(z, z.shape[-1] * cells * r.scale_x, z.shape[-2] * cells * r.scale_y)


def _seen_whole(item: Item) -> bool:
    """Whether ``item``'s one view is the whole photo (not tiled)."""
    if item.decoded is None or len(item.views) != 1:
        return False
    t = item.views[0].tile
    return (t.x0, t.y0, t.x1, t.y1) == (0, 0, item.decoded.width, item.decoded.height)


def _memory_size(image: Any) -> tuple[int, int] | None:
    """``(width, height)`` of an in-memory image (None if unknown before decoding: file bytes)."""
    size = getattr(image, "size", None)
    if isinstance(size, tuple) and len(size) == 2:
        return int(size[0]), int(size[1])
    shape = getattr(image, "shape", None)
    return (int(shape[1]), int(shape[0])) if shape is not None and len(shape) >= 2 else None
