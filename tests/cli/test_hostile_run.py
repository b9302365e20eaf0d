"""Hostile run directories, a late ``--previews``, failed starts and Ctrl-C (issue 14, items 17,
18, 23 and the failed-start cleanup), met the way a user meets them: real folders and files,
the real CLI (in process, or in a subprocess sent SIGINT), exit codes and one-line messages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from autolabel.cli import main
from autolabel.store import RunStore
from tests.cli.test_annotate import TINY
from tests.conftest import REPO, write_image


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    for name in ("a.png", "b.jpg", "sub/c.png"):
        write_image(folder / name, (80, 64))
    (folder / "broken.jpg").write_bytes(b"not an image")
    return folder


def _annotate(runner: CliRunner, images: Path, run: Path, *extra: str):
    return runner.invoke(main, ["annotate", str(images), "-o", str(run), *TINY, "--workers", "1", *extra])


def _one_line_error(r) -> str:
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run_paths(run: Path) -> list[str]:
    """Every image path recorded in the run (predictions and failures), duplicates kept."""
    return [json.loads(x)["path"] for f in ("predictions.jsonl", "failures.jsonl")
            for x in (run / f).read_text(encoding="utf-8").splitlines() if x.strip()]


# -- item 17: -o naming a file, a folder of the user's own files, or the input ----------------------
def test_output_naming_an_existing_file_is_refused(runner: CliRunner, tmp_path: Path, images: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    line = _one_line_error(_annotate(runner, images, target))
    assert f"-o {target} is a file" in line
    assert target.read_text() == "my notes\n"
    # a path through a file is refused the same way, and creates nothing
    line = _one_line_error(_annotate(runner, images, target / "run"))
    assert f"{target} is a file, so no run folder can be made under it" in line


def test_output_naming_a_folder_of_the_users_files_is_refused(runner: CliRunner, tmp_path: Path,
                                                              images: Path) -> None:
    mine = tmp_path / "thesis"
    (mine / "chapters").mkdir(parents=True)
    (mine / "draft.tex").write_text("\\section{One}")
    (mine / "chapters" / "two.tex").write_text("\\section{Two}")
    before = _tree(mine)
    line = _one_line_error(_annotate(runner, images, mine))
    assert f"-o {mine} is a folder of other files (2 entries: chapters, draft.tex), not an autolabel run" in line
    assert _tree(mine) == before and not (mine / ".lock").exists()  # nothing written beside them


def test_output_equal_to_the_input_folder_is_refused(runner: CliRunner, images: Path) -> None:
    before = _tree(images)
    line = _one_line_error(_annotate(runner, images, images))
    assert f"-o {images} is the input folder itself" in line
    assert _tree(images) == before


def test_an_empty_folder_or_an_existing_run_is_a_fine_output(runner: CliRunner, tmp_path: Path,
                                                              images: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _annotate(runner, images, empty)
    assert r.exit_code == 0, r.output
    assert "3 image(s) annotated, 1 failed" in r.output
    r = _annotate(runner, images, empty)  # now a run: resumed
    assert r.exit_code == 0 and "0 image(s) annotated, 0 failed, 0 boxes, 4 already done" in r.output, r.output
    assert sorted(_run_paths(empty)) == ["a.png", "b.jpg", "broken.jpg", "sub/c.png"]


# -- failed starts leave nothing behind (both engines) ----------------------------------------------
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_failed_start_leaves_no_run_folder(runner: CliRunner, tmp_path: Path, images: Path, engine: str) -> None:
    """The class list fails once the run's lock is held (the folder exists by then): the folders
    the call created are removed again, parents included; never a folder holding only .lock."""
    run = tmp_path / "runs" / "new" / "run"
    line = _one_line_error(_annotate(runner, images, run, "--engine", engine, "--classes", "zzzqqq"))
    assert "--classes: class 'zzzqqq'" in line
    assert not (tmp_path / "runs").exists()
    # a folder the user made is kept (only what the call created goes), and stays empty
    (tmp_path / "mine").mkdir()
    _one_line_error(_annotate(runner, images, tmp_path / "mine", "--engine", engine, "--classes", "zzzqqq"))
    assert (tmp_path / "mine").is_dir() and list((tmp_path / "mine").iterdir()) == []


def test_ray_checks_weight_files_before_the_run_folder_exists(runner: CliRunner, tmp_path: Path,
                                                               images: Path) -> None:
    run = tmp_path / "run"
    missing = tmp_path / "gone.pth"
    r = runner.invoke(main, ["annotate", str(images), "-o", str(run), "--engine", "ray", "--extractor", "test_vit",
                             "--extractor-weights", str(missing), "--classifier", "test_convnext",
                             "--classifier-weights", "random"])
    assert f"--extractor-weights {missing}: no such file" in _one_line_error(r)
    assert not run.exists()
    r = runner.invoke(main, ["annotate", str(images), "-o", str(run), "--engine", "ray", "--extractor", "no_such_model",
                             "--extractor-weights", "hub"])
    assert "no_such_model" in _one_line_error(r)
    assert not run.exists()


# -- item 18: --previews on a finished run ----------------------------------------------------------
def test_previews_on_a_finished_run_are_drawn_from_its_records(runner: CliRunner, tmp_path: Path, images: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    assert _annotate(runner, images, run).exit_code == 0
    assert not (run / "previews").exists()

    import autolabel.images
    import autolabel.pipeline.annotator

    def no_models(*a, **k):
        raise AssertionError("a model was loaded to draw previews")

    decoded: list[str] = []
    real_decode = autolabel.images.decode_image

    def counting_decode(root, rel_path, **kw):
        decoded.append(rel_path)
        return real_decode(root, rel_path, **kw)

    monkeypatch.setattr(autolabel.pipeline.annotator, "load_models", no_models)
    monkeypatch.setattr(autolabel.images, "decode_image", counting_decode)
    r = _annotate(runner, images, run, "--previews")
    assert r.exit_code == 0, r.output
    assert "0 image(s) annotated, 0 failed, 0 boxes, 4 already done" in r.output
    assert f"3 preview(s) drawn in {run / 'previews'}" in r.output
    assert sorted(decoded) == ["a.png", "b.jpg", "sub/c.png"]  # each image decoded once
    records = {i.path: i for i in RunStore(run).iter_images()}
    for rel in records:
        with Image.open(run / "previews" / rel) as im:
            assert im.size == (80, 64)
            src = Image.open(images / rel).convert("RGB")
            if records[rel].detections:  # the boxes are drawn on it
                assert im.convert("RGB").tobytes() != src.tobytes()

    decoded.clear()
    (run / "previews" / "b.jpg").unlink()
    r = _annotate(runner, images, run, "--previews")
    assert r.exit_code == 0 and "1 preview(s) drawn" in r.output, r.output
    assert decoded == ["b.jpg"] and (run / "previews" / "b.jpg").is_file()


def test_previews_of_new_images_and_old_ones_when_a_run_grows(runner: CliRunner, tmp_path: Path,
                                                              images: Path) -> None:
    run = tmp_path / "run"
    assert _annotate(runner, images, run).exit_code == 0
    write_image(images / "d.png", (72, 60))
    r = _annotate(runner, images, run, "--previews")
    assert r.exit_code == 0 and "1 image(s) annotated" in r.output and "4 preview(s) drawn" in r.output, r.output
    assert sorted(str(p.relative_to(run / "previews")) for p in (run / "previews").rglob("*.*")) == [
        "a.png", "b.jpg", "d.png", "sub/c.png"]
    assert sorted(_run_paths(run)) == ["a.png", "b.jpg", "broken.jpg", "d.png", "sub/c.png"]


# -- item 23: Ctrl-C says how many images were done and that rerunning resumes ------------------------
def _many_images(folder: Path, n: int) -> list[str]:
    names = [f"d{i // 50}/img_{i:03d}.png" for i in range(n)]
    for i, name in enumerate(names):
        write_image(folder / name, (96 + i % 7, 80))
    return names


def _lines(*files: Path) -> int:
    return sum(len(f.read_bytes().splitlines()) for f in files if f.exists())


GATE_SHIM = Path(__file__).parent / "gate_shim"
"""Folder of the ``sitecustomize`` that holds a run's discovery at a gate (see its docstring)."""


