"""Exporters: the plugin seam and the driver that writes a stored run in one or more formats.

An exporter is a class registered in the ``autolabel.exporters`` entry-point group (the
built-ins in ``exporters/`` register exactly like a third-party package). The package:

- :mod:`~autolabel.export.options`: :class:`Option` declarations, values parsed by click types,
  ``NAME`` / ``FORMAT.NAME`` assignment to formats;
- :mod:`~autolabel.export.base`: the :class:`Exporter` base class and its life cycle
  (``open`` / ``write`` / ``close``, ``abort`` on failure, context manager);
- :mod:`~autolabel.export.registry`: the entry points (:func:`list_exporters`,
  :func:`get_exporter`, :func:`exporter_origin`);
- :mod:`~autolabel.export.driver`: :func:`export` / :func:`run_export` (filters, scratch
  folders renamed into place, recovery after a kill).

Importing this package imports no exporter, and the driver (run store, torch) only when one
of its names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autolabel.export.base import IMAGE_MODES, Exporter, validate_split
from autolabel.export.options import Option, assign_options, split_key
from autolabel.export.registry import (
    ENTRY_POINT_GROUP,
    entry_point_origin,
    exporter_entry_points,
    exporter_origin,
    get_exporter,
    list_exporters,
    loadable_exporters,
)

if TYPE_CHECKING:
    from autolabel.export.driver import (
        COMMON_OPTIONS,
        DRIVER_OPTIONS,
        ExportReport,
        export,
        filter_image,
        recover_interrupted,
        resolve_formats,
        run_export,
    )

_DRIVER = ("COMMON_OPTIONS", "DRIVER_OPTIONS", "ExportReport", "export", "filter_image", "recover_interrupted",
           "resolve_formats", "run_export")


def __getattr__(name: str) -> Any:
    """The driver's names, imported on first use: the driver needs the run store and box
    geometry (torch), which a plugin importing :class:`Exporter` or ``autolabel formats`` do not."""
    if name in _DRIVER:
        from autolabel.export import driver

        return getattr(driver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMMON_OPTIONS", "DRIVER_OPTIONS", "ENTRY_POINT_GROUP", "IMAGE_MODES", "ExportReport", "Exporter", "Option",
    "assign_options", "entry_point_origin", "export", "exporter_entry_points", "exporter_origin", "filter_image",
    "get_exporter", "list_exporters", "loadable_exporters", "recover_interrupted", "resolve_formats", "run_export",
    "split_key", "validate_split",
]
