"""Start, poll and stop the real tools the integration tests drive (servers, Chromium).

Every process is started in its own session (``start_new_session=True``), so its PID is also
the id of its process group, and stopping it signals exactly that group: the server and the
workers it forked, nothing else on the machine. Each server's start time is logged and kept in
:data:`START_TIMES` for the end-of-session summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pytest

log = logging.getLogger("autolabel.tests.integration")

START_TIMES: list[tuple[str, float]] = []
"""(what, seconds from spawn to ready) for every server started in this session."""


def in_ci() -> bool:
    """True when running under CI (env ``CI`` set to anything but empty/0/false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_tool(message: str) -> None:
    """A tool the test needs is not installed: fail under CI (it must be there), else skip."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, n: int = 40) -> str:
    """The last ``n`` lines of a log file ('' if unreadable)."""
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@dataclass
class Process:
    """A process started by :func:`spawn`: its own process group, output in ``log_path``."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    _log_file: Any = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL it. Returns the exit code."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", self.name, self.pid, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        # children that outlived the leader still carry its group id
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.popen.returncode


def group_alive(pgid: int) -> bool:
    """True while any process of process group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn(name: str, cmd: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path | None = None) -> Process:
    """Start ``cmd`` in a new session with stdout+stderr going to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    f = open(log_path, "wb")
    popen = subprocess.Popen(
        list(cmd),
        env=dict(env),
        cwd=str(cwd) if cwd else None,
        stdin=subprocess.DEVNULL,
        stdout=f,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.info("started %s: pid %d: %s", name, popen.pid, " ".join(cmd))
    return Process(name=name, popen=popen, log_path=log_path, _log_file=f)


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    raw: bool = False,
) -> tuple[int, Any]:
    """One HTTP request (JSON in, JSON or bytes out). Returns ``(status, payload)``; never raises on 4xx/5xx."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            payload = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", errors="replace")
    if raw:
        return status, payload
    return status, json.loads(payload) if payload else None


def wait_until_ready(
    proc: Process,
    probe: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.5,
) -> float:
    """Poll ``probe`` until it returns True; fail with the log tail if the process dies or time runs out.

    Returns the seconds from spawn to ready, which is also logged and kept in :data:`START_TIMES`.
    """
    deadline = proc.started + timeout
    while True:
        if not proc.alive():
            pytest.fail(
                f"{what} exited with code {proc.popen.returncode} before it was ready; log {proc.log_path}:\n{log_tail(proc.log_path)}",
                pytrace=False,
            )
        with contextlib.suppress(OSError, ValueError):
            if probe():
                break
        if time.monotonic() > deadline:
            proc.stop()
            pytest.fail(
                f"{what} was not ready after {timeout:.0f} s; log {proc.log_path}:\n{log_tail(proc.log_path)}",
                pytrace=False,
            )
        time.sleep(interval)
    took = time.monotonic() - proc.started
    START_TIMES.append((what, took))
    log.warning("%s ready in %.1f s (pid %d)", what, took, proc.pid)
    return took


# -- Chromium -------------------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
    "--disable-extensions", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--hide-scrollbars", "--mute-audio",
)
"""Headless, no sandbox (root in CI), and nothing that reaches for the network by itself."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary: env ``AUTOLABEL_CHROMIUM``, else the first on PATH."""
    explicit = os.environ.get("AUTOLABEL_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(
    url: str,
    out: Path,
    profile_dir: Path,
    size: tuple[int, int] = (1280, 900),
    budget_ms: int = 20000,
    timeout: float = 120.0,
) -> Path:
    """Load ``url`` in headless Chromium and write a PNG screenshot to ``out``.

    ``budget_ms`` is Chromium's virtual time budget: how long the page may run (scripts,
    network, timers) before the shot is taken. Chromium runs with its own throwaway profile
    and no background networking; only ``url`` is fetched.
    """
    binary = find_chromium()
    if binary is None:
        missing_tool("Chromium is not installed (Debian: apt-get install -y chromium; or set AUTOLABEL_CHROMIUM)")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        binary,  # type: ignore[list-item]
        *CHROMIUM_FLAGS,
        "--run-all-compositor-stages-before-draw",
        f"--user-data-dir={profile_dir}",
        f"--window-size={size[0]},{size[1]}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={out}",
        url,
    ]
    env = {**os.environ, "HOME": str(profile_dir)}
    t0 = time.monotonic()
    # its own session, so a hung browser and its helpers can be killed as one group
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"Chromium did not finish a screenshot of {url} within {timeout:.0f} s", pytrace=False)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    text = output.decode("utf-8", errors="replace")
    if proc.returncode != 0 or not out.is_file():
        pytest.fail(f"Chromium failed (exit {proc.returncode}) on {url}:\n{text[-3000:]}", pytrace=False)
    log.warning("Chromium screenshot of %s in %.1f s", url, time.monotonic() - t0)
    return out


def require_module(name: str, install_hint: str) -> Any:
    """Import ``name``; if it is not installed, skip locally / fail under CI with ``install_hint``."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        missing_tool(f"{name} is not importable ({e}); {install_hint}")
