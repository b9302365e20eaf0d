"""Pipeline stage: object discovery on a batch of views' patch keys, through
:mod:`autolabel.discovery` (pure tensor functions on the keys' device), and the choice of the
regions worth refining.

:func:`find_regions` is the whole stage, the one chain both the pipeline and
``scripts/fit_tighten.py`` run: discovery, scale agreement with a second reading
(``agreement_scale``), saliency (``saliency_power``), the candidates (:func:`candidates`),
tightening (``tighten_margin``).
"""

from __future__ import annotations

from typing import Any

import torch

from autolabel.discovery import Region, get_discovery
from autolabel.discovery.agreement import agree
from autolabel.discovery.batched import discover_batch
from autolabel.discovery.saliency import key_norms, salient
from autolabel.discovery.tighten import pool_boxes, read, tighten
from autolabel.pipeline.work import Item

CANDIDATES_PER_BOX = 2
"""Regions refined per box an image may keep (``max_boxes``): see :func:`candidates`."""


def discover_regions(keys: torch.Tensor, grid: tuple[int, int], cfg: Any) -> list[Region]:
    """The object regions of one image, by the discovery method ``cfg.discovery`` names.

    Args:
        keys: ``(h * w, d)`` patch keys of the image, row-major over ``grid``.
        grid: ``(h, w)`` patches, height first.
        cfg: the method and its parameters (a :class:`~autolabel.config.PipelineConfig`).

    Returns:
        Regions (:class:`~autolabel.discovery.Region`: box in patch units of ``grid``, objectness,
        seed, patch mask), by descending objectness.
    """
    method = get_discovery(cfg.discovery)
    return method(keys, grid, **method.params_from(cfg))


def discover(keys: torch.Tensor, grid: tuple[int, int], cfg: Any) -> list[list[Region]]:
    """Regions of each of a batch's views: ``keys`` ``(B, h*w, d)`` on any device, all on one
    ``(h, w)`` grid; the method's batched form where it has one
    (:func:`~autolabel.discovery.batched.discover_batch`), else :func:`discover_regions` per view."""
    return discover_batch(keys, grid, cfg, discover_regions)


def find_regions(keys: torch.Tensor, second: torch.Tensor | None, grid: tuple[int, int], cfg: Any) -> list[list[Region]]:
    """The regions of each of a batch's views to refine, by descending objectness.

    Args:
        keys: ``(B, h*w, d)`` patch keys of the views, row-major over ``grid``, on any device.
        second: ``(B, h*w, d)`` keys of the same views read at ``cfg.agreement_scale`` and
            brought back to ``grid`` (:func:`~autolabel.pipeline.features.extract_rescaled`);
            None without scale agreement.
        grid: ``(h, w)`` patches, height first.
        cfg: a :class:`~autolabel.config.PipelineConfig`.

    Returns:
        Per view: :func:`discover`'s regions, with ``second``: rescored by
        :func:`~autolabel.discovery.agreement.agree` with the second reading's regions; with
        ``saliency_power``: rescored by :func:`~autolabel.discovery.saliency.salient`; cut to
        :func:`candidates`; with ``tighten_margin``: each replaced by a nested proposal where one
        looks more like one object (:func:`~autolabel.discovery.tighten.tighten`, which reads
        ``second``'s proposals too).
    """
    found = discover(keys, grid, cfg)
    if second is not None:
        others = discover(second, grid, cfg)
        found = [agree(mine, theirs, cfg.agreement_iou_low, cfg.agreement_iou_high, cfg.agreement_boost,
                       cfg.agreement_penalty) for mine, theirs in zip(found, others)]
    if cfg.saliency_power:
        found = [salient(regions, n, cfg.saliency_knee, cfg.saliency_power)
                 for regions, n in zip(found, key_norms(keys, grid))]
    chosen = [candidates(cfg, regions) for regions in found]
    if cfg.tighten_margin is None:
        return chosen
    return [tighten(regions, read(keys[k], grid), None if second is None else pool_boxes(second[k], grid), cfg.tighten_margin)
            for k, regions in enumerate(chosen)]


def candidates(cfg: Any, regions: list[Region]) -> list[Region]:
    """The regions worth refining: those at ``min_objectness`` or above, at most
    :data:`CANDIDATES_PER_BOX` x ``max_boxes`` of them by objectness. Refinement costs a few
    ms per region and a method such as ``maskcut`` can return a hundred components of
    random or noisy keys; only ``max_boxes`` survive selection, with some lost to the size
    filter and nested-duplicate suppression, hence the slack."""
    kept = [r for r in regions if r.objectness >= cfg.min_objectness]
    kept.sort(key=lambda r: -r.objectness)  # stable: the method's order among equals
    return kept[: CANDIDATES_PER_BOX * cfg.max_boxes]


def same_size_views(items: list[Item], limit: int) -> list[list[tuple[Item, int]]]:
    """``items``' views grouped by input shape, at most ``limit`` a group (one extractor batch
    each: a chunk of tiled photos has ``image_batch`` x tiles views, which must not all go
    through the extractor at once), as ``(item, view index)`` pairs in input order."""
    by_shape: dict[tuple[int, ...], list[tuple[Item, int]]] = {}
    for it in items:
        for i, v in enumerate(it.views):
            by_shape.setdefault(tuple(v.resized.tensor.shape), []).append((it, i))
    return [group[a: a + limit] for group in by_shape.values() for a in range(0, len(group), max(1, limit))]
