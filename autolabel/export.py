"""Exporters: the plugin seam and the driver that writes a stored run in one or more formats.

An exporter is a class registered in the ``autolabel.exporters`` entry-point group (the five
built-ins in ``exporters/`` register exactly like a third-party package). Its life cycle::

    exporter = ExporterClass(out_dir, run_info, images="none", split=None, **format_options)
    exporter.open()                  # make folders, start aggregate files
    exporter.write(image)            # once per image, sorted by path, boxes already filtered
    written = exporter.close()       # finish aggregate files; return the files/folders written

The driver (:func:`export` / :func:`run_export`) reads the run through
:class:`~autolabel.store.RunStore`, applies the common filters (``min_score``, ``classes``),
clips every box to its image, and streams images one at a time to every requested exporter.
Each format is written into a temporary sibling of ``<out_dir>/<format>`` and renamed into
place only when it is complete, so a crash never leaves a half-written export that looks done.

Coordinates handed to exporters are pixel ``(x1, y1, x2, y2)`` floats in the displayed image,
origin top-left, ``x2``/``y2`` exclusive, inside ``[0, W] x [0, H]``, with ``x2 > x1`` and
``y2 > y1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Sequence

from autolabel.errors import ExportError
from autolabel.store import LATEST, ORIGINAL, RunStore
from autolabel.geometry import clip_box
from autolabel.types import Detection, ImageAnnotations, RunInfo

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "autolabel.exporters"
"""The entry-point group that exporters (built-in and third-party) register in."""

IMAGE_MODES = ("none", "copy", "link")
"""What happens to the image files: not written (``none``), copied, or linked (hard link, else
symbolic link)."""

COMMON_OPTIONS = ("images", "split")
"""Options every exporter receives (besides its own declared :attr:`Exporter.options`)."""

DRIVER_OPTIONS = ("min_score", "classes", "copy_images", "link_images")
"""Options the driver consumes itself (filters and the image mode)."""


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """A format-specific option an exporter accepts.

    Attributes:
        default: value used when the option is not given; its type (bool, int, float, str)
            is the type values are converted to (strings such as ``"true"`` or ``"0.5"`` from
            the command line included).
        help: one line for ``autolabel formats`` and the README.
        choices: allowed values, if restricted.
    """

    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def convert(self, name: str, value: Any) -> Any:
        """``value`` converted to the default's type; :class:`ExportError` if it does not fit."""
        kind = type(self.default)
        try:
            if kind is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low in ("1", "true", "yes", "on"):
                        value = True
                    elif low in ("0", "false", "no", "off"):
                        value = False
                    else:
                        raise ValueError(value)
                value = bool(value)
            elif kind in (int, float, str):
                value = kind(value)
        except (TypeError, ValueError):
            raise ExportError(f"option {name!r} expects a {kind.__name__}, got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise ExportError(f"option {name!r} must be one of {allowed}, got {value!r}")
        return value


# --------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------
class Exporter:
    """Base class of every exporter. Subclass it, set the class attributes, implement
    :meth:`write` (and usually :meth:`open` / :meth:`close`), and register the class in the
    ``autolabel.exporters`` entry-point group.

    Class attributes:
        name: the format's name; equals its entry-point name.
        description: one line shown by ``autolabel formats``.
        default_split: split/subset name used when the user gives none.
        options: format-specific options (name -> :class:`Option`); passed as keyword
            arguments to ``__init__`` and readable afterwards in :attr:`opts`.

    Instance attributes set by ``__init__`` (store only; no file is touched before
    :meth:`open`):
        out_dir: the folder to write into (a temporary folder renamed into place later).
        run: the run's :class:`RunInfo`; ``run.classes`` is the ordered class list every
            format must declare in full, ``run.class_id(label)`` the 0-based index.
        images: ``"none"``, ``"copy"`` or ``"link"`` (see :meth:`place_image`).
        split: the split name.
        opts: the format options with defaults filled in.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_split: ClassVar[str] = "default"
    options: ClassVar[Mapping[str, Option]] = {}

    def __init__(self, out_dir: str | os.PathLike[str], run: RunInfo, *, images: str = "none",
                 split: str | None = None, **options: Any) -> None:
        self.out_dir = Path(out_dir)
        self.run = run
        if images not in IMAGE_MODES:
            raise ExportError(f"images must be one of {', '.join(IMAGE_MODES)}, got {images!r}")
        self.images = images
        self.split = validate_split(split) if split else self.default_split
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ExportError(f"format {self.name or type(self).__name__!r} does not take option(s) "
                              f"{', '.join(unknown)}; its options: {known}")
        self._warned_symlink = False
        self.opts: dict[str, Any] = {k: o.default for k, o in self.options.items()}
        for k, v in options.items():
            self.opts[k] = self.options[k].convert(k, v)

    # -- life cycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Prepare to write (the default makes :attr:`out_dir`)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def write(self, image: ImageAnnotations) -> None:
        """Write one image and its (already filtered and clipped) detections."""
        raise NotImplementedError

    def close(self) -> list[Path]:
        """Finish aggregate files; return the files and folders written (under :attr:`out_dir`)."""
        return []

    # -- helpers for subclasses ------------------------------------------------------------
    def source_path(self, image: ImageAnnotations) -> Path:
        """Where the image file of ``image`` lives: ``run.image_root / image.path``."""
        return self.run.image_root / image.path

    def place_image(self, image: ImageAnnotations, dest: Path) -> bool:
        """Copy or link the image file to ``dest`` as :attr:`images` says.

        ``"link"`` makes a hard link (a plain file to every reader, no extra space); where that
        is impossible (another file system) it falls back to a symbolic link and warns once.

        Returns True if a file was placed (False in mode ``"none"``). Raises
        :class:`ExportError` naming the file if the source image is missing.
        """
        if self.images == "none":
            return False
        src = self.source_path(image)
        if not src.is_file():
            raise ExportError(f"image {src} not found (run image root {self.run.image_root}); "
                              "export without --copy-images/--link-images, or put the images back")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.images == "copy":
            shutil.copyfile(src, dest)
            return True
        try:
            os.link(src, dest)
        except OSError as e:
            if not self._warned_symlink:
                log.warning("cannot hard-link %s into %s (%s); using symbolic links, which datumaro (and CVAT "
                            "imports built on it) refuse to follow out of the export folder", src, self.out_dir,
                            e.strerror or e)
                self._warned_symlink = True
            os.symlink(src.resolve(), dest)
        return True


def validate_split(split: str) -> str:
    """``split`` if it is usable as a folder and file-name part; :class:`ExportError` if not."""
    if not isinstance(split, str) or not split or split in (".", "..") or any(c in split for c in "/\\\0") or split.strip() != split:
        raise ExportError(f"split must be a plain name such as 'train' or 'default', got {split!r}")
    return split


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
def _entry_points() -> list[metadata.EntryPoint]:
    """Every entry point of the ``autolabel.exporters`` group, in discovery order."""
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def exporter_entry_points() -> dict[str, metadata.EntryPoint]:
    """Registered exporters, name -> entry point (first registration of a name wins), sorted."""
    found: dict[str, metadata.EntryPoint] = {}
    for ep in _entry_points():
        if ep.name in found:
            if found[ep.name].value != ep.value:
                log.warning("exporter %r is registered twice (%s and %s); using %s",
                            ep.name, found[ep.name].value, ep.value, found[ep.name].value)
            continue
        found[ep.name] = ep
    return dict(sorted(found.items()))


def list_exporters() -> list[str]:
    """Names of the registered exporters, sorted. Imports none of them."""
    return list(exporter_entry_points())


def entry_point_origin(ep: metadata.EntryPoint) -> str:
    """``"built-in"`` for this package's exporters, else ``"<distribution> <version>"``."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown"
    name = dist.metadata["Name"] or "unknown"
    if name.lower().replace("_", "-") == "autolabel-dino":
        return "built-in"
    return f"{name} {dist.version}"


def get_exporter(name: str) -> type[Exporter]:
    """The exporter class registered as ``name``, imported now.

    Raises:
        ExportError: the name is unknown ("unknown format 'x'; available: ..."), the plugin
            fails to import, or what it registers is not an :class:`Exporter` subclass.
    """
    eps = exporter_entry_points()
    ep = eps.get(name)
    if ep is None:
        available = ", ".join(eps) or "none (is autolabel-dino installed? try `pip install -e .`)"
        raise ExportError(f"unknown format {name!r}; available: {available}")
    try:
        obj = ep.load()
    except Exception as e:  # a broken plugin must not look like our bug
        raise ExportError(f"format {name!r} ({ep.value}, from {entry_point_origin(ep)}) failed to load: "
                          f"{type(e).__name__}: {e}") from e
    if not (isinstance(obj, type) and issubclass(obj, Exporter)):
        raise ExportError(f"format {name!r} ({ep.value}, from {entry_point_origin(ep)}) is not an "
                          f"autolabel Exporter subclass (got {obj!r})")
    if obj.name and obj.name != name:
        log.warning("exporter class %s calls itself %r but is registered as %r", obj.__qualname__, obj.name, name)
    return obj


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
@dataclass
class ExportReport:
    """What one :func:`run_export` call did.

    Attributes:
        revision: the revision exported (``"original"`` for the pipeline's predictions).
        classes: the class list every format declared, in order.
        image_root: the folder the run's image paths are relative to.
        images: number of images written.
        boxes: number of boxes written (per format; the same for every format).
        dropped: boxes left out by ``min_score`` / ``classes`` / zero size after clipping.
        dirs: format -> its final folder.
        files: format -> files and folders written (final paths).
    """

    revision: str
    classes: tuple[str, ...]
    image_root: Path = Path(".")
    images: int = 0
    boxes: int = 0
    dropped: int = 0
    dirs: dict[str, Path] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)


