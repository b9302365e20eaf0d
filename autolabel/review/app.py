"""The FiftyOne App for a review: served on 127.0.0.1 (a port checked first), reached over SSH."""

from __future__ import annotations

import contextlib
import getpass
import logging
import socket
from typing import Any

from autolabel.errors import ConfigError, RunError
from autolabel.review.database import connect_fiftyone

log = logging.getLogger(__name__)

DEFAULT_PORT = 5151


def ssh_hint(port: int) -> str:
    """How to reach the App on this machine from another one."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "USER"
    host = socket.gethostname() or "HOST"
    return f"ssh -N -L {port}:127.0.0.1:{port} {user}@{host}   # then open http://127.0.0.1:{port}/ on your computer"


def app_url(port: int, address: str = "127.0.0.1") -> str:
    return f"http://{address}:{port}/"


def check_port_free(port: int, address: str = "127.0.0.1") -> None:
    """:class:`ConfigError` if something listens on ``address:port`` already.

    The probe binds with ``SO_REUSEADDR``, as the App's server does: connections of an App
    stopped a moment ago (in ``TIME_WAIT`` for a minute) do not make the port look taken, a
    server listening there does.
    """
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as e:
            raise ConfigError(f"port {port} on {address} is in use ({e.strerror}); choose another with --port") from None


def launch_app(dataset: str, port: int = DEFAULT_PORT, address: str = "127.0.0.1") -> Any:
    """Serve the FiftyOne App for ``dataset`` on ``address:port``; returns the session.

    No browser is opened (the App is often on a remote machine); open :func:`app_url`.
    """
    check_port_free(port, address)
    fo = connect_fiftyone()
    if not fo.dataset_exists(dataset):
        raise RunError(f"no FiftyOne dataset {dataset!r}")
    # FiftyOne logs its own remote-session instructions and a banner; we print ours instead
    quiet = logging.getLogger("fiftyone.core.session.session")
    level = quiet.level
    if not log.isEnabledFor(logging.DEBUG):
        quiet.setLevel(logging.WARNING)
    try:
        session = fo.launch_app(fo.load_dataset(dataset), port=port, address=address, remote=True, auto=False)
    finally:
        quiet.setLevel(level)
    session._disable_wait_warning = True  # we print our own instructions
    return session


def close_app(session: Any) -> None:
    """Close ``session`` and stop the App server it started (waits for its processes)."""
    with contextlib.suppress(Exception):
        session._disable_wait_warning = True
    session.close()
