"""The ML backend over HTTP (Starlette's in-process test client, a fake pipeline): the
protocol's shapes, bad images, auth, limits, capacity and model versions."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time

import pytest
from starlette.testclient import TestClient

from autolabel.integrations.labelstudio import BackendSettings, create_app
from tests.integrations.labelstudio.support import POLY_CONFIG, RECT_CONFIG, FakePipeline, fake_backend


@pytest.fixture
def local_images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (root / name).write_bytes(b"not decoded by the fake pipeline")
    (root / "empty.jpg").write_bytes(b"")
    return root


def client_for(settings: BackendSettings | None = None, basic_auth=None, pipeline: FakePipeline | None = None):
    backend, pipeline = fake_backend(settings, pipeline=pipeline)
    return TestClient(create_app(backend, basic_auth)), backend, pipeline


def tasks_of(root, *names):
    return [{"id": i + 1, "data": {"image": str(root / n)}} for i, n in enumerate(names)]


def test_health_and_metrics():
    client, backend, _ = client_for()
    for path in ("/health", "/"):
        r = client.get(path)
        assert r.status_code == 200 and r.json()["status"] == "UP"
        assert r.json()["model_version"] == backend.model_version()
    assert client.get("/metrics").json() == {}
    assert client.get("/versions").json() == {"versions": [backend.model_version()]}


def test_setup_answers_the_model_version_and_names_unplaced_labels(caplog):
    client, backend, _ = client_for()
    xml = RECT_CONFIG.replace('<Label value="cup"/>', '<Label value="cup"/><Label value="zorblax"/>')
    with caplog.at_level(logging.WARNING, logger="autolabel.integrations"):
        r1 = client.post("/setup", json={"project": "3.1700000000", "schema": xml, "hostname": "http://x", "access_token": "t"})
        r2 = client.post("/setup", json={"project": "3.1700000000", "schema": xml})
    assert r1.status_code == 200, r1.text
    body = r1.json()
    assert body["model_version"].startswith("autolabel-") and body == r2.json()
    assert body["labels"] == ["cat", "cup"] and list(body["unplaced_labels"]) == ["zorblax"]
    # named once in the log, though set up twice
    assert sum("zorblax" in rec.getMessage() for rec in caplog.records) == 1


def test_predict_one_prediction_per_task_in_order_bad_image_empty(local_images, caplog):
    settings = BackendSettings(local_roots=(str(local_images),))
    client, backend, pipeline = client_for(settings)
    tasks = tasks_of(local_images, "a.jpg", "missing.jpg", "b.jpg", "empty.jpg")
    tasks.append({"id": 9, "data": {"other": "x"}})
    tasks.append({"id": 10, "data": {"image": "s3://bucket/x.jpg"}})
    with caplog.at_level(logging.WARNING, logger="autolabel.integrations"):
        r = client.post("/predict", json={"tasks": tasks, "project": "3.17", "label_config": RECT_CONFIG, "params": {}})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(tasks)
    assert pipeline.calls == [[f"task-{t['id']}" for t in tasks]]  # one batch for the whole request
    good, missing, good2, empty, nokey, s3 = results
    for p in (good, good2):
        assert [reg["value"]["rectanglelabels"] for reg in p["result"]] == [["cat"]]  # dog: not a label
        assert p["score"] == 0.9 and p["result"][0]["score"] == 0.9
        assert p["model_version"] == r.json()["model_version"]
    for p in (missing, empty, nokey, s3):
        assert p["result"] == [] and p["score"] == 0.0
    lines = [rec.getMessage() for rec in caplog.records if "empty prediction" in rec.getMessage()]
    assert len(lines) == 4 and "task-2" in lines[0] and "task-9" in lines[2] and "'s3'" in lines[3]


def test_polygon_config_gets_polygons(local_images):
    client, _, _ = client_for(BackendSettings(local_roots=(str(local_images),)))
    r = client.post("/predict", json={"tasks": tasks_of(local_images, "a.jpg"), "label_config": POLY_CONFIG})
    (p,) = r.json()["results"]
    assert [reg["type"] for reg in p["result"]] == ["polygonlabels"]


def test_no_placed_label_means_no_model_call(local_images):
    client, _, pipeline = client_for(BackendSettings(local_roots=(str(local_images),)))
    xml = RECT_CONFIG.replace('value="cat"', 'value="zorblax"').replace('value="cup"', 'value="florp"')
    r = client.post("/predict", json={"tasks": tasks_of(local_images, "a.jpg"), "label_config": xml})
    assert r.json()["results"] == [{"result": [], "score": 0.0, "model_version": r.json()["model_version"]}]
    assert pipeline.calls == []


@pytest.mark.parametrize(("body", "status", "says"), [
    (b"{not json", 400, "not JSON"),
    (b"[1, 2]", 400, "list of tasks"),
    (json.dumps({"tasks": "x"}).encode(), 400, "list of tasks"),
    (json.dumps({"tasks": [], "label_config": "<View/>"}).encode(), 400, "no <Image>"),
    (b"[" * 100000 + b"]" * 100000, 400, "not JSON"),
])
def test_bad_requests_are_400_and_the_server_goes_on(body, status, says):
    client, _, _ = client_for()
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and says in r.json()["message"], r.text
    assert client.get("/health").status_code == 200


def test_setup_with_a_config_without_image_is_400():
    client, _, _ = client_for()
    r = client.post("/setup", json={"project": "1.1", "schema": '<View><Text name="t" value="$t"/></View>'})
    assert r.status_code == 400 and "no <Image>" in r.json()["message"]


def test_body_and_task_limits_are_413():
    client, _, _ = client_for(BackendSettings(max_request_bytes=1000, max_tasks=2))
    r = client.post("/predict", content=b"{" + b" " * 2000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413
    tasks = [{"id": i, "data": {"image": "/x"}} for i in range(3)]
    r = client.post("/predict", json={"tasks": tasks, "label_config": RECT_CONFIG})
    assert r.status_code == 413 and "more than 2" in r.json()["message"]


def test_an_unexpected_failure_is_500_and_the_server_goes_on(local_images):
    class Broken(FakePipeline):
        def __call__(self, images, names, labeler):
            raise RuntimeError("CUDA out of memory (simulated)")

    client, _, _ = client_for(BackendSettings(local_roots=(str(local_images),)), pipeline=Broken())
    r = client.post("/predict", json={"tasks": tasks_of(local_images, "a.jpg"), "label_config": RECT_CONFIG})
    assert r.status_code == 500 and "out of memory" in r.json()["message"]
    assert client.get("/health").status_code == 200


def test_webhook_and_train_acknowledge():
    client, _, _ = client_for()
    for path in ("/webhook", "/train"):
        r = client.post(path, json={"action": "ANNOTATION_CREATED", "project": {"id": 1}})
        assert r.status_code == 200 and r.json()["status"] == "ok"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_guards_every_endpoint():
    client, _, _ = client_for(basic_auth=("ls", "s3cret"))
    for method, path in (("GET", "/health"), ("POST", "/setup"), ("POST", "/predict"), ("POST", "/webhook")):
        for headers in ({}, _basic("ls", "wrong"), _basic("other", "s3cret"), {"Authorization": "Basic !!!"}):
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, headers)
            assert r.headers["www-authenticate"].startswith("Basic")
    assert client.get("/health", headers=_basic("ls", "s3cret")).status_code == 200
    r = client.post("/setup", headers=_basic("ls", "s3cret"), json={"project": "1.1", "schema": RECT_CONFIG})
    assert r.status_code == 200


def _hold_model(backend, pipeline, local_images):
    """Start a prediction in a thread that holds the model until ``pipeline.gate`` is set."""
    pipeline.gate = threading.Event()
    body = {"tasks": tasks_of(local_images, "a.jpg"), "label_config": RECT_CONFIG}
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("r", backend.predict(body)))
    t.start()
    assert pipeline.entered.wait(10)
    return t, out, body


def test_over_capacity_is_503_with_retry_after(local_images):
    client, backend, pipeline = client_for(BackendSettings(local_roots=(str(local_images),), max_waiting=0))
    t, out, body = _hold_model(backend, pipeline, local_images)
    try:
        r = client.post("/predict", json=body)
        assert r.status_code == 503 and r.headers["retry-after"].isdigit()
        assert client.get("/health").json()["busy"] is True  # health answers while the model works
    finally:
        pipeline.gate.set()
        t.join(10)
    assert len(out["r"]["results"]) == 1
    assert client.post("/predict", json=body).status_code == 200  # capacity is back


def test_a_waiting_request_runs_when_the_model_frees_or_gets_503_after_the_queue_timeout(local_images):
    settings = BackendSettings(local_roots=(str(local_images),), max_waiting=1, queue_timeout=0.3)
    client, backend, pipeline = client_for(settings)
    t, _, body = _hold_model(backend, pipeline, local_images)
    t0 = time.monotonic()
    r = client.post("/predict", json=body)
    assert r.status_code == 503 and "busy" in r.json()["message"] and time.monotonic() - t0 >= 0.3
    settings = BackendSettings(local_roots=(str(local_images),), max_waiting=1, queue_timeout=30)
    client2, backend2, pipeline2 = client_for(settings)
    t2, _, body = _hold_model(backend2, pipeline2, local_images)
    threading.Timer(0.3, pipeline2.gate.set).start()
    r = client2.post("/predict", json=body)  # waits its turn, then runs
    assert r.status_code == 200 and len(r.json()["results"]) == 1
    pipeline.gate.set()
    t.join(10)
    t2.join(10)


def test_model_version_is_stable_and_follows_settings_and_labels():
    from autolabel.config import PipelineConfig

    a, _ = fake_backend(BackendSettings(name="lite"))
    b, _ = fake_backend(BackendSettings(name="lite"))
    assert a.model_version() == b.model_version()
    assert a.project(RECT_CONFIG).model_version == b.project(RECT_CONFIG).model_version
    # the same labels as polygons: other predictions, another version; whitespace alone: the same
    assert a.project(RECT_CONFIG).model_version != a.project(POLY_CONFIG).model_version
    assert a.project(RECT_CONFIG).model_version == a.project(RECT_CONFIG.replace("\n", " ")).model_version
    other_labels = a.project(RECT_CONFIG.replace('"cup"', '"dog"')).model_version
    other_settings, _ = fake_backend(BackendSettings(name="lite"), PipelineConfig(extractor="test_vit", classifier="test_convnext", max_boxes=3))
    runtime_only, _ = fake_backend(BackendSettings(name="lite"), PipelineConfig(extractor="test_vit", classifier="test_convnext", batch_size=2))
    v = a.project(RECT_CONFIG).model_version
    assert len({v, other_labels, other_settings.project(RECT_CONFIG).model_version}) == 3
    assert runtime_only.project(RECT_CONFIG).model_version == v  # batch size does not change results
    assert v.startswith("autolabel-") and "-lite-" in v


def test_origin_from_setup_fills_what_settings_do_not_give():
    bare, _ = fake_backend()
    bare.setup({"project": "5.1", "schema": RECT_CONFIG, "hostname": "http://ls:8080", "access_token": "TOK"})
    assert (bare.origin("5").url, bare.origin("5").api_key) == ("http://ls:8080", "TOK")
    assert bare.origin("6").url is None
    told, _ = fake_backend(BackendSettings(label_studio_url="http://real:8080"))
    told.setup({"project": "5.1", "schema": RECT_CONFIG, "hostname": "http://evil:1", "access_token": "TOK"})
    assert (told.origin("5").url, told.origin("5").api_key) == ("http://real:8080", None)  # a token only with its host
