"""The run's FiftyOne dataset: build it (samples, saved views, label schema) and pull the corrections back.

* :func:`build_dataset` creates (or extends) a persistent FiftyOne dataset with one sample
  per image of the run and a ``predictions`` field of ``fo.Detections``; every detection
  carries ``confidence`` (our ``score``), ``objectness``, ``label_id``, ``topk`` /
  ``topk_scores``, ``source``, ``max_iou`` and our stable id as ``autolabel_id`` (FiftyOne keeps
  its own label ids and renumbers COCO ids, so ours has to ride along). Saved views put the
  likeliest mistakes first (:data:`VIEWS`), and a label schema with the run's class list is
  set and activated so boxes can be relabeled, moved, deleted and drawn in the App.
* :mod:`autolabel.review.app` serves the App on 127.0.0.1 and stops it.
* :func:`pull` reads the dataset back and stores a corrected revision of the run beside the
  original predictions (rules in :mod:`autolabel.review.corrections`).

Coordinates: FiftyOne boxes are ``[x, y, w, h]`` relative to the image size; ours are pixel
``(x1, y1, x2, y2)``. Both use the displayed (EXIF-transposed) size stored in the run.

FiftyOne is imported inside the functions that need it, and connected through
:func:`autolabel.review.database.connect_fiftyone` (a missing or unreachable database is one
clear error in seconds). The conversions and the label schema
(:mod:`autolabel.review.fields`) and the review state (:mod:`autolabel.review.state`) work
without it (and without a database).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from autolabel.errors import RunError
from autolabel.review.corrections import (
    CorrectionSummary,
    ReviewedBox,
    correct_images,
    label_id_map,
)
from autolabel.review.database import connect_fiftyone, import_fiftyone
from autolabel.review.fields import (
    ATTRIBUTES,
    FIELD,
    OVERLAP_IOU,
    detection_fields,
    label_schema,
    overlaps,
    reviewed_box,
)
from autolabel.review.state import STATE_FILE, resolve_dataset_name
from autolabel.store import LATEST, ORIGINAL, RunStore, write_json_atomic
from autolabel.types import ImageAnnotations

if TYPE_CHECKING:  # pragma: no cover
    import fiftyone as fo

log = logging.getLogger(__name__)

REVISION_SOURCE = "fiftyone"
"""Source name of the revisions :func:`pull` writes (``revisions/NNN-fiftyone.jsonl``)."""

VIEWS: dict[str, str] = {
    "low-confidence": "every box as a patch, lowest class probability first",
    "low-objectness": "every box as a patch, lowest discovery score first",
    "overlapping": f"images with box pairs of IoU >= {OVERLAP_IOU}, most pairs first",
    "outside-classes": "boxes whose label is not in the run's chosen classes",
    "no-boxes": "images without any box",
}
"""Saved views, in the order a reviewer should work through them."""


# -- label ids for relabels -----------------------------------------------------------------------
def label_space_ids(subset: str | None) -> dict[str, str]:
    """Readable name -> synset for every class of the classifier's label space (``{}`` if unknown).

    ``subset`` is the manifest's ``label_space`` (``imagenet-1k``, ``imagenet-22k``); names are
    the ones :mod:`autolabel.vocabulary` gives the classifier's outputs.
    """
    if not subset or subset == "unknown":
        return {}
    try:
        from timm.data import ImageNetInfo

        from autolabel.vocabulary import get_label_space

        space = get_label_space(subset, ImageNetInfo(subset).num_classes())
    except Exception as e:  # an unknown subset, or timm without the names: relabels keep the name
        log.debug("label space %r unavailable (%s)", subset, e)
        return {}
    return dict(zip(space.names, space.synsets))


class _LabelIds(Mapping[str, str]):
    """``label -> label_id``: the run's own pairs, then (loaded on the first miss) its label space."""

    def __init__(self, known: Mapping[str, str], subset: str | None) -> None:
        self._known = dict(known)
        self._subset = subset
        self._space: dict[str, str] | None = None

    def __getitem__(self, label: str) -> str:
        if label in self._known:
            return self._known[label]
        if self._space is None:
            self._space = label_space_ids(self._subset)
        return self._space[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


MAX_DROPDOWN = 1000
"""An open-vocabulary run offers its classifier's whole label space in the App if it is no larger."""


# -- FiftyOne -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_dataset` did.

    Attributes:
        dataset: the dataset's name.
        added: samples added now (images new to the dataset).
        existing: samples that were already there (left as they were).
        created: True if the dataset did not exist before.
    """

    dataset: str
    added: int
    existing: int
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "added": self.added, "existing": self.existing, "created": self.created}


@dataclass(frozen=True)
class PullResult:
    """What :func:`pull` stored: the new revision's name, the dataset read, and what changed.

    Attributes:
        revision: the revision written, or None when the review changed nothing since
            ``base`` (then none is written).
        dataset: the dataset read.
        corrections: the counts of :mod:`autolabel.review.corrections`.
        base: the revision the run was at before the pull (``original``: no revision yet).
    """

    revision: str | None
    dataset: str
    corrections: CorrectionSummary
    base: str = ORIGINAL

    def to_dict(self) -> dict[str, Any]:
        """The summary stored beside the revision: the correction counts plus ``dataset``."""
        return {**self.corrections.to_dict(), "dataset": self.dataset}


def _declare_fields(ds: "fo.Dataset") -> None:
    fo = import_fiftyone()
    types = {"str": (fo.StringField, None), "float": (fo.FloatField, None), "list<str>": (fo.ListField, fo.StringField), "list<float>": (fo.ListField, fo.FloatField)}
    schema = ds.get_field_schema(flat=True)
    if "autolabel_path" not in schema:
        ds.add_sample_field("autolabel_path", fo.StringField)
        ds.add_sample_field("autolabel_revision", fo.StringField)
        ds.add_sample_field("overlaps", fo.IntField)
    if FIELD not in schema:
        ds.add_sample_field(FIELD, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    for name, t in ATTRIBUTES.items():
        path = f"{FIELD}.detections.{name}"
        if path not in schema:
            ftype, sub = types[t]
            if sub is None:
                ds.add_sample_field(path, ftype)
            else:
                ds.add_sample_field(path, ftype, subfield=sub)
    if not ds.has_sample_field("autolabel_path"):  # pragma: no cover - defensive
        raise RunError(f"cannot declare the review fields on dataset {ds.name!r}")
    with contextlib.suppress(Exception):
        ds.create_index("autolabel_path", unique=True)


def _sample(fo: Any, root: Path, img: ImageAnnotations, revision: str) -> "fo.Sample":
    best, pairs = overlaps(img.detections)
    dets = [fo.Detection(**detection_fields(d, img.width, img.height, m)) for d, m in zip(img.detections, best)]
    return fo.Sample(
        filepath=str((root / img.path).resolve()),
        metadata=fo.ImageMetadata(width=img.width, height=img.height),
        autolabel_path=img.path,
        autolabel_revision=revision,
        overlaps=int(pairs),
        **{FIELD: fo.Detections(detections=dets)},
    )


def _save_views(ds: "fo.Dataset", chosen: Sequence[str] | None) -> None:
    from fiftyone import ViewField as F

    patches = ds.to_patches(FIELD)
    views = {
        "low-confidence": patches.sort_by([(f"{FIELD}.confidence", 1), ("filepath", 1)]),
        "low-objectness": patches.sort_by([(f"{FIELD}.objectness", 1), ("filepath", 1)]),
        "overlapping": ds.match(F("overlaps") > 0).sort_by([("overlaps", -1), ("filepath", 1)]),
        # an open-vocabulary run chose no classes, so nothing is outside them
        "outside-classes": ds.filter_labels(FIELD, ~F("label").is_in(list(chosen)) if chosen else F("label").is_in([])).sort_by("filepath"),
        "no-boxes": ds.match(F(f"{FIELD}.detections").length() == 0).sort_by("filepath"),
    }
    for name, view in views.items():
        ds.save_view(name, view, description=VIEWS[name], overwrite=True)


def _set_schema(ds: "fo.Dataset", classes: Sequence[str], more: Iterable[str] = ()) -> None:
    present = {c for c in ds.distinct(f"{FIELD}.detections.label") if c}
    full = list(classes) + sorted((present | set(more)) - set(classes))
    ds.set_label_schemas({FIELD: label_schema(full)})
    ds.activate_label_schemas(FIELD)


def build_dataset(store: RunStore, dataset: str | None = None) -> BuildResult:
    """Create or extend the run's FiftyOne dataset (idempotent).

    New images get a sample built from their newest record (the latest revision if it has
    the image, else the original predictions); the sample remembers which in
    ``autolabel_revision``, and :func:`pull` compares against that. Samples already in the
    dataset are left alone, so tags and edits survive. Images that failed intake have no
    prediction record and so no sample. Saved views and the label schema are (re)written.

    Raises:
        RunError: the run is unreadable, or the dataset belongs to another run.
    """
    manifest = store.read_manifest()
    info = store.info(LATEST)
    name = resolve_dataset_name(store, dataset)
    run_key = str(store.run_dir.resolve())
    fo = connect_fiftyone()
    created = not fo.dataset_exists(name)
    if created:
        ds = fo.Dataset(name, persistent=True)
        ds.info = {"autolabel_run": run_key}
        ds.save()
    else:
        ds = fo.load_dataset(name)
        owner = (ds.info or {}).get("autolabel_run")
        if owner != run_key:
            raise RunError(
                f"FiftyOne dataset {name!r} belongs to {owner or 'something else'}, not {run_key}; "
                "choose another name with --dataset"
            )
    _declare_fields(ds)
    if ds.media_type is None:  # a run may have no images yet; set after the fields, which it completes
        ds.media_type = "image"

    latest_name = store.resolve_revision(LATEST)
    latest = {i.path: i for i in store.iter_images(latest_name)} if latest_name else {}
    existing = set(ds.values("autolabel_path")) - {None}
    root = info.image_root
    new = []
    missing = 0
    for img in store.iter_images(ORIGINAL):
        if img.path in existing:
            continue
        rec, rev = (latest[img.path], latest_name) if img.path in latest else (img, ORIGINAL)
        missing += not (root / img.path).exists()
        new.append(_sample(fo, root, rec, rev))
    if missing:
        log.warning("%d image(s) are missing under %s; the App will show them as broken", missing, root)
    if new:
        ds.add_samples(new, progress=False)
    _save_views(ds, manifest.get("classes"))
    more: list[str] = []
    if manifest.get("classes") is None:  # open vocabulary: any name the classifier knows
        space = label_space_ids(manifest.get("label_space"))
        if len(space) <= MAX_DROPDOWN:
            more = list(space)
    _set_schema(ds, info.classes, more)
    write_json_atomic(store.run_dir / STATE_FILE, {"dataset": name})
    log.info("dataset %s: %d new sample(s), %d already there", name, len(new), len(existing))
    return BuildResult(dataset=name, added=len(new), existing=len(existing), created=created)


def _attr(label: Any, name: str) -> Any:
    try:
        return label[name]
    except (KeyError, AttributeError):
        return None


def _same_images(images: Iterable[ImageAnnotations], current: Mapping[str, ImageAnnotations]) -> bool:
    """True if ``images`` are exactly the run's ``current`` records (same paths, same records)."""
    seen = 0
    for img in images:
        seen += 1
        if img.path not in current or current[img.path].to_dict() != img.to_dict():
            return False
    return seen == len(current)


def pull(store: RunStore, dataset: str | None = None) -> PullResult:
    """Read the reviewed dataset back into the run as a new corrected revision.

    Every image of the run is in the revision: reviewed ones corrected against the record
    their sample was built from, the others as in the latest revision (or the original).
    A review that changes nothing (the result equals the run as it reads now) writes no
    revision: the result's ``revision`` is None.
    Ids given to drawn boxes are written back to the dataset (``autolabel_id``) so the
    next pull keeps them. The original predictions are never touched.

    Returns:
        A :class:`PullResult`: the revision's name (None if nothing changed), the dataset,
        the counts of :mod:`autolabel.review.corrections`, and the revision it started from.

    Raises:
        RunError: no such dataset (run ``autolabel review RUN`` first) or it belongs to
            another run; :class:`~autolabel.errors.RunLockedError` while ``annotate`` writes.
    """
    manifest = store.read_manifest()
    name = resolve_dataset_name(store, dataset)
    fo = connect_fiftyone()
    if not fo.dataset_exists(name):
        raise RunError(f"no FiftyOne dataset {name!r} for run {store.run_dir}; run `autolabel review {store.run_dir}` first")
    ds = fo.load_dataset(name)
    run_key = str(store.run_dir.resolve())
    if (ds.info or {}).get("autolabel_run") != run_key:
        raise RunError(f"FiftyOne dataset {name!r} does not belong to run {run_key}")

    with store.lock():
        original = {i.path: i for i in store.iter_images(ORIGINAL)}
        latest_name = store.resolve_revision(LATEST)
        records: dict[str, dict[str, ImageAnnotations]] = {ORIGINAL: original}

        def record(rev: str | None, path: str) -> ImageAnnotations:
            rev = rev or ORIGINAL
            if rev not in records:
                try:
                    records[rev] = {i.path: i for i in store.iter_images(rev)}
                except RunError:
                    log.warning("revision %s is gone; comparing with the original predictions", rev)
                    records[rev] = {}
            return records[rev].get(path) or original[path]

        bases: dict[str, ImageAnnotations] = {}
        reviews: dict[str, list[ReviewedBox]] = {}
        sample_ids: dict[str, str] = {}
        for sid, path, rev, dets in zip(
            *ds.values(["id", "autolabel_path", "autolabel_revision", f"{FIELD}.detections"])
        ):
            if path not in original:
                log.warning("sample %s (%s) is not an image of the run; ignored", sid, path)
                continue
            base = record(rev, path)
            boxes = []
            for d in dets or ():
                rb = reviewed_box(d.label, d.bounding_box, d.tags, _attr(d, "autolabel_id"), base.width, base.height, key=d.id)
                if rb is not None:
                    boxes.append(rb)
            bases[path] = base
            reviews[path] = boxes
            sample_ids[path] = sid

        latest = {i.path: i for i in store.iter_images(latest_name)} if latest_name else {}
        others = [latest.get(p, img) for p, img in original.items() if p not in bases]
        # a vocabulary's classes are their own label_id (as the labeler writes them)
        known = {c: c for c in manifest.get("classes") or ()}
        known.update(label_id_map(original[p] for p in sorted(original)))
        label_ids = _LabelIds(known, manifest.get("label_space"))
        result = correct_images(list(bases.values()) + others, reviews, label_ids)
        pulled = PullResult(revision=None, dataset=name, corrections=result.summary, base=latest_name or ORIGINAL)
        now = {p: latest.get(p, img) for p, img in original.items()}
        if not result.assigned and _same_images(result.images, now):
            log.info("nothing changed in %s since %s; no revision written", name, pulled.base)
            return pulled
        revision = store.write_revision(REVISION_SOURCE, result.images, pulled.to_dict())

    for path, assigned in result.assigned.items():
        sample = ds[sample_ids[path]]
        by_key = {d.id: d for d in sample[FIELD].detections}
        for _, key, new_id in assigned:
            if key in by_key:
                by_key[key]["autolabel_id"] = new_id
                by_key[key]["source"] = "human"
        sample.save()
    log.info("pulled %s into %s", name, revision)
    return dataclasses.replace(pulled, revision=revision)


