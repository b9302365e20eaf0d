"""The exporter registry: the ``autolabel.exporters`` entry-point group, read on demand.

Built-in formats register in this group exactly like a third-party package does (see
``setup.cfg``), so listing, loading and describing a format is the same code for both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import metadata

from autolabel.errors import ExportError
from autolabel.export.base import Exporter

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "autolabel.exporters"
"""The entry-point group that exporters (built-in and third-party) register in."""


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


def exporter_origin(name: str) -> str:
    """Where format ``name`` comes from: ``"built-in"`` or ``"<distribution> <version>"``.

    Raises:
        ExportError: no format of that name is registered.
    """
    ep = exporter_entry_points().get(name)
    if ep is None:
        raise ExportError(f"unknown format {name!r}; available: {', '.join(list_exporters()) or 'none'}")
    return entry_point_origin(ep)


def get_exporter(name: str, eps: Mapping[str, metadata.EntryPoint] | None = None) -> type[Exporter]:
    """The exporter class registered as ``name``, imported now. ``eps``: the registered entry
    points (:func:`exporter_entry_points`) when the caller has them already (finding them
    reads every installed distribution's metadata: a tenth of a second in a large environment).

    Raises:
        ExportError: the name is unknown ("unknown format 'x'; available: ..."), the plugin
            fails to import, or what it registers is not an :class:`Exporter` subclass.
    """
    if eps is None:
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


def loadable_exporters() -> dict[str, type[Exporter]]:
    """Every registered exporter that loads, name -> class, sorted by name. One that fails to
    load is logged (at debug level) and left out; :func:`get_exporter` names its error."""
    out: dict[str, type[Exporter]] = {}
    eps = exporter_entry_points()
    for name in eps:
        try:
            out[name] = get_exporter(name, eps)
        except ExportError as e:
            log.debug("%s", e)
    return out
