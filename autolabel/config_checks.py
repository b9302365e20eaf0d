"""Checks of :class:`autolabel.config.PipelineConfig`'s values, and the parsers they share
(torch-free: a config is checked before any model loads).

Each check raises :class:`~autolabel.errors.ConfigError` naming the option, what it expects
and the value it got.
"""

from __future__ import annotations

import math
import re
from typing import Any

from autolabel.errors import ConfigError

MAX_TILES = 16
"""Upper bound on tile rows and on tile columns (a guard against typos such as 44x44)."""

DECODERS = ("auto", "pil", "device")
"""Values of ``decoder``: ``auto`` is ``pil`` everywhere until measured otherwise."""

_LAYERS = re.compile(r"^\s*[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*$")
"""``feature_layers``: module names (``blocks.4``), comma-separated."""

_TILES = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_tiles(value: str) -> tuple[int, int]:
    """``"RxC"`` -> ``(rows, cols)``; ValueError naming the expected form otherwise."""
    m = _TILES.match(str(value))
    if not m:
        raise ValueError(f"expected ROWSxCOLS such as 2x2, got {value!r}")
    r, c = int(m.group(1)), int(m.group(2))
    if not (1 <= r <= MAX_TILES and 1 <= c <= MAX_TILES):
        raise ValueError(f"rows and columns must be between 1 and {MAX_TILES}, got {value!r}")
    return r, c


def _scales_ok(value: Any) -> bool:
    """Whether ``value`` is a factor in (0, 4] or a string of comma-separated such factors."""
    try:
        parts = [float(p) for p in value.split(",")] if isinstance(value, str) else [value]
    except ValueError:
        return False
    return all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 < p <= 4.0 for p in parts)


def _count(value: Any) -> int:
    """How many comma-separated entries ``value`` holds (0 for None; 1 for a number)."""
    if value is None:
        return 0
    return len([p for p in value.split(",") if p.strip()]) if isinstance(value, str) else 1


