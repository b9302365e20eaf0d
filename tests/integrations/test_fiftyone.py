"""The FiftyOne model: ``dataset.apply_model(load_model(...))`` on a real FiftyOne dataset (a private
``mongod``, as the review tests use), read back from the database and compared with what
``autolabel annotate`` wrote for the same photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.masks import crop
from autolabel.store import RunStore
from tests.review.support import use_private_fiftyone

pytestmark = pytest.mark.slow

CLASSES = ["cat", "coffee mug", "person", "space shuttle"]


@pytest.fixture(scope="module")
def fo(tmp_path_factory):
    with use_private_fiftyone(tmp_path_factory.mktemp("fiftyone")):
        import fiftyone

        yield fiftyone


@pytest.fixture(scope="module")
def photos(tmp_path_factory, sample_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for p in sorted(sample_data.glob("*.jpg")):
        shutil.copy(p, folder / p.name)
    return folder


@pytest.fixture(scope="module")
def run_records(tmp_path_factory, photos: Path) -> dict:
    """What ``autolabel annotate --preset lite --classes ...`` writes for the photos, by file name."""
    run = tmp_path_factory.mktemp("run") / "run"
    r = CliRunner().invoke(main, ["annotate", str(photos), "-o", str(run), "--preset", "lite", "--classes", ",".join(CLASSES), "-q"])
    assert r.exit_code == 0, r.output
    return {rec.path: rec for rec in RunStore(run).iter_images()}


@pytest.fixture(scope="module")
def model():
    from autolabel.integrations.fiftyone import load_model

    with load_model(preset="lite", classes=CLASSES) as m:
        yield m


@pytest.fixture(scope="module")
def dataset(fo, photos: Path, model):
    ds = fo.Dataset("autolabel-apply-model")
    ds.add_samples([fo.Sample(filepath=str(p)) for p in sorted(photos.glob("*.jpg"))])
    ds.apply_model(model, label_field="autolabel", batch_size=3)
    return ds


def test_apply_model_fills_the_same_detections_as_annotate(fo, dataset, run_records):
    fresh = fo.load_dataset(dataset.name)  # read back from the database
    fresh.reload()
    assert fresh.get_field("autolabel").document_type is fo.Detections
    total = 0
    for sample in fresh:
        rec = run_records[Path(sample.filepath).name]
        dets = sample["autolabel"].detections
        assert [d.label for d in dets] == [d.label for d in rec.detections]
        assert [d["autolabel_id"] for d in dets] == [d.id for d in rec.detections]
        for got, want in zip(dets, rec.detections):
            total += 1
            x1, y1, x2, y2 = want.box
            w, h = rec.width, rec.height
            assert got.bounding_box == pytest.approx([x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h], abs=1e-12)
            assert all(0.0 <= v <= 1.0 for v in got.bounding_box)
            assert got.confidence == pytest.approx(want.score, abs=1e-12)
            assert got["objectness"] == pytest.approx(want.objectness, abs=1e-12)
            assert got["topk"] == [a.label for a in want.topk]
            assert got["topk_scores"] == pytest.approx([a.score for a in want.topk], abs=1e-12)
            assert got["label_id"] == want.label_id and got["source"] == "auto"
            # the mask covers the box (rounded outwards), as FiftyOne draws it over the box
            assert want.mask is not None and got.mask is not None
            assert np.array_equal(got.mask.astype(bool), crop(want.mask, want.box))
            assert got.mask.shape == (int(np.ceil(y2) - np.floor(y1)), int(np.ceil(x2) - np.floor(x1)))
    assert total == sum(len(r.detections) for r in run_records.values()) > 0


def test_fiftyone_filters_by_confidence_and_class(fo, dataset, model, run_records):
    scores = sorted(d.score for r in run_records.values() for d in r.detections)
    threshold = scores[len(scores) // 2]
    dataset.apply_model(model, label_field="confident", confidence_thresh=threshold, classes=["cat"])
    kept = 0
    for sample in dataset:
        rec = run_records[Path(sample.filepath).name]
        want = [d.id for d in rec.detections if d.score >= threshold and d.label == "cat"]
        got = sample["confident"]
        assert ([d["autolabel_id"] for d in got.detections] if got is not None else []) == want
        kept += len(want)
    assert 0 < kept < len(scores)  # the filters really cut


def test_predict_on_an_array_without_a_sample(model, sample_data: Path):
    import fiftyone.core.labels as fol
    from PIL import Image

    arr = np.asarray(Image.open(sample_data / "chelsea.jpg").convert("RGB"))
    out = model.predict(arr)
    assert isinstance(out, fol.Detections) and out.detections
    assert {d.label for d in out.detections} <= set(CLASSES)
    assert all(d["autolabel_id"].startswith("image-0-") for d in out.detections)


def test_the_plugin_operator_annotates_the_view(fo, photos: Path, model, run_records, tmp_path_factory, monkeypatch):
    import fiftyone.operators as foo

    from autolabel.integrations import fiftyone_plugin

    plugins = tmp_path_factory.mktemp("plugins")
    folder = fiftyone_plugin.install_plugin(plugins)
    assert (folder / "fiftyone.yml").is_file()
    monkeypatch.setattr(fo.config, "plugins_dir", str(plugins))
    monkeypatch.setitem(fiftyone_plugin._MODELS, ("lite", ",".join(CLASSES)), model)  # reuse the loaded models
    ds = fo.Dataset("autolabel-operator")
    ds.add_samples([fo.Sample(filepath=str(p)) for p in sorted(photos.glob("*.jpg"))])
    first = ds.first()
    one = ds.select([first.id])
    result = foo.execute_operator(fiftyone_plugin.OPERATOR_URI, ctx={
        "view": one, "params": {"preset": "lite", "classes": ",".join(CLASSES), "label_field": "found"}})
    assert result.error is None, result.error_message
    rec = run_records[Path(first.filepath).name]
    assert result.result == {"samples": 1, "detections": len(rec.detections), "label_field": "found"}
    ds.reload()
    got = {Path(s.filepath).name: s["found"] for s in ds}
    assert [d["autolabel_id"] for d in got[Path(first.filepath).name].detections] == [d.id for d in rec.detections]
    assert all(v is None for name, v in got.items() if name != Path(first.filepath).name)  # only the target view
