"""Exporters the export tests register as plugins (through fake entry points), and the helper
that registers them beside the real ones."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import IO, Any

import pytest

from autolabel.errors import FormatLimitError
from autolabel.export import registry
from autolabel.export.base import Exporter
from autolabel.export.options import Option
from autolabel.types import ImageAnnotations

OPENED: list[IO[Any]] = []
"""Every file a :class:`LeakyExporter` or :class:`RawFileExporter` opened (tests check they are closed)."""


class FailingExporter(Exporter):
    """Writes a file per image and fails on the third image."""

    name = "failing"

    def write(self, image: ImageAnnotations) -> None:
        n = len(list(self.out_dir.iterdir()))
        if n == 2:
            raise RuntimeError("disk on fire")
        (self.out_dir / f"{n}.txt").write_text(image.path)


class LimitedExporter(Exporter):
    """Opens a file with :meth:`Exporter.open_file` and cannot carry the image number ``fail_at``
    (1-based; 0: in ``close``): a :class:`FormatLimitError`, which sinks this format alone."""

    name = "limited"
    options = {"fail_at": Option(2, "the image it cannot carry (0: fail in close)")}

    def open(self) -> None:
        super().open()
        self._f = self.open_file(self.out_dir / "rows.txt")
        OPENED.append(self._f)
        self._n = 0

    def write(self, image: ImageAnnotations) -> None:
        self._n += 1
        if self._n == self.opts["fail_at"]:
            raise FormatLimitError(f"{image.path}: too much for this format")
        self._f.write(image.path + "\n")

    def close(self) -> list[Path]:
        if self.opts["fail_at"] == 0:
            raise FormatLimitError("the class list is too long for this format")
        self._f.close()
        return [self.out_dir / "rows.txt"]


class LeakyExporter(Exporter):
    """Opens a file with :meth:`Exporter.open_file`, writes one line per image, and fails in
    ``write`` on image number ``fail_at`` (1-based; 0: never; -1: in ``open``, after opening)."""

    name = "leaky"
    options = {"fail_at": Option(2, "fail on this image (0: never, -1: in open)")}

    def open(self) -> None:
        super().open()
        self._f = self.open_file(self.out_dir / "rows.txt")
        OPENED.append(self._f)
        self._n = 0
        if self.opts["fail_at"] == -1:
            raise PermissionError("no more file handles")

    def write(self, image: ImageAnnotations) -> None:
        self._n += 1
        self._f.write(image.path + "\n")
        self._f.flush()
        if self._n == self.opts["fail_at"]:
            raise OSError("disk full")

    def close(self) -> list[Path]:
        self._f.close()
        return [self.out_dir / "rows.txt"]


class RawFileExporter(Exporter):
    """Keeps a plain ``open()`` file in an attribute (as the README's example does) and fails in
    ``close`` before closing it."""

    name = "rawfile"

    def open(self) -> None:
        super().open()
        self.handle = open(self.out_dir / "out.txt", "w", encoding="utf-8")  # noqa: SIM115 - on purpose
        OPENED.append(self.handle)

    def write(self, image: ImageAnnotations) -> None:
        self.handle.write(image.path + "\n")

    def close(self) -> list[Path]:
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C while it finished


class SharedNameExporter(Exporter):
    """Declares ``fail_at`` too, so a bare ``fail_at`` is ambiguous beside :class:`LeakyExporter`."""

    name = "shared"
    options = {"fail_at": Option(0, "unused"), "level": Option(1, "a number", flag="--shared-level")}

    def write(self, image: ImageAnnotations) -> None:
        pass

    def close(self) -> list[Path]:
        (self.out_dir / "opts.txt").write_text(f"{self.opts['fail_at']} {self.opts['level']}\n")
        return [self.out_dir / "opts.txt"]


class NotAnExporter:
    pass


def with_plugins(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """Register ``name="module:Class"`` entry points after the real ones for this test."""
    real = registry._entry_points()
    fake = [EntryPoint(name=n, value=v, group=registry.ENTRY_POINT_GROUP) for n, v in extra.items()]
    monkeypatch.setattr(registry, "_entry_points", lambda: real + fake)
