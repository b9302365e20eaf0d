"""Fixtures that start the real tools: a Label Studio server, and helpers for Chromium.

Every test module here is marked ``integration`` (``pytestmark``), so
``pytest -m "not integration"`` skips them. A tool that is not installed skips its tests locally
and fails them under CI (env ``CI`` set), so CI cannot pass by skipping.

Label Studio runs from its own virtual environment (it pins Django and friends):
env ``AUTOLABEL_LS_VENV``, default ``<repo>/.venv-ls``; ``<venv>/bin/label-studio`` must exist.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration import servers
from tests.integration.servers import Process, http, in_ci, missing_tool

REPO = Path(__file__).resolve().parents[2]

LS_START_TIMEOUT = float(os.environ.get("AUTOLABEL_LS_START_TIMEOUT", "240"))
"""Seconds Label Studio may take from spawn to answering API calls (about 30 s normally)."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if servers.START_TIMES:
        terminalreporter.section("tool start times")
        for what, secs in servers.START_TIMES:
            terminalreporter.write_line(f"{what}: ready {secs:.1f} s after spawn")


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without this interpreter's Python settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update(extra)
    return env


# -- Label Studio ---------------------------------------------------------------------------


def ls_venv() -> Path:
    return Path(os.environ.get("AUTOLABEL_LS_VENV") or REPO / ".venv-ls")


def listening_hosts(port: int) -> set[str]:
    """IPv4 addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp)."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            addr, p = local.split(":")
            if int(p, 16) != port or state != "0A":
                continue
            if len(addr) == 8:
                hosts.add(".".join(str(int(addr[i : i + 2], 16)) for i in (6, 4, 2, 0)))
            else:
                hosts.add("::" if int(addr, 16) == 0 else f"ipv6:{addr}")
    return hosts


@dataclass
class LabelStudio:
    """A running Label Studio server (one per test session).

    Attributes:
        url: base URL, ``http://127.0.0.1:<port>``.
        token: the admin's legacy API token (``Authorization: Token <token>``).
        document_root: ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``; images to serve go below it.
        process: the server process (its own process group).
    """

    url: str
    token: str
    email: str
    password: str
    document_root: Path
    data_dir: Path
    process: Process

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def api(self, method: str, path: str, body: Any = None, raw: bool = False, auth: bool = True) -> tuple[int, Any]:
        """One REST call; returns ``(status, payload)``."""
        return http(method, self.url + path, body, headers=self.headers if auth else None, raw=raw)

    def ok(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        """One REST call that must succeed (2xx); returns the payload."""
        status, payload = self.api(method, path, body, raw=raw)
        assert 200 <= status < 300, f"{method} {path} -> HTTP {status}: {str(payload)[:2000]}"
        return payload


def ls_project(ls: LabelStudio, title: str, export_dir: Path, image_root: Path) -> dict[str, Any]:
    """Create a project from ``export_dir``'s ``labeling_config.xml``, register ``image_root`` as
    its local-files storage, and import ``export_dir``'s ``tasks.json`` through the REST API.

    Returns:
        ``{"project": created project, "storage": storage, "import": import report, "tasks": tasks as written}``.
    """
    config = (export_dir / "labeling_config.xml").read_text(encoding="utf-8")
    proj = ls.ok("POST", "/api/projects", {"title": title, "label_config": config})
    storage = ls.ok(
        "POST",
        "/api/storages/localfiles",
        {"project": proj["id"], "title": "run images", "path": str(image_root), "use_blob_urls": True},
    )
    tasks = json.loads((export_dir / "tasks.json").read_text(encoding="utf-8"))
    report = ls.ok("POST", f"/api/projects/{proj['id']}/import", tasks)
    return {"project": proj, "storage": storage, "import": report, "tasks": tasks}


def label_colours(config: Path, img: Any) -> dict[str, tuple[int, int, int]]:
    """Each label's RGB colour in our ``labeling_config.xml``; asserts that the detections of
    ``img`` (the image the page check looks at) have distinct colours, or the check could not
    tell their outlines apart."""
    import xml.etree.ElementTree as ET

    colours = {
        el.get("value"): tuple(int(el.get("background")[i : i + 2], 16) for i in (1, 3, 5))
        for el in ET.parse(config).getroot().iter("Label")
    }
    assert len({colours[d.label] for d in img.detections}) == len(img.detections), "test needs distinct colours"
    return colours


def image_scale(rect: list[float], img: Any) -> tuple[float, float, float, float]:
    """``(left, top, x scale, y scale)`` of the image drawn at ``rect`` (``x, y, w, h`` screen
    px) on the labeling page; asserts it is drawn at the image's own aspect ratio."""
    ix, iy, iw, ih = rect
    assert abs(iw / ih - img.width / img.height) < 0.01 * img.width / img.height, f"image drawn at {rect}, not {img.width}x{img.height}"
    return ix, iy, iw / img.width, ih / img.height


