"""The export driver: writes a stored run in one or more formats, atomically.

The driver (:func:`export` / :func:`run_export`) reads the run through
:class:`~autolabel.store.RunStore`, applies the common filters (``min_score``, ``classes``),
clips every box to its image, and streams images one at a time to every requested exporter
(see :mod:`autolabel.export.base` for their life cycle). Each format is written into a hidden
scratch sibling of ``<out_dir>/<format>`` and renamed into place only when it is complete, so a
crash never leaves a half-written export that looks done. An image a format cannot carry
(a :class:`~autolabel.errors.FormatLimitError` from its ``write`` or ``close``) gives up that
format alone: it is aborted, reported in :attr:`ExportReport.failed`, and the others are still
written. On any other failure (an exporter raising in ``open``/``write``/``close``, a
KeyboardInterrupt) every exporter that was opened is aborted (its files closed) and the scratch
folders are removed; a killed export's leftovers are tidied
by the next export into the same folder (:func:`recover_interrupted`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autolabel.errors import ExportError, FormatLimitError
from autolabel.export.base import IMAGE_MODES, Exporter, validate_split
from autolabel.export.options import assign_options
from autolabel.export.registry import exporter_entry_points, get_exporter, list_exporters, loadable_exporters
from autolabel.formats.polygons import shared_tracing
from autolabel.geometry import clip_box
from autolabel.names import class_name_problem
from autolabel.store import LATEST, ORIGINAL, RunStore
from autolabel.store.atomic import make_temp_dir
from autolabel.types import Detection, ImageAnnotations, RunInfo

log = logging.getLogger(__name__)

COMMON_OPTIONS = ("images", "split")
"""Options every exporter receives (besides its own declared :attr:`Exporter.options`)."""

DRIVER_OPTIONS = ("min_score", "classes", "copy_images", "link_images")
"""Options the driver consumes itself (filters and the image mode)."""


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
        notes: format -> lines for the user from :meth:`Exporter.notes` (formats with none left out).
        failed: format -> why it was not written: a :class:`~autolabel.errors.FormatLimitError`
            (one line naming the image); the other formats were written all the same.
    """

    revision: str
    classes: tuple[str, ...]
    image_root: Path = Path(".")
    images: int = 0
    boxes: int = 0
    dropped: int = 0
    dirs: dict[str, Path] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def raise_failed(self) -> None:
        """Raise :class:`~autolabel.errors.FormatLimitError`, one line naming each format that
        could not be written and why (and the formats that were), if any was not."""
        if self.failed:
            why = "; ".join(f"{n}: {reason}" for n, reason in self.failed.items())
            done = f" ({', '.join(self.dirs)} written)" if self.dirs else ""
            raise FormatLimitError(f"{why}{done}")


def _normalise_formats(formats: str | Sequence[str], eps: Mapping[str, Any] | None = None) -> list[str]:
    """Format names, ``all`` expanded to every registered one (``eps``: the registered entry
    points, if at hand), in the order given, each once."""
    names = [formats] if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                out.extend(list(eps) if eps is not None else list_exporters())
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
    return make_temp_dir(parent, f"{_scratch_prefix(name, kind)}{os.getpid()}-")


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


