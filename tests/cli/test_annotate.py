"""``autolabel annotate`` as users run it: exit codes, messages, kill -9 and resume, the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from tests.conftest import REPO, write_image

# --discovery multi: LOST always finds regions, even on random keys, while the presets' `votes`
# reads random keys as all background and finds none on most random initialisations.
TINY = ["--extractor", "test_vit", "--extractor-weights", "random", "--classifier", "test_convnext",
        "--classifier-weights", "random", "--max-side", "128", "--precision", "fp32", "--discovery", "multi"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner: CliRunner) -> None:
    r = runner.invoke(main, ["--version"])
    assert r.exit_code == 0 and "autolabel, version" in r.output


@pytest.mark.parametrize("args, code, msg", [
    (["annotate", "{tmp}/missing", "-o", "{tmp}/run"], 1, "error: input path .*missing does not exist"),
    (["annotate", "{tmp}/empty", "-o", "{tmp}/run"], 1, "error: no images .* found under"),
    (["annotate", "{tmp}/empty", "-o", "{tmp}/run", "--preset", "huge"], 2, "Invalid value for '--preset'"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--preset", "fast"], 1,
     "error: cannot get the weights for the extractor 'vit_small_patch16_224.dino'.*--extractor-weights PATH"
     ".*the classifier 'convnext_tiny.fb_in22k'.*--classifier-weights PATH.*HF_HUB_OFFLINE is set"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--preset", "lite", "--config", "{tmp}/c.yaml"], 1,
     "error: give either --preset or --config"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--extractor", "nosuchnet", "--extractor-weights", "random"], 1,
     "error: unknown extractor model 'nosuchnet'"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--device", "tpu9"], 1, "error: option --device"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--inflight-megapixels", "0"], 2,
     "Invalid value for '--inflight-megapixels'"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--export", "cooc"], 1, "error: unknown format 'cooc'; available: coco"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--export", "coco", "-O", "coco_results=maybe"], 1,
     "error: format 'coco' option 'coco_results': 'maybe' is not a valid boolean"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "-O", "coco_results=1"], 2, "-O/--export-option needs --export FORMAT"),
    (["annotate", "{tmp}/imgs", "-o", "{tmp}/run", "--export", "coco", "-O", "coco_results"], 2,
     "expected NAME=VALUE or FORMAT.NAME=VALUE, got 'coco_results'"),
])
def test_errors_are_one_line_with_exit_codes(runner: CliRunner, tmp_path: Path, args, code: int, msg: str) -> None:
    import re

    (tmp_path / "empty").mkdir()
    write_image(tmp_path / "imgs" / "a.png")
    (tmp_path / "c.yaml").write_text("max_boxes: 2\n")
    r = runner.invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == code, r.output
    assert re.search(msg, r.output, re.S), r.output
    assert "Traceback" not in r.output
    if code == 1:
        assert not (tmp_path / "run" / "manifest.json").exists()
        if "weights" in msg or "unknown extractor" in msg:  # checked before the run folder exists
            assert not (tmp_path / "run").exists()


def test_annotate_prints_summary_and_writes_run(runner: CliRunner, tmp_path: Path, sample_copy: Path) -> None:
    (sample_copy / "broken.jpg").write_bytes(b"nope")
    r = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(tmp_path / "run"), *TINY])
    assert r.exit_code == 0, r.output
    assert "4 image(s) annotated, 1 failed" in r.output
    assert "failed: broken.jpg: not an image" in r.output
    assert len((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()) == 4
    # A speed setting may change on resume; --export goes through the exporters' options and notes.
    r2 = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(tmp_path / "run"), *TINY, "--inflight-megapixels", "0.5",
                              "--export", "coco,labelstudio", "-O", "coco_results=true"])
    assert r2.exit_code == 0 and "0 image(s) annotated, 0 failed, 0 boxes, 5 already done" in r2.output
    export = tmp_path / "run" / "export"
    assert f"exported coco: {export / 'coco'} (2 file(s))" in r2.output
    assert (export / "coco" / "results-default.json").is_file()
    assert "labelstudio: start Label Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true" in r2.output
    r3 = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(tmp_path / "run"), *TINY, "--max-boxes", "1"])
    assert r3.exit_code == 1 and "other settings (max_boxes" in r3.output


def _annotate_cmd(images: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "autolabel", "annotate", str(images), "-o", str(run), *TINY,
            "--workers", "1", "--quiet"]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_gives_every_image_once(tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    n = 120
    for i in range(n):
        write_image(images / f"d{i // 40}" / f"img_{i:03d}.png", (96 + i % 7, 80))
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(_annotate_cmd(images, run), env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    preds = run / "predictions.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if preds.exists() and len(preds.read_bytes().splitlines()) >= 10:
            break
        if proc.poll() is not None:
            pytest.fail(f"annotate ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_at_kill = len(preds.read_bytes().splitlines())
    assert 10 <= done_at_kill < n, "the kill must land mid-run"
    # Simulate the worst case too: a torn half line at the end of the file.
    with open(preds, "ab") as f:
        f.write(b'{"path": "d2/img_119.png", "wid')
    r = subprocess.run(_annotate_cmd(images, run), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    paths = [json.loads(line)["path"] for line in preds.read_text().splitlines()]
    assert len(paths) == n and len(set(paths)) == n
    assert sorted(paths) == sorted(f"d{i // 40}/img_{i:03d}.png" for i in range(n))


def test_second_process_on_same_run_is_refused(runner: CliRunner, tmp_path: Path, sample_copy: Path) -> None:
    code = ("import sys, time; from autolabel.store import RunStore\n"
            "with RunStore(sys.argv[1]).lock():\n    print('locked', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run")], stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == b"locked"
        r = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(tmp_path / "run"), *TINY])
        assert r.exit_code == 1
        assert f"is in use by another process (pid {holder.pid})" in r.output
    finally:
        holder.kill()
        holder.wait(10)


def test_engine_choices_come_from_the_registry_and_options_reach_the_engine(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import autolabel.engines as engines
    from autolabel.config import PipelineConfig
    from autolabel.run import RunSummary

    help_text = runner.invoke(main, ["annotate", "--help"]).output
    assert "[" + "|".join(engines.list_engines()) + "]" in help_text
    calls = []

    def fake_engine(config, input_path, run_dir, options, *, progress=None, on_start=None):
        calls.append((config, options))
        on_start(1, 0)
        progress(1, 2, 0)
        return RunSummary(Path(run_dir), 1, 0, processed=1, boxes=2, seconds=1.0)

    monkeypatch.setattr(engines, "get_engine", lambda name: calls.append(name) or fake_engine)
    write_image(tmp_path / "imgs" / "a.png")
    for name in engines.list_engines():
        calls.clear()
        r = runner.invoke(main, ["annotate", str(tmp_path / "imgs"), "-o", str(tmp_path / "run"), *TINY,
                                 "--engine", name, "--workers", "3", "--previews", "--allow-config-change",
                                 "--ray-address", "auto", "--gpus-per-worker", "0.5"])
        assert r.exit_code == 0, r.output
        assert "1 image(s) annotated, 0 failed, 2 boxes" in r.output
        assert calls[0] == name
        config, options = calls[1]
        assert options == engines.EngineOptions(previews=True, allow_config_change=True, workers=3, address="auto",
                                                gpus_per_worker=0.5)
        assert config.workers == PipelineConfig().workers  # --workers is the engine's to use
    bad = runner.invoke(main, ["annotate", str(tmp_path / "imgs"), "-o", str(tmp_path / "run"), "--engine", "spark"])
    assert bad.exit_code == 2 and "Invalid value for '--engine'" in bad.output


def test_decoder_option_reaches_the_pipeline_and_resumes(runner: CliRunner, tmp_path: Path, sample_copy: Path) -> None:
    (sample_copy / "broken.jpg").write_bytes(b"\xff\xd8\xffnope")
    r = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(tmp_path / "run"), *TINY, "--decoder", "device"])
    assert r.exit_code == 0, r.output
    assert "4 image(s) annotated, 1 failed" in r.output and "failed: broken.jpg: not an image" in r.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["decoder"] == "device"
    r2 = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(tmp_path / "run"), *TINY, "--decoder", "pil"])
    assert r2.exit_code == 0 and "5 already done" in r2.output
    bad = runner.invoke(main, ["annotate", str(sample_copy), "-o", str(tmp_path / "run2"), "--decoder", "gpu"])
    assert bad.exit_code == 2 and "Invalid value for '--decoder'" in bad.output


def test_min_score_help_names_each_presets_threshold(runner: CliRunner) -> None:
    """``--min-score``'s help states every preset's own default (it once said 0.2 for all)."""
    import re

    from autolabel.config import get_preset, list_presets

    out = runner.invoke(main, ["annotate", "--help"], terminal_width=400).output
    text = " ".join(out[out.index("--min-score"):].split("--nested-containment")[0].split())
    stated = {name: float(value) for names, value in re.findall(r"((?:\w+, )*\w+): ([0-9.]+[0-9])", text)
              for name in names.split(", ")}
    assert stated == {name: get_preset(name).min_score for name in list_presets()}
