"""The backend over the real pipeline (the offline ``lite`` preset's EfficientNet-Lite0
ImageNet weights): the cat photo's best box is a cat, labels only from the config."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from autolabel.integrations.labelstudio import Backend, BackendSettings, create_app
from autolabel.integrations.labelstudio.brush import decode_rle

pytestmark = pytest.mark.slow

CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image">
    <Label value="cat"/><Label value="cup" predicted_values="coffee mug,cup"/><Label value="zorblax"/>
  </RectangleLabels>
  <BrushLabels name="mask" toName="image"><Label value="cat"/></BrushLabels>
</View>"""


@pytest.fixture(scope="module")
def backend(lite_config, sample_data):
    return Backend(lite_config, BackendSettings(name="lite", local_roots=(str(sample_data),)))


@pytest.fixture(scope="module")
def client(backend):
    with TestClient(create_app(backend)) as c:
        yield c


def test_cat_photo_best_box_is_a_cat_and_labels_come_from_the_config(client, sample_data):
    setup = client.post("/setup", json={"project": "1.1", "schema": CONFIG}).json()
    assert setup["labels"] == ["cat", "cup"] and list(setup["unplaced_labels"]) == ["zorblax"]
    names = ["chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"]
    tasks = [{"id": i, "data": {"image": str(sample_data / n)}} for i, n in enumerate(names)]
    tasks.insert(1, {"id": 99, "data": {"image": str(sample_data / "no-such.jpg")}})
    r = client.post("/predict", json={"tasks": tasks, "label_config": CONFIG, "project": "1.1"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 5 and results[1]["result"] == []
    assert all(p["model_version"] == setup["model_version"] for p in results)
    for p in results:
        for region in p["result"]:
            assert set(region["value"].get("rectanglelabels") or region["value"]["brushlabels"]) <= {"cat", "cup"}
            assert 0 <= region["score"] <= 1
    boxes = [reg for reg in results[0]["result"] if reg["type"] == "rectanglelabels"]
    assert max(boxes, key=lambda reg: reg["score"])["value"]["rectanglelabels"] == ["cat"]
    brush = [reg for reg in results[0]["result"] if reg["type"] == "brushlabels"]
    assert brush and len(brush) == len([b for b in boxes if b["value"]["rectanglelabels"] == ["cat"]])
    w, h = brush[0]["original_width"], brush[0]["original_height"]
    assert decode_rle(brush[0]["value"]["rle"]).size == w * h * 4


def test_an_image_over_max_pixels_gets_an_empty_prediction(backend, lite_config, sample_data, caplog):
    small = Backend(lite_config.replace(max_pixels=10_000), BackendSettings(name="lite", local_roots=(str(sample_data),)),
                    models=backend.models)
    assert small.model_version() != backend.model_version()  # max_pixels changes results
    tasks = [{"id": 1, "data": {"image": str(sample_data / "chelsea.jpg")}}]
    with caplog.at_level("WARNING", logger="autolabel.integrations"):
        (p,) = small.predict({"tasks": tasks, "label_config": CONFIG})["results"]
    assert p["result"] == [] and p["score"] == 0.0
    assert any("task-1: empty prediction" in r.getMessage() for r in caplog.records)

