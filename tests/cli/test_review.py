"""``autolabel review``: the command in-process, and the real App in a subprocess."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.store import RunStore
from tests.review.support import fiftyone_env, free_port, make_run, use_private_fiftyone

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fo_uri(tmp_path_factory):
    with use_private_fiftyone(tmp_path_factory.mktemp("fiftyone")) as uri:
        yield uri


def test_missing_run_is_one_line_error(tmp_path):
    r = CliRunner().invoke(main, ["review", str(tmp_path / "nope"), "--no-launch"])
    assert r.exit_code == 1
    assert r.output.startswith("error: ") and "does not exist" in r.output


@pytest.mark.slow
def test_no_launch_then_pull(fo_uri, tmp_path):
    run = make_run(tmp_path / "cli")
    runner = CliRunner()
    r = runner.invoke(main, ["review", str(run), "--pull"])
    assert r.exit_code == 1 and "autolabel review" in r.output  # nothing to pull yet

    r = runner.invoke(main, ["review", str(run), "--no-launch"])
    assert r.exit_code == 0, r.output
    assert "dataset autolabel-cli created: 4 new sample(s), 0 already there" in r.output
    for view in ("low-confidence", "low-objectness", "overlapping", "outside-classes", "no-boxes"):
        assert view in r.output
    r = runner.invoke(main, ["review", str(run), "--no-launch"])
    assert "updated: 0 new sample(s), 4 already there" in r.output

    r = runner.invoke(main, ["review", str(run), "--pull"])  # nothing reviewed yet (issue 14, item 21)
    assert r.exit_code == 0, r.output
    assert "nothing changed in autolabel-cli since the original predictions (4 images, 7 boxes); no revision written" in r.output
    assert "kept 7, relabeled 0, moved 0, rejected 0, added 0, reviewed 0" in r.output
    assert RunStore(run).revisions() == [] and not (run / "revisions").exists()

    import fiftyone as fo

    ds = fo.load_dataset("autolabel-cli")  # a reviewer rejects one box in the App
    ds.select_labels(ids=[d.id for s in ds for d in s.predictions.detections if d["autolabel_id"] == "rocket-1"]).tag_labels("reject")
    r = runner.invoke(main, ["review", str(run), "--pull"])
    assert r.exit_code == 0, r.output
    assert "into revision 001-fiftyone (4 images, 7 -> 6 boxes)" in r.output
    assert "kept 6, relabeled 0, moved 0, rejected 1, added 0, reviewed 0" in r.output
    assert RunStore(run).revisions() == ["001-fiftyone"]
    r = runner.invoke(main, ["review", str(run), "--pull"])  # pulled again with no new edit
    assert r.exit_code == 0 and "nothing changed in autolabel-cli since revision 001-fiftyone" in r.output, r.output
    assert RunStore(run).revisions() == ["001-fiftyone"]

    r = runner.invoke(main, ["review", str(run), "--no-launch", "--dataset", "other name"])
    assert r.exit_code == 0 and "dataset other name created" in r.output
    ds = fo.load_dataset("other name")
    ds.select_labels(ids=[d.id for s in ds for d in s.predictions.detections if d["autolabel_id"] == "coffee-1"]).tag_labels("reject")
    r = runner.invoke(main, ["review", str(run), "--pull"])  # remembers the last dataset used
    assert "pulled other name into revision 002-fiftyone (4 images, 6 -> 5 boxes)" in r.output, r.output


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def _patch_label_like_the_app(port: int, fo, dataset: str, detection: str, ops: list[dict]) -> dict:
    """PATCH one detection through the App server's own endpoint, as the App's Annotate tab does."""
    ds = fo.load_dataset(dataset)
    sample = next(s for s in ds if any(d["autolabel_id"] == detection for d in s.predictions.detections))
    label = next(d for d in sample.predictions.detections if d["autolabel_id"] == detection)
    etag = base64.b64encode(sample.last_modified_at.isoformat().encode()).decode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/dataset/{ds._doc.id}/sample/{sample.id}/predictions.detections/{label.id}",
        data=json.dumps(ops).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json-patch+json", "If-Match": f'"{etag}"'},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


@pytest.mark.slow
@pytest.mark.integration
def test_app_serves_edits_and_stops_cleanly(fo_uri, tmp_path):
    import fiftyone as fo
    import psutil

    from autolabel.review import dataset as review

    run = make_run(tmp_path / "app")
    port = free_port()
    env = fiftyone_env(fo_uri, tmp_path / "fo-db")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    log = open(tmp_path / "cli.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "autolabel", "review", str(run), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a terminal job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C works even if we ignore it
    )
    family: list = []
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            status = _http_status(f"http://127.0.0.1:{port}/")
            if status == 200:
                break
            time.sleep(0.5)
        log.seek(0)
        assert status == 200, f"App did not answer 200 within 60 s (got {status}); output:\n{log.read()}"
        out = ""
        while "Ctrl-C" not in out and time.monotonic() < deadline:  # printed once launch_app returned
            time.sleep(0.2)
            log.seek(0)
            out = log.read()
        assert f"App: http://127.0.0.1:{port}/" in out and f"ssh -N -L {port}:127.0.0.1:{port}" in out
        family = psutil.Process(proc.pid).children(recursive=True)
        assert family, "the App server runs in child processes"
        listeners = {c.laddr.port for p in family for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
        assert port in listeners

        # one edit through the App's own HTTP API: relabel and move chelsea-1
        body = _patch_label_like_the_app(
            port, fo, "autolabel-app", "chelsea-1",
            [{"op": "replace", "path": "/label", "value": "tabby"},
             {"op": "replace", "path": "/bounding_box", "value": [0.2, 0.1, 0.5, 0.6]}],
        )
        assert body["predictions"]["detections"][1]["label"] == "tabby"

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log.seek(0)
    out = log.read()
    assert rc == 0, out
    assert "stopped" in out
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert alive == [], f"still running after Ctrl-C: {[p.pid for p in alive]}"
    assert _http_status(f"http://127.0.0.1:{port}/") is None

    # the App's edit kept our id and comes back as a relabel + move
    res = review.pull(RunStore(run))
    assert (res.corrections.relabeled, res.corrections.moved, res.corrections.kept) == (1, 1, 6)
    det = next(d for i in RunStore(run).iter_images() for d in i.detections if d.id == "chelsea-1")
    assert det.label == "tabby" and det.label_id == "n02123045" and det.source == "human"
    assert det.box == pytest.approx((0.2 * 451, 0.1 * 300, 0.7 * 451, 0.7 * 300))


def test_format_corrections_names_invalid_boxes_only_when_there_are_some():
    from autolabel.cli.review import format_corrections
    from autolabel.review.corrections import CorrectionSummary

    assert format_corrections(CorrectionSummary(kept=3, relabeled=1)) == "kept 3, relabeled 1, moved 0, rejected 0, added 0, reviewed 0"
    assert format_corrections(CorrectionSummary(invalid=2)).endswith(", reviewed 0, invalid 2")
