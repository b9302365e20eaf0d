"""Read a Label Studio JSON export: the file, its tasks, which image each shows, which annotation
decides it, and the regions of that annotation (pure; no file is written here).

Label Studio's "JSON" export is a list of tasks; each task has ``data`` (the image URL under
the key named by ``<Image value="$image">``) and ``annotations``, each with a ``result`` list
of regions::

    {"id": 7, "data": {"image": "/data/local-files/?d=images/cam1/0001.jpg"},
     "annotations": [{"id": 3, "was_cancelled": false, "updated_at": "2024-05-01T10:00:00Z",
       "result": [{"id": "0001-0", "type": "rectanglelabels", "from_name": "label",
                   "to_name": "image", "original_width": 640, "original_height": 480,
                   "value": {"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0,
                             "rotation": 0, "rectanglelabels": ["person"]}}]}]}

* **Task -> image** (:class:`ImageMatcher`, :func:`task_run_path`). ``data.path`` (our exporter
  writes the run path there) when it names an image of the run; else ``data.<key>`` is matched
  against the run's relative image paths: the ``d=`` parameter of a local-files URL
  (``/data/local-files/?d=<quote(relpath)>``, decoded the way Label Studio decodes it, so ``+``
  is a space), else the URL's path. The run path that is the longest trailing run of path
  components wins (``images/cam1/0001.jpg`` -> ``cam1/0001.jpg``); failing that, a basename
  that exactly one run image has (Label Studio's upload prefix ``1a2b3c4d-`` is ignored). Two
  folders' ``0001.jpg`` never get mixed up.
* **Which annotation** (:func:`latest_annotation`). The most recent one (``updated_at``, then
  ``created_at``, then id) that was not cancelled ("skipped").
* **Regions** (:func:`regions_of`). Result items sharing an id (a rectangle and its per-region
  labels) are merged into one :class:`Region`.

:mod:`autolabel.review.labelstudio` turns the regions into reviewed boxes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

from autolabel.errors import InputError
from autolabel.formats.labelstudio import url_to_relpath
from autolabel.types import ImageAnnotations

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_LABEL_KEYS = ("rectanglelabels", "polygonlabels", "brushlabels", "labels")
_BOX_KEYS = ("x", "y", "width", "height")


# -- task -> image ----------------------------------------------------------------------------


class ImageMatcher:
    """Maps a task's image URL to one of the run's relative image paths (see the module docstring)."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = sorted(set(paths))
        self._by_parts = {tuple(PurePosixPath(p).parts): p for p in self.paths}
        self._depth = max((len(k) for k in self._by_parts), default=0)
        by_name: dict[str, list[str]] = {}
        for p in self.paths:
            by_name.setdefault(PurePosixPath(p).name, []).append(p)
        self._unique_names = {n: ps[0] for n, ps in by_name.items() if len(ps) == 1}

    def match(self, url: str) -> str | None:
        """The run path ``url`` shows, or ``None``."""
        rel = url_to_relpath(url)
        parts = tuple(p for p in PurePosixPath(rel).parts if p not in ("", "."))
        if not parts:
            return None
        for n in range(min(len(parts), self._depth), 0, -1):
            hit = self._by_parts.get(parts[-n:])
            if hit is not None:
                return hit
        name = parts[-1]
        hit = self._unique_names.get(name)
        if hit is None and _UPLOAD_PREFIX.match(name):
            hit = self._unique_names.get(_UPLOAD_PREFIX.sub("", name, count=1))
        return hit


# -- regions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """One box of an annotation, merged over the result items that share its id.

    Attributes:
        key: Label Studio's region id (``None`` if the item had none).
        value: the rectangle's ``value`` (percent, top-left corner), the polygon's (``points``
            in percent) or the brush's (``rle``, see :mod:`autolabel.review.lsbrush`).
        label: first label of ``rectanglelabels``/``polygonlabels``/``brushlabels``/``labels``,
            ``None`` if none.
        labels: every label given (more than one is reported as a warning).
    """

    key: str | None
    value: Mapping[str, Any]
    label: str | None
    labels: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``"brush"`` (``value.rle``), ``"polygon"`` (``value.points``) or ``"rectangle"``."""
        if "rle" in self.value:
            return "brush"
        return "polygon" if "points" in self.value else "rectangle"

    @property
    def is_polygon(self) -> bool:
        """True for a polygon (``value.points``)."""
        return self.kind == "polygon"


