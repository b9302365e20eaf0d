"""``autolabel review RUN`` serves a real FiftyOne App that a browser renders with our images.

The command runs as a user would start it (its own process group, a throwaway FiftyOne
database), headless Chromium takes a screenshot of the ``low-confidence`` saved view, and the
App is stopped with SIGTERM (what Ctrl-C / a service manager sends): the command must say
``stopped``, exit 0 and leave no process behind (App server, mongod).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration import servers
from tests.integration.conftest import REPO, clean_env
from tests.integration.runs import make_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP_START_TIMEOUT = float(os.environ.get("AUTOLABEL_APP_START_TIMEOUT", "240"))
WINDOW = (1280, 900)


@pytest.fixture(scope="module")
def fiftyone_app(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("fiftyone-app")
    run = make_run(base / "run", base / "images")
    port = servers.free_port()
    env = clean_env(
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        HOME=str(base / "home"),  # FiftyOne keeps config and logs under ~/.fiftyone
        FIFTYONE_DATABASE_DIR=str(base / "fiftyone-db"),
        FIFTYONE_DO_NOT_TRACK="true",
    )
    (base / "home").mkdir()
    proc = servers.spawn(
        "autolabel review",
        # A dataset name of its own: FiftyOne's database service joins any FiftyOne database
        # already running for this user, so a fixed name could meet another session's dataset.
        [sys.executable, "-m", "autolabel", "review", str(run.run_dir), "--port", str(port),
         "--dataset", f"autolabel-app-test-{base.name}-{os.getpid()}"],
        env,
        base / "review.log",
        cwd=base,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        status, _ = servers.http("GET", url + "/", timeout=5, raw=True)
        return status == 200 and "App: " in proc.log_path.read_text(errors="replace")

    try:
        servers.wait_until_ready(proc, ready, APP_START_TIMEOUT, f"FiftyOne App via autolabel review (port {port})")
        log = proc.log_path.read_text(errors="replace")
        m = re.search(r"dataset (\S+) (?:created|updated)", log)
        assert m, log
        yield {"url": url, "dataset": m.group(1), "proc": proc, "run": run, "base": base}
    finally:
        proc.stop(timeout=60)


GRID = (305, 140, 850, WINDOW[1])
"""The part of the window where FiftyOne 1.x draws the sample grid: right of the 300 px
sidebar, below the view bar, left of the pop-up the App shows on first start."""
SIDEBAR = (14, 160, 298, 700)
"""The App's field sidebar (coloured bars, check boxes, names); blank while it is loading."""


def colours(path: Path, box: tuple[int, int, int, int]) -> int:
    """Distinct colours inside ``box`` of the screenshot at ``path``."""
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == WINDOW, (im.format, im.size)
        return len(im.convert("RGB").crop(box).getcolors(maxcolors=1 << 24) or ())


def shoot(app: dict, view: str, attempts: int = 3) -> Path:
    """Screenshot of saved view ``view`` once the App has rendered (its sidebar is drawn).

    The App shows "Pixelating..." while its scripts load; Chromium's virtual time budget does
    not always cover that, so a shot of the loading screen is retried with a longer budget.
    """
    page = f"{app['url']}/datasets/{quote(app['dataset'])}?view={view}"
    budget = 20000
    for attempt in range(1, attempts + 1):
        shot = servers.screenshot(
            page, app["base"] / f"{view}-{attempt}.png", app["base"] / f"chromium-{view}-{attempt}", size=WINDOW, budget_ms=budget
        )
        if colours(shot, SIDEBAR) > 50:
            return shot
        budget *= 2
    pytest.fail(f"the FiftyOne App did not render {page} in {attempts} attempts (last shot: {shot})", pytrace=False)


def test_low_confidence_view_renders_in_chromium(fiftyone_app, chromium):
    from PIL import Image, ImageStat

    shot = shoot(fiftyone_app, "low-confidence")
    with Image.open(shot) as im:
        stddev = ImageStat.Stat(im.convert("RGB")).stddev
    assert max(stddev) > 10, f"screenshot is (nearly) one colour: stddev {stddev}"
    # photo patches fill the grid with thousands of colours (about 28000 here)
    grid = colours(shot, GRID)
    assert grid > 2000, f"only {grid} colours in the sample grid: no image rendered ({shot})"
    # control: a saved view without samples (no label is outside the run's classes) leaves the
    # rendered App's grid blank (4 colours here), so the measure above tells photos from none
    empty = colours(shoot(fiftyone_app, "outside-classes"), GRID)
    assert empty < 100, f"the empty view's grid has {empty} colours; the measure cannot tell"


def test_app_stops_cleanly_on_sigterm(fiftyone_app):
    proc: servers.Process = fiftyone_app["proc"]
    assert proc.alive(), servers.log_tail(proc.log_path)
    os.kill(proc.pid, signal.SIGTERM)  # the command's own process, as Ctrl-C would
    try:
        code = proc.popen.wait(90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"autolabel review did not stop within 90 s of SIGTERM:\n{servers.log_tail(proc.log_path)}", pytrace=False)
    log = proc.log_path.read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert "stopped" in log.splitlines()[-1], log[-3000:]
    deadline = time.monotonic() + 30
    while servers.group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not servers.group_alive(proc.pid), "the App server or mongod outlived `autolabel review`"
    assert not _port_open(fiftyone_app["url"]), "something still listens on the App's port"


def _port_open(url: str) -> bool:
    import socket

    host, port = url.rsplit("//", 1)[1].split(":")
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, int(port))) == 0