def _normalise_formats(formats: str | Sequence[str]) -> list[str]:
    names = [formats] if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                out.extend(list_exporters())
            else:
                out.append(part)
    seen: list[str] = []
    for n in out:
        if n not in seen:
            seen.append(n)
    if not seen:
        raise ExportError("no export format given; available: " + (", ".join(list_exporters()) or "none"))
    return seen


def _image_mode(options: dict[str, Any]) -> str:
    copy = bool(options.pop("copy_images", False))
    link = bool(options.pop("link_images", False))
    mode = options.pop("images", None)
    if copy and link:
        raise ExportError("choose one of copy_images (--copy-images) and link_images (--link-images)")
    implied = "copy" if copy else "link" if link else None
    if mode is not None and implied is not None and mode != implied:
        raise ExportError(f"images={mode!r} contradicts {'copy' if copy else 'link'}_images")
    mode = mode or implied or "none"
    if mode not in IMAGE_MODES:
        raise ExportError(f"images must be one of {', '.join(IMAGE_MODES)}, got {mode!r}")
    return mode


def _subset_classes(run: RunInfo, classes: Iterable[str] | None) -> RunInfo:
    if classes is None:
        return run
    wanted = list(dict.fromkeys(classes))
    if not wanted:
        raise ExportError("classes is empty; give at least one class or leave it out")
    unknown = [c for c in wanted if c not in run.classes]
    if unknown:
        raise ExportError(f"class(es) {', '.join(repr(c) for c in unknown)} are not in the run; "
                          f"its classes: {', '.join(repr(c) for c in run.classes)}")
    keep = set(wanted)
    return dataclasses.replace(run, classes=tuple(c for c in run.classes if c in keep))


