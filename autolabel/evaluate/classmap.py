"""Which run labels count as which ground-truth class: class-map files and the mapping."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from autolabel.errors import ConfigError
from autolabel.yamlio import excerpt, load_yaml


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").casefold().split())


@dataclass(frozen=True)
class ClassMapping:
    """Which run labels count as which ground-truth class.

    Attributes:
        to_gt: run label -> ground-truth class.
        gt_to_run: ground-truth class -> the run labels that count as it (classes with none
            are absent).
        unmatched_gt: ground-truth classes no run label maps to.
        notes: class-map entries that name unknown classes.
    """

    to_gt: dict[str, str]
    gt_to_run: dict[str, tuple[str, ...]]
    unmatched_gt: tuple[str, ...]
    notes: tuple[str, ...] = ()


def load_class_map(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Read a class map: YAML ``gt_name: run_label`` or ``gt_name: [run_label, ...]``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"class map {p}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"class map {p}: cannot read it ({e.strerror or e})") from None
    data = load_yaml(text, f"class map {p}")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"class map {p}: expected a mapping 'ground-truth class: run label(s)'")
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        vals = v if isinstance(v, list) else [v]
        if not all(isinstance(x, (str, int, float)) and str(x).strip() for x in vals) or not vals:
            raise ConfigError(f"class map {p}: {excerpt(k)} must map to a run label or a list of them, got {excerpt(v)}")
        out[str(k)] = [str(x) for x in vals]
    return out


def build_class_mapping(gt_classes: Sequence[str], run_classes: Sequence[str],
                        class_map: Mapping[str, str | Sequence[str]] | None = None) -> ClassMapping:
    """Map run labels to ground-truth classes.

    A class-map entry decides for its ground-truth class; other classes match run labels of
    the same name, compared without case and with ``_`` read as a space.
    """
    class_map = dict(class_map or {})
    notes = []
    run_by_norm: dict[str, list[str]] = {}
    for r in run_classes:
        run_by_norm.setdefault(_norm(r), []).append(r)
    gt_norm = {_norm(g): g for g in gt_classes}
    mapped_gt: dict[str, str] = {}  # class-map key -> GT class
    for k in class_map:
        g = k if k in gt_classes else gt_norm.get(_norm(k))
        if g is None:
            notes.append(f"class map names {k!r}, which is not a ground-truth class")
        else:
            mapped_gt[k] = g
    to_gt: dict[str, str] = {}

    def claim(run_label: str, g: str) -> None:
        prev = to_gt.get(run_label)
        if prev is not None and prev != g:
            raise ConfigError(f"run label {run_label!r} would count as both {prev!r} and {g!r}; give it to one class in the class map")
        to_gt[run_label] = g

    for k, g in mapped_gt.items():
        wanted = class_map[k]
        for r in [wanted] if isinstance(wanted, str) else wanted:
            found = r if r in run_classes else (run_by_norm.get(_norm(r)) or [None])[0]
            if found is None:
                notes.append(f"class map: {r!r} (for {g!r}) is not a label of this run")
                found = r
            claim(found, g)
    by_map = set(mapped_gt.values())
    for g in gt_classes:
        if g in by_map:
            continue
        for r in run_by_norm.get(_norm(g), []):
            if r not in to_gt:
                claim(r, g)
    gt_to_run: dict[str, tuple[str, ...]] = {}
    for r, g in sorted(to_gt.items()):
        gt_to_run[g] = gt_to_run.get(g, ()) + (r,)
    gt_to_run = {g: gt_to_run[g] for g in gt_classes if g in gt_to_run}
    unmatched = tuple(g for g in gt_classes if g not in gt_to_run)
    return ClassMapping(to_gt, gt_to_run, unmatched, tuple(notes))
