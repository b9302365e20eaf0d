"""A minimal headless-Chromium driver over the DevTools protocol, for web UIs that need a login.

Only what the tests use: navigate, evaluate JavaScript, wait for a condition, take a
screenshot. Chromium runs in its own process group with a throwaway profile, listens for
DevTools on 127.0.0.1 only (port chosen by Chromium, read from ``DevToolsActivePort``), and
is stopped by PID.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from tests.integration import servers


class BrowserError(RuntimeError):
    """A DevTools call failed or a page condition never became true."""


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, binary: str, profile_dir: Path, size: tuple[int, int] = (1400, 1000), timeout: float = 60.0) -> None:
        import websocket  # websocket-client (test extra)

        profile_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            binary,
            *servers.CHROMIUM_FLAGS,
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile_dir}",
            f"--window-size={size[0]},{size[1]}",
            "about:blank",
        ]
        env = {**os.environ, "HOME": str(profile_dir)}
        self.proc = servers.spawn("chromium", cmd, env, profile_dir / "chromium.log")
        port_file = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if not self.proc.alive() or time.monotonic() > deadline:
                self.proc.stop()
                raise BrowserError(f"Chromium did not open DevTools:\n{servers.log_tail(self.proc.log_path)}")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        status, targets = servers.http("GET", f"http://127.0.0.1:{port}/json/list", timeout=10)
        page = next((t for t in targets if t.get("type") == "page"), None) if status == 200 else None
        if page is None:
            self.proc.stop()
            raise BrowserError(f"no page target in Chromium ({status}: {targets})")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        self._ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Runtime.enable")

    # -- protocol ---------------------------------------------------------------------------
    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events arriving meanwhile are dropped)."""
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self._ws.recv())
            if msg.get("id") == ident:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})
        raise BrowserError(f"{method}: no answer within {timeout:.0f} s")

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """Value of a JavaScript expression in the page (JSON-serialisable values only)."""
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in res:
            raise BrowserError(f"{expression[:80]}...: {res['exceptionDetails'].get('exception', {}).get('description', res['exceptionDetails'])}")
        return res.get("result", {}).get("value")

    # -- conveniences -----------------------------------------------------------------------
    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float = 90.0, what: str | None = None) -> Any:
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except BrowserError as e:
                last = str(e)
            else:
                if last:
                    return last
            time.sleep(0.3)
        raise BrowserError(f"timed out after {timeout:.0f} s waiting for {what or expression} (last value {last!r})")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - closing a dead browser is fine
            pass
        try:
            self._ws.close()
        except Exception:  # noqa: BLE001
            pass
        self.proc.stop(timeout=10)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
