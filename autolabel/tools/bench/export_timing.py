"""The export row of ``autolabel bench``: seconds per image to write the benchmark's run in each
format, alone and all in one ``export`` call, and that call's time against annotating.

Each format is exported alone (its own tracing of every mask it writes as polygons), then every
format in one call (each mask traced once per tolerance and shared,
:func:`~autolabel.formats.polygons.shared_tracing`): the second is what ``autolabel export RUN -f
all`` costs, reported as a ratio to the run's annotate time (the issue's target: at most 0.25).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence


@dataclass
class ExportTiming:
    """Export times of one run (seconds of wall time, on this machine)."""

    images: int
    per_format: dict[str, float] = field(default_factory=dict)
    """Format -> seconds per image, that format exported alone."""
    all_formats: float = 0.0
    """Seconds per image of one export call writing every format of :attr:`per_format`."""
    annotate: float = 0.0
    """Seconds per image the run took to annotate (the benchmark's wall time)."""

    @property
    def ratio_to_annotate(self) -> float | None:
        """:attr:`all_formats` over :attr:`annotate`; None without an annotate time."""
        return self.all_formats / self.annotate if self.annotate else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio_to_annotate": self.ratio_to_annotate}


def time_exports(run_dir: Path, out_dir: Path, annotate_seconds_per_image: float,
                 formats: Sequence[str] | None = None) -> ExportTiming:
    """Export ``run_dir`` into ``out_dir`` (emptied after each export) in each of ``formats``
    (default: every installed format) alone, then all in one call; see :class:`ExportTiming`."""
    from autolabel.export import list_exporters, run_export

    names = list(formats) if formats is not None else list_exporters()
    timing = ExportTiming(images=0, annotate=annotate_seconds_per_image)

    def timed(fmts: list[str]) -> float:
        t0 = time.perf_counter()
        report = run_export(run_dir, fmts, out_dir)
        seconds = time.perf_counter() - t0
        timing.images = report.images
        shutil.rmtree(out_dir, ignore_errors=True)
        return seconds / report.images if report.images else 0.0

    for n in names:
        timing.per_format[n] = timed([n])
    if names:
        timing.all_formats = timed(names)
    return timing