def check_options(cfg: Any) -> None:
    """Raise :class:`ConfigError` for the first option of ``cfg`` (a
    :class:`~autolabel.config.PipelineConfig`) whose value is out of its range or of the wrong type."""
    def need(cond: bool, name: str, what: str) -> None:
        if not cond:
            raise ConfigError(f"option {name}: expected {what}, got {getattr(cfg, name)!r}")

    def number(v: Any) -> bool:
        """An int or float, not a bool (YAML's ``true`` is no number)."""
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    need(isinstance(cfg.extractor, str) and cfg.extractor != "", "extractor", "a timm model name")
    need(isinstance(cfg.classifier, str) and cfg.classifier != "", "classifier", "a timm model name")
    need(cfg.feature_layers is None or (isinstance(cfg.feature_layers, str) and _LAYERS.match(cfg.feature_layers)
                                         is not None), "feature_layers",
         "none or comma-separated module names such as blocks.4 or blocks.4,blocks.6")
    need(cfg.feature_scales is None or _scales_ok(cfg.feature_scales), "feature_scales",
         "none, a factor in (0, 4] or comma-separated factors such as 1,0.75")
    from autolabel.discovery import list_discovery

    need(cfg.discovery in list_discovery(), "discovery", f"one of {', '.join(list_discovery())}")
    need(cfg.precision in ("auto", "bf16", "fp32"), "precision", "'auto', 'bf16' or 'fp32'")
    for name in ("pad_batches", "device_crops", "overlap"):
        need(getattr(cfg, name) in ("auto", "on", "off"), name, "'auto', 'on' or 'off'")
    need(cfg.decoder in DECODERS, "decoder", "'auto', 'pil' or 'device'")
    for name in ("max_side", "max_pixels", "k_patches", "num_seeds", "max_boxes", "topk", "batch_size", "image_batch"):
        v = getattr(cfg, name)
        need(isinstance(v, int) and not isinstance(v, bool) and v >= 1, name, "an integer >= 1")
    need(isinstance(cfg.workers, int) and cfg.workers >= 0, "workers", "an integer >= 0")
    need(isinstance(cfg.threads, int) and cfg.threads >= 0, "threads", "an integer >= 0")
    need(isinstance(cfg.refine_processes, int) and not isinstance(cfg.refine_processes, bool)
         and cfg.refine_processes >= -1, "refine_processes", "an integer >= 0, or -1 (auto)")
    need(number(cfg.inflight_megapixels) and math.isfinite(cfg.inflight_megapixels) and cfg.inflight_megapixels > 0,
         "inflight_megapixels", "a finite number of megapixels > 0")
    need(cfg.max_side >= 32, "max_side", "at least 32 pixels")
    need(number(cfg.upscale) and 1.0 <= cfg.upscale <= 4.0, "upscale", "a factor in [1, 4]")
    for name in ("nms_iou", "min_objectness", "min_score"):
        v = getattr(cfg, name)
        need(isinstance(v, (int, float)) and 0.0 <= v <= 1.0, name, "a number in [0, 1]")
    need(isinstance(cfg.affinity_threshold, (int, float)) and -1.0 <= cfg.affinity_threshold < 1.0,
         "affinity_threshold", "a cosine similarity in [-1, 1)")
    need(isinstance(cfg.min_box_size, (int, float)) and cfg.min_box_size >= 0, "min_box_size", "a number of pixels >= 0")
    need(number(cfg.nested_containment) and 0.0 < cfg.nested_containment <= 1.0, "nested_containment",
         "a share in (0, 1]")
    need(isinstance(cfg.refine, bool), "refine", "true or false")
    try:
        if cfg.tiles != "auto":
            parse_tiles(cfg.tiles)
    except ValueError:
        need(False, "tiles", f"'auto' or ROWSxCOLS such as 2x2, each from 1 to {MAX_TILES}")
    need(number(cfg.tile_overlap) and 0.0 <= cfg.tile_overlap <= 0.9, "tile_overlap", "a share in [0, 0.9]")
    need(isinstance(cfg.crop_margin, (int, float)) and 0.0 <= cfg.crop_margin <= 2.0, "crop_margin", "a fraction in [0, 2]")
    need(isinstance(cfg.masks, bool), "masks", "true or false")
    need(cfg.split_core is None or (number(cfg.split_core) and 0.0 <= cfg.split_core < 1.0), "split_core",
         "none or a quantile in [0, 1)")
    need(cfg.split_pieces is None or (number(cfg.split_pieces) and 0.0 < cfg.split_pieces <= 0.5), "split_pieces",
         "none or a share in (0, 0.5]")
    need(isinstance(cfg.split_min_part, int) and not isinstance(cfg.split_min_part, bool) and cfg.split_min_part >= 1,
         "split_min_part", "an integer >= 1")
    need(number(cfg.split_depth) and 0.0 <= cfg.split_depth <= 2.0, "split_depth", "a cosine difference in [0, 2]")
    need(number(cfg.nested_min_ratio) and 0.0 <= cfg.nested_min_ratio <= 1.0, "nested_min_ratio", "a share in [0, 1]")
    need(cfg.duplicate_iou is None or (number(cfg.duplicate_iou) and 0.0 < cfg.duplicate_iou <= 1.0),
         "duplicate_iou", "empty (off) or a box IoU in (0, 1]")
    need(isinstance(cfg.background_sides, int) and not isinstance(cfg.background_sides, bool)
         and 1 <= cfg.background_sides <= 4, "background_sides", "an integer from 1 to 4")
    for name in ("background_area", "background_penalty", "max_scenery_share", "objectness_weight", "small_area",
                 "small_penalty"):
        v = getattr(cfg, name)
        need(number(v) and 0.0 <= v <= 1.0, name, "a number in [0, 1]")
    v = cfg.scenery_power
    need(number(v) and 0.0 <= v <= 16.0, "scenery_power", "a number in [0, 16]")
    need(isinstance(cfg.evidence_side, int) and not isinstance(cfg.evidence_side, bool)
         and (cfg.evidence_side == 0 or 32 <= cfg.evidence_side <= 4096), "evidence_side",
         "0 (off) or a number of pixels from 32 to 4096")
    need(number(cfg.evidence_power) and 0.0 <= cfg.evidence_power <= 16.0, "evidence_power", "a number in [0, 16]")
    need(number(cfg.saliency_power) and 0.0 <= cfg.saliency_power <= 16.0, "saliency_power", "a number in [0, 16]")
    need(number(cfg.saliency_knee) and 0.0 < cfg.saliency_knee <= 16.0, "saliency_knee", "a ratio in (0, 16]")
    need(not cfg.saliency_power or (_count(cfg.feature_layers) <= 1 and _count(cfg.feature_scales) <= 1),
         "saliency_power", "0 with several feature_layers or feature_scales (each patch of several maps is "
         "normalised, so no box stands out)")
    need(isinstance(cfg.mask_readings, int) and not isinstance(cfg.mask_readings, bool) and cfg.mask_readings in (0, 1, 3),
         "mask_readings",
         "0 (off), 1 (one diagonal shift) or 3 (every half-patch shift)")
    need(number(cfg.agreement_scale) and (cfg.agreement_scale == 0 or 0.0 < cfg.agreement_scale <= 4.0)
         and cfg.agreement_scale != 1, "agreement_scale", "0 (off) or a factor in (0, 4] other than 1")
    need(number(cfg.agreement_iou_low) and 0.0 <= cfg.agreement_iou_low <= 1.0, "agreement_iou_low", "an IoU in [0, 1]")
    need(number(cfg.agreement_iou_high) and cfg.agreement_iou_low <= cfg.agreement_iou_high <= 1.0, "agreement_iou_high",
         "an IoU in [agreement_iou_low, 1]")
    need(number(cfg.agreement_boost) and 1.0 <= cfg.agreement_boost <= 16.0, "agreement_boost", "a factor in [1, 16]")
    need(number(cfg.agreement_penalty) and 0.0 <= cfg.agreement_penalty <= 1.0, "agreement_penalty", "a factor in [0, 1]")
    need(cfg.tighten_margin is None or (number(cfg.tighten_margin) and 0.0 <= cfg.tighten_margin < 1.0),
         "tighten_margin", "empty (off) or a probability margin in [0, 1)")