def filter_image(image: ImageAnnotations, classes: frozenset[str], min_score: float) -> tuple[ImageAnnotations, int]:
    """Keep detections with a label in ``classes`` and ``score >= min_score``; clip each box to
    the image and drop any that is empty after clipping. Returns the image and how many
    detections were dropped."""
    kept: list[Detection] = []
    changed = False
    for d in image.detections:
        if d.label not in classes or d.score < min_score:
            changed = True
            continue
        box = clip_box(d.box, image.width, image.height)
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            log.debug("%s: dropping detection %s, empty after clipping", image.path, d.id)
            changed = True
            continue
        if box != d.box:
            d = d.with_(box=box)
            changed = True
        kept.append(d)
    if not changed:
        return image, 0
    return dataclasses.replace(image, detections=tuple(kept)), len(image.detections) - len(kept)


def _scratch_prefix(name: str, kind: str) -> str:
    """``.<name>.<kind>-``: the hidden folders an export of ``name`` works in (``kind`` ``tmp``
    while writing, ``old`` while replacing), each followed by ``<pid>-`` and a random part."""
    return f".{name}.{kind}-"


def _scratch_dir(parent: Path, name: str, kind: str) -> Path:
    """A new empty scratch folder in ``parent`` named for this process (see :func:`recover_interrupted`)."""
    return Path(tempfile.mkdtemp(prefix=f"{_scratch_prefix(name, kind)}{os.getpid()}-", dir=parent))


def _commit(tmp: Path, final: Path) -> None:
    """Put the finished ``tmp`` folder at ``final``, replacing an older export."""
    old: Path | None = None
    if final.exists() or final.is_symlink():
        if not final.is_dir() or final.is_symlink():
            raise ExportError(f"{final} exists and is not a folder; move it away or choose another output folder")
        old = _scratch_dir(final.parent, final.name, "old")
        os.rmdir(old)
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can judge: leave its folder alone
    return True


def recover_interrupted(out: Path, name: str) -> list[Path]:
    """Clean up after an export of ``name`` into ``out`` that was killed (SIGKILL, power loss).

    An export writes ``.<name>.tmp-<pid>-*`` and, while replacing an older export, moves that to
    ``.<name>.old-<pid>-*`` for an instant. For such folders whose process is gone: an older
    export is put back at ``<name>`` if nothing is there (the user never loses it), other
    leftovers are deleted. Folders of live processes are left alone.

    Returns:
        The folders removed or restored.
    """
    done: list[Path] = []
    final = out / name
    for kind in ("old", "tmp"):  # restore an older export before deleting half-written ones
        prefix = _scratch_prefix(name, kind)
        for p in sorted(out.glob(f"{prefix}*-*")):
            pid = p.name[len(prefix):].split("-", 1)[0]
            if not pid.isdigit() or _pid_alive(int(pid)) or not p.is_dir():
                continue
            if kind == "old" and not (final.exists() or final.is_symlink()):
                os.rename(p, final)
                log.warning("restored %s from an export that was interrupted", final)
            else:
                shutil.rmtree(p, ignore_errors=True)
                log.info("removed %s, left by an export that was interrupted", p)
            done.append(p)
    return done


