"""The Exporter base: options checked at construction, and a life cycle that closes what
``open`` made on every failure (``abort``, the context manager)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autolabel.errors import ExportError
from autolabel.export import Exporter, get_exporter
from autolabel.store import RunStore
from autolabel.types import ImageAnnotations, RunInfo
from tests.export.plugins import OPENED, LeakyExporter, RawFileExporter
from tests.exporters.sample import build_run


@pytest.fixture(scope="module")
def info(tmp_path_factory: pytest.TempPathFactory) -> RunInfo:
    return RunStore(build_run(tmp_path_factory.mktemp("run"))).info("original")


def _image(path: str) -> ImageAnnotations:
    return ImageAnnotations(path, 10, 10, ())


def test_exporter_rejects_options_it_does_not_declare_and_values_its_types_refuse(tmp_path, info):
    with pytest.raises(ExportError, match="does not take option.*voc_origin"):
        get_exporter("coco")(tmp_path / "o", info, voc_origin="zero")
    with pytest.raises(ExportError, match="format 'voc' option 'voc_origin': 'two' is not one of 'one', 'zero'"):
        get_exporter("voc")(tmp_path / "o", info, voc_origin="two")
    e = get_exporter("yolo")(tmp_path / "o", info, yolo_scores="yes")
    assert e.opts == {"yolo_scores": True} and not (tmp_path / "o").exists()  # __init__ stores only


def test_context_manager_closes_on_success(tmp_path, info):
    with LeakyExporter(tmp_path / "o", info, fail_at=0) as e:
        e.write(_image("a.jpg"))
        e.write(_image("b.jpg"))
    assert e.written == [tmp_path / "o" / "rows.txt"]
    assert (tmp_path / "o" / "rows.txt").read_text() == "a.jpg\nb.jpg\n"


def test_context_manager_aborts_on_failure_closing_files_and_removing_what_open_made(tmp_path, info):
    OPENED.clear()
    with pytest.raises(OSError, match="disk full"), LeakyExporter(tmp_path / "new" / "o", info) as e:
        e.write(_image("a.jpg"))
        e.write(_image("b.jpg"))  # fail_at=2
    assert len(OPENED) == 1 and OPENED[0].closed
    assert not (tmp_path / "new" / "o").exists() and e.written is None


def test_a_failing_open_is_aborted_by_the_context_manager(tmp_path, info):
    OPENED.clear()
    with pytest.raises(PermissionError), LeakyExporter(tmp_path / "o", info, fail_at=-1):
        pytest.fail("the block must not run")
    assert OPENED[0].closed and not (tmp_path / "o").exists()


def test_abort_closes_plain_file_attributes_and_keeps_a_folder_it_did_not_make(tmp_path, info):
    OPENED.clear()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("user file")
    e = RawFileExporter(tmp_path / "o", info)
    with pytest.raises(KeyboardInterrupt), e:
        e.write(_image("a.jpg"))
    assert OPENED[0].closed
    assert (tmp_path / "o" / "keep.txt").read_text() == "user file"
    e.abort()  # a second abort is harmless


def test_abort_logs_a_close_that_fails_and_closes_the_rest(tmp_path, info, caplog):
    class Stubborn:
        def close(self) -> None:
            raise OSError("stale NFS handle")

    e = LeakyExporter(tmp_path / "o", info)
    e.open()
    e.track(Stubborn())
    e.abort()
    assert e._f.closed and "stale NFS handle" in caplog.text


def test_base_exporter_defaults(tmp_path, info):
    e = Exporter(tmp_path / "o", info)
    assert e.notes() == [] and e.split == "default"
    e.open()
    assert e.close() == [] and (tmp_path / "o").is_dir()
    with pytest.raises(NotImplementedError):
        e.write(_image("a.jpg"))
    assert isinstance(e.open_file(tmp_path / "o" / "x.bin", "wb").name, str)
    e.abort()
    assert not Path(tmp_path / "o").exists()