def _default_sigint() -> None:
    """In the child before it runs: SIGINT back to its default action, so Python installs its
    KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_mid_run(cmd: list[str], env: dict[str, str], done: Callable[[], int], min_done: int, gate: Path,
                       hold_after: int, timeout: float, finish_timeout: float = 120):
    """Start ``cmd`` with discovery held at a gate after ``hold_after`` images (in the first
    process to get there; :data:`GATE_SHIM`), send it SIGINT once the gate is reached and
    ``done()`` (results written so far) is at least ``min_done``, then open the gate; its exit
    status, stdout and stderr. The run cannot end before the signal: an image is held."""
    gate.mkdir()
    env = {**env, "PYTHONPATH": os.pathsep.join([str(GATE_SHIM), env.get("PYTHONPATH", "")]),
           "AUTOLABEL_TEST_GATE": str(gate), "AUTOLABEL_TEST_GATE_AFTER": str(hold_after)}
    # A test run started in the background (``cmd &`` without job control) inherits SIGINT
    # ignored, and Python then keeps it ignored: give the run Ctrl-C as a terminal gives it.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + timeout  # only a guard against a run that never gets there
    try:
        while not ((gate / "reached").exists() and done() >= min_done):
            if proc.poll() is not None:
                pytest.fail(f"annotate ended before it reached the gate: {proc.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the run did not reach the gate and {min_done} results in {timeout} s")
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
    finally:
        (gate / "release").touch()
        if proc.poll() is None and sys.exc_info()[0] is not None:
            proc.kill()
    out, err = proc.communicate(timeout=finish_timeout)
    return proc.returncode, out, err


def _check_interrupt_message(rc: int, err: str, run: Path, n: int) -> int:
    assert rc == 130, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    done = len(_run_paths(run))
    assert 0 < done < n, "the interrupt must land mid-run"
    assert last == (f"interrupted: {done} image(s) finished in this call (0 failed) are kept in {run}, {n - done} "
                    "still to do; run the same command again to resume"), err
    return done


def test_ctrl_c_says_how_many_images_were_done_and_rerun_resumes(tmp_path: Path) -> None:
    n = 150
    names = _many_images(tmp_path / "imgs", n)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "autolabel", "annotate", str(tmp_path / "imgs"), "-o", str(run), *TINY, "--workers", "1"]
    rc, _, err = _interrupt_mid_run(cmd, env, lambda: _lines(run / "predictions.jsonl"), 5, tmp_path / "gate",
                                    hold_after=20, timeout=120)
    done = _check_interrupt_message(rc, err, run, n)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    assert f"resuming {run}: {done} image(s) already done, {n - done} to go" in r.stderr
    paths = _run_paths(run)
    assert len(paths) == n and sorted(paths) == sorted(names)  # every image exactly once


@pytest.mark.slow
def test_ctrl_c_on_the_ray_engine_keeps_finished_parts_and_rerun_resumes(tmp_path: Path) -> None:
    pytest.importorskip("ray.data")
    n = 120
    names = _many_images(tmp_path / "imgs", n)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-m", "autolabel", "annotate", str(tmp_path / "imgs"), "-o", str(run), *TINY,
           "--engine", "ray", "--workers", "1", "--device", "cpu"]
    # Ray appends to predictions.jsonl only when parts are merged: wait for a finished part instead
    rc, _, err = _interrupt_mid_run(cmd, env, lambda: _lines(*run.glob("parts/*.jsonl")), 10, tmp_path / "gate",
                                    hold_after=40, timeout=300, finish_timeout=180)
    done = _check_interrupt_message(rc, err, run, n)
    assert not (run / "parts").exists()  # merged into the run before exiting
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    assert f"{done} image(s) already done, {n - done} to go" in r.stderr
    paths = _run_paths(run)
    assert len(paths) == n and sorted(paths) == sorted(names)