def _assign(classes_of: Mapping[str, type[Exporter]], given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Format options for each selected format (see :func:`~autolabel.export.options.assign_options`)."""
    declared = {n: c.options for n, c in classes_of.items()}
    try:
        return assign_options(declared, given)
    except ExportError:  # again, with hints naming unselected formats (loading them only now)
        pass
    owners: dict[str, list[str]] = {}
    for n, cls in loadable_exporters().items():
        if n not in classes_of:
            for key in cls.options:
                owners.setdefault(key, []).append(n)
    return assign_options(declared, given, owners)


def resolve_formats(formats: str | Sequence[str],
                    format_options: Mapping[str, Any] | None = None) -> dict[str, tuple[type[Exporter], dict[str, Any]]]:
    """Check an export request without touching a run: each format loads and each option is
    declared by a selected format and parses.

    Args:
        formats: as :func:`export` takes them (names, comma-separated, ``"all"``).
        format_options: ``NAME`` or ``FORMAT.NAME`` -> value (see :func:`export`).

    Returns:
        format -> (its exporter class, its converted options), in the order given.

    Raises:
        ExportError: an unknown or broken format, an option no selected format declares (or
            two declare, unqualified), or a value the option's type refuses.
    """
    eps = exporter_entry_points()  # once: finding them reads every installed distribution's metadata
    classes_of = {n: get_exporter(n, eps) for n in _normalise_formats(formats, eps)}
    per_format = _assign(classes_of, dict(format_options or {}))
    return {n: (cls, per_format[n]) for n, cls in classes_of.items()}


def _abort_all(exporters: Iterable[Exporter]) -> None:
    """:meth:`Exporter.abort` on each; a failure to abort is logged, never raised."""
    for e in exporters:
        try:
            e.abort()
        except Exception as err:  # noqa: BLE001 - abort() should not raise; a plugin's might
            log.warning("%s: abort() failed: %s: %s", e.name or type(e).__name__, type(err).__name__, err)


def run_export(run: str | os.PathLike[str] | RunStore, formats: str | Sequence[str], out_dir: str | os.PathLike[str],
               revision: str | None = LATEST, format_options: Mapping[str, Any] | None = None,
               progress: Callable[[int], Any] | None = None, **options: Any) -> ExportReport:
    """Export a stored run in one or more formats; see :func:`export` for the arguments.

    Images stream through: one record is held at a time, and a mask's polygons are traced once
    per tolerance and shared by every format that asks (:func:`~autolabel.formats.polygons.shared_tracing`),
    then forgotten with the image. ``progress``, if given, is called with 1 after each image is
    written to every format (the command line's progress bar).

    Returns:
        an :class:`ExportReport` (revision, counts, folders and files written, notes).
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

    plan = resolve_formats(names, {**options, **(format_options or {})})

    info = store.info(revision)
    rev_name = info.revision or ORIGINAL
    info = _subset_classes(info, classes_opt)
    for c in info.classes:
        problem = class_name_problem(c)
        if problem is not None:
            raise ExportError(f"run {store.run_dir}: {problem} (or leave it out with --classes)")
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
    opened: list[Exporter] = []
    try:
        for n in names:
            tmps[n] = _scratch_dir(out, n, "tmp")
            cls, opts = plan[n]
            exporters[n] = cls(tmps[n], info, images=images_mode, split=split, **opts)
            exporters[n].final_dir = out / n
        for e in exporters.values():
            opened.append(e)  # before open(): an open() that fails half-way is aborted too
            e.open()
        live = dict(exporters)

        def give_up(n: str, err: FormatLimitError) -> None:
            """Format ``n`` cannot carry an image: drop it alone, the others go on."""
            log.info("%s: not written: %s", n, err)
            report.failed[n] = str(err)
            _abort_all([live.pop(n)])
            shutil.rmtree(tmps[n], ignore_errors=True)

        with shared_tracing() as traced:
            for image in store.iter_images(rev_name):
                traced.clear()  # polygons are shared between formats, one image at a time
                image, dropped = filter_image(image, keep, min_score)
                report.images += 1
                report.boxes += len(image.detections)
                report.dropped += dropped
                for n, e in list(live.items()):
                    try:
                        e.write(image)
                    except FormatLimitError as err:
                        give_up(n, err)
                if progress is not None:
                    progress(1)
        written: dict[str, list[Path]] = {}
        for n, e in list(live.items()):
            try:
                written[n] = e.close()
            except FormatLimitError as err:
                give_up(n, err)
        notes = {n: [str(line) for line in e.notes()] for n, e in live.items()}
        for n in live:
            final = out / n
            _commit(tmps[n], final)
            report.dirs[n] = final
            report.files[n] = [final / p.relative_to(tmps[n]) for p in written[n]]
            if notes[n]:
                report.notes[n] = notes[n]
            log.info("%s: wrote %s", n, final)
    except BaseException:
        _abort_all(opened)
        for tmp in tmps.values():
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def export(run: str | os.PathLike[str] | RunStore, formats: str | Sequence[str], out_dir: str | os.PathLike[str],
           revision: str | None = LATEST, format_options: Mapping[str, Any] | None = None,
           **options: Any) -> dict[str, list[Path]]:
    """Export a stored run; each format goes to ``<out_dir>/<format>/``.

    Args:
        run: the run directory or its :class:`RunStore`.
        formats: a format name, a comma-separated string or a list of names (``"all"``: every
            registered format).
        out_dir: parent folder of the per-format folders (created if missing).
        revision: ``"latest"`` (newest corrected revision, else the original predictions),
            ``"original"``, or a revision's name.
        format_options: format options by ``NAME`` or ``FORMAT.NAME`` (what ``-O`` gives; values
            may be strings, parsed by each option's click type). A bare name goes to the one
            selected format that declares it; ``FORMAT.NAME`` when several do.
        **options: common options ``min_score`` (float, default 0), ``classes`` (subset of the
            run's classes; order stays the run's), ``copy_images`` / ``link_images`` (or
            ``images="none"|"copy"|"link"``), ``split`` (name; default per format), plus any
            format option declared in an exporter's :attr:`Exporter.options`, by bare name (e.g.
            ``voc_origin="zero"``, ``yolo_scores=True``). An option no selected format
            understands is an error; None leaves an option at its default.

    Returns:
        format -> the files and folders written (final paths).

    Raises:
        FormatLimitError: a format could not carry an image (the message names the format and
            the image); the other formats were written.
    """
    report = run_export(run, formats, out_dir, revision=revision, format_options=format_options, **options)
    report.raise_failed()
    return report.files
