"""Hostile input met the way a user meets it (issue 14): real files on disk, the real CLI.

Each test asserts the exit code, a one-line message naming the file or option (no traceback),
and that every good image is in the run exactly once.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.store import RunStore
from tests.cli.test_annotate import TINY
from tests.conftest import REPO, write_image


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _annotate(runner: CliRunner, images: Path, run: Path, *extra: str):
    return runner.invoke(main, ["annotate", str(images), "-o", str(run), *TINY, "--workers", "1", *extra])


def _run_paths(run: Path) -> list[str]:
    """Image paths of predictions.jsonl, read as any JSON reader reads them (one per line)."""
    return [json.loads(line)["path"] for line in (run / "predictions.jsonl").read_bytes().decode("utf-8").splitlines()]


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output, output


def test_non_utf8_file_name_is_annotated_once_and_resumes(runner: CliRunner, tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    write_image(images / "a.png")
    write_image(images / "z.png")
    raw = os.fsencode(images)
    with open(os.path.join(raw, b"bad\xff.png"), "wb") as f:   # a name from an old zip
        f.write((images / "a.png").read_bytes())
    with open(os.path.join(raw, b"broken\xfe.jpg"), "wb") as f:
        f.write(b"not an image")
    run = tmp_path / "run"
    r = _annotate(runner, images, run)
    assert r.exit_code == 0, r.output
    _no_traceback(r.output)
    assert "3 image(s) annotated, 1 failed" in r.output
    assert "failed: broken\\xfe.jpg: not an image" in r.output  # shown escaped, never raw bytes
    paths = _run_paths(run)  # the file is valid UTF-8; the name is stored as \udcff
    assert sorted(paths) == ["a.png", "bad\udcff.png", "z.png"]
    assert b'"bad\\udcff.png"' in (run / "predictions.jsonl").read_bytes()
    assert os.fsencode(paths[1]) == b"bad\xff.png"  # lossless: the exact bytes of the name
    fails = [json.loads(line) for line in (run / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [os.fsencode(f["path"]) for f in fails] == [b"broken\xfe.jpg"]
    # The run reads back and resumes: nothing is annotated twice.
    assert sorted(i.path for i in RunStore(run).iter_images()) == sorted(paths)
    r2 = _annotate(runner, images, run)
    assert r2.exit_code == 0 and "0 image(s) annotated, 0 failed, 0 boxes, 4 already done" in r2.output, r2.output
    assert len(_run_paths(run)) == 3


@pytest.mark.slow
def test_symlink_to_a_fifo_is_a_failure_not_a_hang(tmp_path: Path) -> None:
    """In a subprocess: a regression would block on open() forever, holding the run's lock."""
    images = tmp_path / "imgs"
    write_image(images / "a.png")
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", images / "m.jpg")
    cmd = [sys.executable, "-m", "autolabel", "annotate", str(images), "-o", str(tmp_path / "run"), *TINY]
    r = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "1 image(s) annotated, 1 failed" in r.stdout
    assert "failed: m.jpg: not a regular file: it is a FIFO" in r.stderr
    assert _run_paths(tmp_path / "run") == ["a.png"]


