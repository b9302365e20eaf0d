"""The App's port check (issue 14, item 23): a port left in TIME_WAIT by an App stopped a moment
ago is free; a port something listens on is refused. Real sockets on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from autolabel.errors import ConfigError
from autolabel.review import app


def _port_in_time_wait() -> int:
    """A port whose server closed a connection first (as the App does when it stops), so the
    connection waits in TIME_WAIT on the server's side, and nothing listens there any more.
    The server binds with SO_REUSEADDR, as the App's (uvicorn's) does; Linux lets a new bind
    share a port with TIME_WAIT connections only when both sides ask for it."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server closes first: its side of the connection goes to TIME_WAIT
    client.recv(1)  # reads the FIN
    client.close()
    server.close()
    return port


def test_a_port_in_time_wait_is_free() -> None:
    port = _port_in_time_wait()
    with socket.socket() as plain, pytest.raises(OSError):  # the old check (bind without SO_REUSEADDR)
        plain.bind(("127.0.0.1", port))
    app.check_port_free(port)  # restarting `review` on the same port within a minute works


def test_a_listening_port_is_refused_even_with_reuseaddr() -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the App's server binds
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use .*--port"):
            app.check_port_free(port)
