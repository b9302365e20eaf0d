"""Pair ground-truth images with run images by path.

Rules, applied in order to the images still unpaired, each pairing only keys that are unique on
both sides (so one image's boxes never land on another):

1. the relative path (``cam1/0001.jpg``);
2. the relative path without its extension (a YOLO label whose image is absent: ``cam1/0001``);
3. the file name (``0001.jpg``), for ground truth that flattened the folders;
4. the file name without its extension.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Callable, Iterable

RULES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("path", lambda p: p),
    ("path without extension", lambda p: posixpath.splitext(p)[0]),
    ("file name", lambda p: posixpath.basename(p)),
    ("file name without extension", lambda p: posixpath.splitext(posixpath.basename(p))[0]),
)


@dataclass(frozen=True)
class PathPairing:
    """Result of :func:`pair_paths`.

    Attributes:
        pairs: ``{gt_path: run_path}``.
        gt_only: ground-truth paths with no run image, sorted.
        run_only: run paths with no ground truth, sorted.
        by_rule: how many pairs each rule made (rule name -> count; rules that made none omitted).
    """

    pairs: dict[str, str]
    gt_only: tuple[str, ...]
    run_only: tuple[str, ...]
    by_rule: dict[str, int]


def pair_paths(gt_paths: Iterable[str], run_paths: Iterable[str]) -> PathPairing:
    """Pair ``gt_paths`` with ``run_paths`` by the rules in the module doc."""
    gt_left = sorted(set(gt_paths))
    run_left = sorted(set(run_paths))
    pairs: dict[str, str] = {}
    by_rule: dict[str, int] = {}
    for name, key in RULES:
        if not gt_left or not run_left:
            break
        gk: dict[str, list[str]] = {}
        rk: dict[str, list[str]] = {}
        for p in gt_left:
            gk.setdefault(key(p), []).append(p)
        for p in run_left:
            rk.setdefault(key(p), []).append(p)
        made = 0
        for k, gs in gk.items():
            rs = rk.get(k)
            if rs is not None and len(gs) == 1 and len(rs) == 1:
                pairs[gs[0]] = rs[0]
                made += 1
        if made:
            by_rule[name] = made
            used = set(pairs.values())
            gt_left = [p for p in gt_left if p not in pairs]
            run_left = [p for p in run_left if p not in used]
    return PathPairing(pairs, tuple(gt_left), tuple(run_left), by_rule)