def test_unreadable_subfolder_is_named_in_the_summary_and_added_on_rerun(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = tmp_path / "imgs"
    for rel in ("a.png", "locked/b.png", "z/c.png"):
        write_image(images / rel)
    # The tests run as root, and root can list a 0o000 folder; so fail the listing the way it
    # fails for a user without permission: os.walk's scandir raises PermissionError there.
    real_scandir = os.scandir

    def scandir(path=".", *a, **k):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    run = tmp_path / "run"
    r = _annotate(runner, images, run)
    assert r.exit_code == 0, r.output
    assert "2 image(s) annotated" in r.output
    assert "warning: cannot read folder locked (Permission denied): its images are not in the run" in r.output
    assert sorted(_run_paths(run)) == ["a.png", "z/c.png"]
    monkeypatch.setattr(os, "scandir", real_scandir)  # permissions fixed: the rerun adds it
    r2 = _annotate(runner, images, run)
    assert r2.exit_code == 0 and "1 image(s) annotated" in r2.output and "warning" not in r2.output, r2.output
    assert sorted(_run_paths(run)) == ["a.png", "locked/b.png", "z/c.png"]


def test_run_folder_inside_its_input_is_never_input(runner: CliRunner, tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    write_image(images / "a.png")
    write_image(images / "sub" / "b.jpg")
    run = images / "runs" / "r1"
    for _ in range(2):  # the rerun must not annotate the first run's previews
        r = _annotate(runner, images, run, "--previews")
        assert r.exit_code == 0, r.output
    assert "0 image(s) annotated, 0 failed, 0 boxes, 2 already done" in r.output
    assert sorted(_run_paths(run)) == ["a.png", "sub/b.jpg"]
    assert (run / "previews" / "a.png").is_file() and (run / "previews" / "sub" / "b.jpg").is_file()
    assert not list((run / "previews").rglob("*.*.*"))  # no x.jpg.jpg


def test_single_file_input_symlink_with_another_name(runner: CliRunner, tmp_path: Path) -> None:
    real = write_image(tmp_path / "camera" / "IMG_0001.png")
    os.symlink(real, tmp_path / "photo.png")
    r = _annotate(runner, tmp_path / "photo.png", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "1 image(s) annotated, 0 failed" in r.output
    assert _run_paths(tmp_path / "run") == ["photo.png"]


class _FullDisk:
    """A file whose ``write`` fails with ENOSPC once ``budget`` writes have gone through."""

    def __init__(self, f, budget: int) -> None:
        self._f, self._left = f, budget

    def write(self, data):
        if self._left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._left -= 1
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def _fill_disk_under(monkeypatch: pytest.MonkeyPatch, folder: Path, budget: int) -> None:
    """Every file opened for writing under ``folder`` fails after ``budget`` writes."""
    real_open = builtins.open

    def fake_open(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        inside = isinstance(file, (str, os.PathLike)) and str(Path(os.fspath(file)).absolute()).startswith(str(folder))
        return _FullDisk(f, budget) if inside and any(c in mode for c in "wax") else f

    monkeypatch.setattr(builtins, "open", fake_open)


def test_disk_full_during_annotate_says_so_and_rerun_resumes(
        runner: CliRunner, tmp_path: Path, sample_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    _fill_disk_under(monkeypatch, run, budget=1)  # one prediction fits, then the disk is full
    r = _annotate(runner, sample_copy, run, "--quiet")
    assert r.exit_code == 1, r.output
    _no_traceback(r.output)
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the disk is full (No space left on device)")
    assert "run the same command again: annotate resumes where it stopped" in lines[0]
    assert len(_run_paths(run)) == 1
    monkeypatch.undo()
    r2 = _annotate(runner, sample_copy, run)
    assert r2.exit_code == 0, r2.output
    assert "3 image(s) annotated, 0 failed" in r2.output and "1 already done" in r2.output
    assert sorted(_run_paths(run)) == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]


def test_disk_full_during_export_says_so(runner: CliRunner, tmp_path: Path, sample_copy: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    run, out = tmp_path / "run", tmp_path / "exports"
    assert _annotate(runner, sample_copy, run).exit_code == 0
    _fill_disk_under(monkeypatch, out, budget=0)
    r = runner.invoke(main, ["export", str(run), "-f", "coco", "-o", str(out)])
    assert r.exit_code == 1, r.output
    _no_traceback(r.output)
    assert r.output.startswith("error: the disk is full (No space left on device)") and len(r.output.splitlines()) == 1
    monkeypatch.undo()
    r2 = runner.invoke(main, ["export", str(run), "-f", "coco", "-o", str(out)])
    assert r2.exit_code == 0, r2.output


def test_error_messages_escape_control_characters(runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(main, ["annotate", str(tmp_path / "no\x1b[2Jsuch"), "-o", str(tmp_path / "run"), *TINY])
    assert r.exit_code == 1
    assert "\x1b" not in r.output and "no\\x1b[2Jsuch does not exist" in r.output


def test_classes_show_escapes_control_characters_in_names(runner: CliRunner, tmp_path: Path) -> None:
    vocab = tmp_path / "v.yaml"
    vocab.write_text('classes:\n  "evil\\e[31mcat": [cat]\n  dog:\n', encoding="utf-8")
    r = runner.invoke(main, ["classes", "show", str(vocab), "--model", "lite"])
    assert "\x1b" not in r.output, r.output
    assert "evil\\x1b[31mcat" in r.output


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_hub_preset_offline_fails_fast_names_both_weights_and_leaves_no_run(tmp_path: Path) -> None:
    """Offline without HF_HUB_OFFLINE (the hub is a closed port on 127.0.0.1): used to retry for
    a minute, print every warning twice, name only the extractor and leave RUN/.lock behind."""
    write_image(tmp_path / "imgs" / "a.png")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(PYTHONPATH=str(REPO), HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    cmd = [sys.executable, "-m", "autolabel", "annotate", str(tmp_path / "imgs"), "-o", str(tmp_path / "run"), "--preset", "fast"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert took < 40, f"{took:.0f} s"  # interpreter + torch start included; was 60+ s of retries
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot get the weights for the extractor"), r.stderr
    assert err[0].count("'vit_small_patch16_224.dino'") == 1 and err[0].count("'convnext_tiny.fb_in22k'") == 1
    assert "Retrying" not in r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_third_party_log_records_are_printed_once(tmp_path: Path) -> None:
    """A library with its own log handler (huggingface_hub, FiftyOne) that also propagates to
    the root: its record used to print twice (its handler, then ours)."""
    write_image(tmp_path / "imgs" / "a.png")
    code = (
        "import sys\n"
        "from huggingface_hub.utils import logging as hub_logging\n"
        "import autolabel.models as m\n"
        "from autolabel.errors import WeightsError\n"
        "def noisy(models):\n"
        "    hub_logging.get_logger('huggingface_hub.utils._http').warning('Retrying in 1s [Retry 1/5].')\n"
        "    raise WeightsError('stop here')\n"
        "m.check_weights = noisy\n"
        "from autolabel.cli import main\n"
        "main(['annotate', sys.argv[1], '-o', sys.argv[2], '--preset', 'fast'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "imgs"), str(tmp_path / "run")],
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False, timeout=120)
    assert r.returncode == 1 and "error: stop here" in r.stderr, r.stderr
    assert r.stderr.count("Retrying in 1s [Retry 1/5].") == 1, r.stderr
