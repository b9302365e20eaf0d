"""The :class:`Exporter` base class: what every format (built-in or plugin) subclasses.

Life cycle (the driver in :mod:`autolabel.export.driver` runs it; it is also a context manager)::

    exporter = ExporterClass(out_dir, run_info, images="none", split=None, **format_options)
    exporter.open()                  # make folders, start aggregate files
    exporter.write(image)            # once per image, sorted by path, boxes already filtered
    written = exporter.close()       # finish aggregate files; return the files/folders written
    # or, on any failure after open() began (an error, KeyboardInterrupt):
    exporter.abort()                 # close every file open() made; discard the partial output

Coordinates handed to exporters are pixel ``(x1, y1, x2, y2)`` floats in the displayed image,
origin top-left, ``x2``/``y2`` exclusive, inside ``[0, W] x [0, H]``, with ``x2 > x1`` and
``y2 > y1``.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Protocol, Self, TypeVar

from autolabel.errors import ExportError
from autolabel.export.options import Option
from autolabel.types import ImageAnnotations, RunInfo

log = logging.getLogger(__name__)

IMAGE_MODES = ("none", "copy", "link")
"""What happens to the image files: not written (``none``), copied, or linked (hard link, else
symbolic link)."""


class Closable(Protocol):
    def close(self) -> Any: ...


C = TypeVar("C", bound=Closable)
E = TypeVar("E", bound="Exporter")


def validate_split(split: str) -> str:
    """``split`` if it is usable as a folder and file-name part; :class:`ExportError` if not."""
    if not isinstance(split, str) or not split or split in (".", "..") or any(c in split for c in "/\\\0") or split.strip() != split:
        raise ExportError(f"split must be a plain name such as 'train' or 'default', got {split!r}")
    return split


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
        final_dir: where the export ends up once complete (the driver sets it; the same as
            :attr:`out_dir` otherwise): for notes and URLs that name the export's own files.
        run: the run's :class:`RunInfo`; ``run.classes`` is the ordered class list every
            format must declare in full, ``run.class_id(label)`` the 0-based index.
        images: ``"none"``, ``"copy"`` or ``"link"`` (see :meth:`place_image`).
        split: the split name.
        opts: the format options with defaults filled in.

    Files: open them with :meth:`open_file` (or hand any object with a ``close()`` to
    :meth:`track`) so that :meth:`abort` closes them if the export fails. File objects kept
    directly in an attribute (``self._f = open(...)``) are closed by :meth:`abort` too.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_split: ClassVar[str] = "default"
    options: ClassVar[Mapping[str, Option]] = {}

    def __init__(self, out_dir: str | os.PathLike[str], run: RunInfo, *, images: str = "none",
                 split: str | None = None, **options: Any) -> None:
        self.out_dir = Path(out_dir)
        self.final_dir = self.out_dir
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
        self._resources: list[Closable] = []
        self._made_out_dir = False
        self.written: list[Path] | None = None
        self.opts: dict[str, Any] = {k: o.default for k, o in self.options.items()}
        for k, v in options.items():
            if v is not None:
                self.opts[k] = self.options[k].convert(k, v, self.name or None)

    # -- life cycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Prepare to write (the default makes :attr:`out_dir`)."""
        self._made_out_dir = not self.out_dir.exists()
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def write(self, image: ImageAnnotations) -> None:
        """Write one image and its (already filtered and clipped) detections."""
        raise NotImplementedError

    def close(self) -> list[Path]:
        """Finish aggregate files; return the files and folders written (under :attr:`out_dir`)."""
        return []

    def abort(self) -> None:
        """Give up after a failure anywhere between :meth:`open` and the end of :meth:`close`.

        Closes every resource passed to :meth:`track` (newest first) and every file object held
        directly in an attribute, then removes :attr:`out_dir` if :meth:`open` created it.
        Never raises: a failure while cleaning up is logged. Safe to call more than once, and
        after a :meth:`close` that succeeded. Override it (calling ``super().abort()``) to
        release anything else.
        """
        resources, self._resources = getattr(self, "_resources", []), []
        handles = [v for v in vars(self).values() if isinstance(v, io.IOBase)]
        for res in [*reversed(resources), *handles]:
            try:
                if not getattr(res, "closed", False):
                    res.close()
            except Exception as e:  # noqa: BLE001 - cleaning up must not hide the error that caused it
                log.warning("%s: closing %r after a failed export failed: %s", self.name or type(self).__name__, res, e)
        if getattr(self, "_made_out_dir", False):
            shutil.rmtree(self.out_dir, ignore_errors=True)
            self._made_out_dir = False

    def notes(self) -> list[str]:
        """Lines for the user after a successful export (setup steps, caveats); the command
        line prints them under the format's name. Default: none."""
        return []

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> Self:
        """:meth:`open` (aborting if it fails); returns the exporter."""
        try:
            self.open()
        except BaseException:
            self.abort()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """:meth:`close` (its result in :attr:`written`) if the block succeeded, else :meth:`abort`."""
        if exc_type is not None:
            self.abort()
            return
        try:
            self.written = self.close()
        except BaseException:
            self.abort()
            raise

    # -- helpers for subclasses ------------------------------------------------------------
    def track(self, resource: C) -> C:
        """Register ``resource`` (anything with ``close()``) for :meth:`abort`; returns it."""
        self.__dict__.setdefault("_resources", []).append(resource)
        return resource

    def open_file(self, path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
        """``open(path, mode, **kwargs)`` (text mode defaults to UTF-8), tracked for :meth:`abort`."""
        if "b" not in mode:
            kwargs.setdefault("encoding", "utf-8")
        return self.track(open(path, mode, **kwargs))

    def source_path(self, image: ImageAnnotations) -> Path:
        """Where the image file of ``image`` lives: ``run.image_root / image.path``."""
        return self.run.image_root / image.path

    def place_image(self, image: ImageAnnotations, dest: Path) -> bool:
        """Copy or link the image file to ``dest`` as :attr:`images` says.

        ``"link"`` makes a hard link (a plain file to every reader, no extra space); where that
        is impossible (another file system) it falls back to a symbolic link and warns once.
        A source that is itself a symbolic link is resolved first: the link is to its target.

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
        src = src.resolve()  # a symlink (relative ones above all) is linked as its target, never itself
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
