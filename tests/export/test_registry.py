"""The registry: exporters found through the ``autolabel.exporters`` entry points, built-in or not."""

from __future__ import annotations

import sys

import pytest

from autolabel.errors import ExportError
from autolabel.export import (
    Exporter,
    exporter_origin,
    get_exporter,
    list_exporters,
    loadable_exporters,
    registry,
)
from tests.export.plugins import with_plugins

BUILT_INS = ["coco", "cvat", "labelstudio", "voc", "yolo", "yolo-seg"]
MODULES = [f"exporters.{name.replace('-', '_')}" for name in BUILT_INS]


def test_built_ins_are_registered_through_entry_points_and_listing_imports_nothing(monkeypatch):
    for module in MODULES:
        monkeypatch.delitem(sys.modules, module, raising=False)
    assert list_exporters() == BUILT_INS
    assert not any(module in sys.modules for module in MODULES)
    eps = registry.exporter_entry_points()
    assert {n: registry.entry_point_origin(ep) for n, ep in eps.items()} == {n: "built-in" for n in BUILT_INS}
    assert [exporter_origin(n) for n in BUILT_INS] == ["built-in"] * len(BUILT_INS)
    cls = get_exporter("coco")
    assert issubclass(cls, Exporter) and cls.name == "coco" and "exporters.coco" in sys.modules


def test_every_built_in_names_itself_and_describes_itself():
    for name in BUILT_INS:
        cls = get_exporter(name)
        assert cls.name == name and cls.description


def test_unknown_format_lists_the_available_ones():
    with pytest.raises(ExportError, match=r"unknown format 'cooc'; available: coco, cvat, labelstudio, voc, yolo, yolo-seg"):
        get_exporter("cooc")
    with pytest.raises(ExportError, match=r"unknown format 'cooc'"):
        exporter_origin("cooc")


def test_plugin_that_is_not_an_exporter(monkeypatch):
    with_plugins(monkeypatch, notone="tests.export.plugins:NotAnExporter", broken="no_such_module_xyz:Thing",
                 leaky="tests.export.plugins:LeakyExporter")
    assert {"notone", "broken", "leaky"} <= set(list_exporters())
    with pytest.raises(ExportError, match="'notone'.*is not an autolabel Exporter subclass"):
        get_exporter("notone")
    with pytest.raises(ExportError, match="'broken'.*failed to load: ModuleNotFoundError"):
        get_exporter("broken")
    assert exporter_origin("leaky") == "unknown"  # an entry point without a distribution
    assert sorted(loadable_exporters()) == sorted([*BUILT_INS, "leaky"])  # the broken ones left out