def run_export(run: str | os.PathLike[str] | RunStore, formats: str | Sequence[str], out_dir: str | os.PathLike[str],
               revision: str | None = LATEST, **options: Any) -> ExportReport:
    """Export a stored run in one or more formats; see :func:`export` for the arguments.

    Returns:
        an :class:`ExportReport` (revision, counts, folders and files written).
    """
    store = run if isinstance(run, RunStore) else RunStore(run)
    names = _normalise_formats(formats)
    classes_opt = options.pop("classes", None)
    if isinstance(classes_opt, str):
        classes_opt = [classes_opt]
    min_score = options.pop("min_score", None)
    try:
        min_score = 0.0 if min_score is None else float(min_score)
    except (TypeError, ValueError):
        raise ExportError(f"min_score must be a number in [0, 1], got {min_score!r}") from None
    if not 0.0 <= min_score <= 1.0:
        raise ExportError(f"min_score must be in [0, 1], got {min_score}")
    images_mode = _image_mode(options)
    split = options.pop("split", None)
    if split is not None:
        split = validate_split(split)

    classes_of = {n: get_exporter(n) for n in names}
    # Every remaining option must belong to at least one selected format.
    per_format: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in options.items():
        takers = [n for n, cls in classes_of.items() if key in cls.options]
        if not takers:
            owners = [n for n in list_exporters() if n not in classes_of and _declares(n, key)]
            hint = f" (it belongs to {', '.join(owners)}, which is not selected)" if owners else ""
            raise ExportError(f"option {key!r} is not understood by {', '.join(names)}{hint}")
        for n in takers:
            per_format[n][key] = value

    info = store.info(revision)
    rev_name = info.revision or ORIGINAL
    info = _subset_classes(info, classes_opt)
    keep = frozenset(info.classes)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    for n in names:
        recover_interrupted(out, n)
    report = ExportReport(revision=rev_name, classes=info.classes, image_root=info.image_root)
    tmps: dict[str, Path] = {}
    exporters: dict[str, Exporter] = {}
    try:
        for n in names:
            tmps[n] = _scratch_dir(out, n, "tmp")
            exporters[n] = classes_of[n](tmps[n], info, images=images_mode, split=split, **per_format[n])
        for e in exporters.values():
            e.open()
        for image in store.iter_images(rev_name):
            image, dropped = filter_image(image, keep, min_score)
            report.images += 1
            report.boxes += len(image.detections)
            report.dropped += dropped
            for e in exporters.values():
                e.write(image)
        written = {n: e.close() for n, e in exporters.items()}
        for n in names:
            final = out / n
            _commit(tmps[n], final)
            report.dirs[n] = final
            report.files[n] = [final / p.relative_to(tmps[n]) for p in written[n]]
            log.info("%s: wrote %s", n, final)
    except BaseException:
        for tmp in tmps.values():
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _declares(name: str, key: str) -> bool:
    with contextlib.suppress(ExportError):
        return key in get_exporter(name).options
    return False


def export(run: str | os.PathLike[str] | RunStore, formats: str | Sequence[str], out_dir: str | os.PathLike[str],
           revision: str | None = LATEST, **options: Any) -> dict[str, list[Path]]:
    """Export a stored run; each format goes to ``<out_dir>/<format>/``.

    Args:
        run: the run directory or its :class:`RunStore`.
        formats: a format name, a comma-separated string or a list of names (``"all"``: every
            registered format).
        out_dir: parent folder of the per-format folders (created if missing).
        revision: ``"latest"`` (newest corrected revision, else the original predictions),
            ``"original"``, or a revision's name.
        **options: common options ``min_score`` (float, default 0), ``classes`` (subset of the
            run's classes; order stays the run's), ``copy_images`` / ``link_images`` (or
            ``images="none"|"copy"|"link"``), ``split`` (name; default per format), plus any
            format option declared in an exporter's :attr:`Exporter.options` (e.g.
            ``voc_origin="zero"``, ``yolo_scores=True``, ``coco_results=True``,
            ``image_url_prefix="https://..."``). An option no selected format understands is an
            error.

    Returns:
        format -> the files and folders written (final paths).
    """
    return run_export(run, formats, out_dir, revision=revision, **options).files