def open_labeling_page(b: Any, ls: LabelStudio, project: int, task: int, texts: list[str]) -> tuple[list[float], list[float]]:
    """Log ``b`` (a :class:`tests.integration.cdp.Browser`) in to ``ls`` and open ``task``'s labeling page.

    Waits until the image is drawn and the page shows every string of ``texts`` (the regions
    list), then for the layout to settle.

    Returns:
        ``([x, y, width, height] of the drawn image (the overlay canvas, which may be larger
        than the stage that clips it), [x1, y1, x2, y2] of the visible stage)``, screen pixels.
    """
    b.navigate(ls.url + "/user/login/")
    b.wait_for("document.readyState === 'complete' && !!document.querySelector('#login-form input[name=email]')", what="the login form")
    b.evaluate(
        f"document.querySelector('input[name=email]').value = {json.dumps(ls.email)};"
        f"document.querySelector('input[name=password]').value = {json.dumps(ls.password)};"
        "document.querySelector('#login-form').submit(); true"
    )
    b.wait_for("!location.pathname.startsWith('/user/login') && document.readyState === 'complete'", what="login")
    b.navigate(f"{ls.url}/projects/{project}/data?task={task}")
    shown = " && ".join(f"document.body.innerText.includes({json.dumps(t)})" for t in texts) or "true"
    where = (
        "(() => { const cs = Array.from(document.querySelectorAll('canvas'));"
        " const o = cs.find(c => /overlay/.test(c.className));"
        " const s = cs.find(c => !/overlay/.test(c.className) && c.getBoundingClientRect().width > 300);"
        f" if (!o || !s || !({shown})) return null;"
        " const r = o.getBoundingClientRect(), v = s.getBoundingClientRect();"
        " return r.width > 0 ? [[r.x, r.y, r.width, r.height], [v.x, v.y, v.x + v.width, v.y + v.height]] : null; })()"
    )
    rect, view = b.wait_for(where, timeout=120, what="the labeling page's image and regions list")
    # let the layout settle (the stage is sized after the panels), then measure again
    for _ in range(20):
        time.sleep(0.5)
        again = b.evaluate(where)
        if again is None:  # the page re-rendered between two reads: measure on the next turn
            continue
        if again == [rect, view]:
            break
        rect, view = again
    return rect, view


def submit_annotation(b: Any, ls: LabelStudio, task: int, timeout: float = 60) -> list[dict[str, Any]]:
    """Press the open labeling page's Submit button in ``b`` and wait until ``ls`` stores an
    annotation for ``task``; its annotations (the test fails if none arrives in ``timeout`` s)."""
    b.evaluate("Array.from(document.querySelectorAll('button')).find(x => x.innerText.trim() === 'Submit').click(); true")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        anns = ls.ok("GET", f"/api/tasks/{task}")["annotations"]
        if anns:
            return anns
        time.sleep(0.5)
    pytest.fail("pressing Submit stored no annotation", pytrace=False)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    """Start Label Studio on a free 127.0.0.1 port with a throwaway data dir; stop it by PID after the session."""
    venv = ls_venv()
    exe = venv / "bin" / "label-studio"
    if not exe.is_file():
        missing_tool(
            f"Label Studio is not installed at {exe} (python -m venv {venv} && {venv}/bin/pip install 'label-studio>=1.23,<2'; "
            "or point AUTOLABEL_LS_VENV at a venv that has it)"
        )
    base = tmp_path_factory.mktemp("label-studio")
    data_dir, home, docroot = base / "data", base / "home", base / "docroot"
    for d in (data_dir, home, docroot):
        d.mkdir()
    port = servers.free_port()
    token = secrets.token_hex(20)
    email, password = "ci@autolabel.test", secrets.token_hex(12)
    env = clean_env(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        HOME=str(home),  # even `label-studio --help` writes below ~/.local otherwise
        PYTHONUNBUFFERED="1",
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(docroot),
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        COLLECT_ANALYTICS="false",
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        LATEST_VERSION_CHECK="false",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        # Label Studio refuses an ML backend on a loopback address unless told otherwise:
        # ML_BLOCK_LOCAL_IP guards the backend URL, SSRF_PROTECTION_ENABLED the <url>/webhook it
        # creates with every backend (both true by default in 1.23). Here every server is ours,
        # on 127.0.0.1; predictions on two CPU cores may take a while.
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
        ML_TIMEOUT_PREDICT="600",
    )
    cmd = [
        str(exe),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--username",
        email,
        "--password",
        password,
        "--user-token",
        token,
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]
    proc = servers.spawn("label-studio", cmd, env, base / "server.log", cwd=base)
    ls = LabelStudio(
        url=f"http://127.0.0.1:{port}", token=token, email=email, password=password, document_root=docroot, data_dir=data_dir, process=proc
    )

    def ready() -> bool:
        status, _ = http("GET", ls.url + "/health", timeout=5)
        if status != 200:
            return False
        status, who = http("GET", ls.url + "/api/current-user/whoami", headers=ls.headers, timeout=5)
        return status == 200 and who.get("email") == email

    try:
        servers.wait_until_ready(proc, ready, LS_START_TIMEOUT, f"Label Studio (port {port})")
        hosts = listening_hosts(port)
        assert hosts == {"127.0.0.1"}, f"Label Studio listens on {hosts}, expected only 127.0.0.1"
        yield ls
    finally:
        code = proc.stop()
        servers.log.warning("stopped Label Studio (pid %d), exit code %s", proc.pid, code)
        assert not servers.group_alive(proc.pid), f"Label Studio's process group {proc.pid} outlived its stop"


# -- Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium binary (skip locally / fail under CI when there is none)."""
    binary = servers.find_chromium()
    if binary is None:
        missing_tool("Chromium is not installed (Debian: apt-get install -y chromium; or set AUTOLABEL_CHROMIUM)")
    return binary  # type: ignore[return-value]


__all__ = ["LabelStudio", "clean_env", "in_ci", "ls_project", "open_labeling_page"]