def regions_of(result: Sequence[Mapping[str, Any]], from_name: str | None = None) -> tuple[list[Region], int]:
    """The rectangles, polygons and brushes in an annotation's ``result``; returns
    ``(regions, n_ignored_items)``.

    An item with ``x``, ``y``, ``width`` and ``height`` (a ``rectangle*`` item: any of them),
    ``points`` or ``rle`` is a region, whether or not its shape can be read (that is decided
    later, and reported). Other items (choices, text areas, relations, keypoints, ellipses) or
    items from another control than ``from_name`` (when given) are ignored and counted.
    """
    order: list[str | None] = []
    merged: dict[str | None, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    ignored = 0
    for item in result:
        if not isinstance(item, Mapping):
            ignored += 1
            continue
        value = item.get("value")
        if from_name is not None and item.get("from_name") != from_name:
            ignored += 1
            continue
        if not isinstance(value, Mapping):
            ignored += 1
            continue
        # a shape that cannot be read is reported, never taken for no shape: a rectangle item
        # with some of its keys counts, as does any points or rle (keypoints, ellipses: not ours)
        is_rectangle = str(item.get("type", "")).startswith("rectangle")
        has_geometry = (all(k in value for k in _BOX_KEYS) or (is_rectangle and any(k in value for k in _BOX_KEYS))
                        or "points" in value or "rle" in value)
        labels = next((value[k] for k in _LABEL_KEYS if k in value), None)
        if not has_geometry and labels is None:
            ignored += 1
            continue
        key = item.get("id")
        slot: dict[str, Any]
        if key is None:
            slot = {"value": None, "labels": None}
            anonymous.append(slot)
        else:
            key = str(key)
            if key not in merged:
                merged[key] = {"value": None, "labels": None}
                order.append(key)
            slot = merged[key]
        if has_geometry and slot["value"] is None:
            slot["value"] = value
        if labels is not None and slot["labels"] is None:
            slot["labels"] = labels
    out: list[Region] = []
    for key, slot in [(k, merged[k]) for k in order] + [(None, s) for s in anonymous]:
        if slot["value"] is None:
            ignored += 1
            continue
        raw = slot["labels"]
        labels = tuple(str(x) for x in raw) if isinstance(raw, (list, tuple)) else ((str(raw),) if raw else ())
        out.append(Region(key=key, value=slot["value"], label=labels[0] if labels else None, labels=labels))
    return out, ignored


# -- annotations -----------------------------------------------------------------------------


def _when(ann: Mapping[str, Any], key: str) -> float:
    raw = ann.get(key)
    if not isinstance(raw, str) or not raw:
        return float("-inf")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("-inf")


def annotation_rank(ann: Mapping[str, Any]) -> tuple[float, float, float]:
    """Sort key of an annotation: ``updated_at``, then ``created_at``, then its id (newest last)."""
    ident = ann.get("id")
    return (_when(ann, "updated_at"), _when(ann, "created_at"), number(ident))


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (ids in messages can be absurdly long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(value: Any) -> float:
    """An id as a sortable float: huge ints (an id of 10**400) saturate instead of overflowing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float("-inf")
    try:
        v = float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")
    return v if math.isfinite(v) else float("-inf")


def latest_annotation(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The task's most recent annotation that was not cancelled, or ``None``."""
    raw = task.get("annotations")
    raw = [] if raw is None else raw
    if not isinstance(raw, (list, tuple)):
        raise InputError(f"task {short(task.get('id'))}: 'annotations' must be a list, got {type(raw).__name__}")
    anns = [a for a in raw if isinstance(a, Mapping) and not a.get("was_cancelled")]
    return max(anns, key=annotation_rank) if anns else None


# -- tasks ---------------------------------------------------------------------------------


def task_run_path(task: Mapping[str, Any], base: Mapping[str, ImageAnnotations]) -> str | None:
    """``data.path`` when our exporter wrote it and it names an image of the run."""
    data = task.get("data")
    path = data.get("path") if isinstance(data, Mapping) else None
    return path if isinstance(path, str) and path in base else None


def task_image_url(task: Mapping[str, Any], image_key: str | None) -> str | None:
    data = task.get("data")
    """The image URL of the task: ``data.<image_key>``, else ``data.image``, else the only string."""
    if not isinstance(data, Mapping):
        return None
    if image_key is not None:
        v = data.get(image_key)
        return v if isinstance(v, str) else None
    if isinstance(data.get("image"), str):
        return data["image"]
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def load_export(path: str | Path) -> list[Mapping[str, Any]]:
    """Read a Label Studio JSON export; :class:`InputError` naming the file if it is not one."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"Label Studio export {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read Label Studio export {p}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{p} is not JSON ({e.msg} at line {e.lineno}); export the project with the 'JSON' format") from None
    except RecursionError:
        raise InputError(f"{p}: JSON nested too deeply to be a Label Studio export") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise InputError(f"{p}: {str(e)[:120]}") from None
    if isinstance(data, Mapping) and "data" in data:
        data = [data]  # a single task
    if not isinstance(data, list):
        raise InputError(f"{p}: expected a JSON list of Label Studio tasks, got a {type(data).__name__}")
    return data
