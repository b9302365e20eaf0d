"""The review state (dataset names in review.json) and the App's port check and SSH hint (no database)."""

from __future__ import annotations

import socket

import pytest

from autolabel.errors import ConfigError
from autolabel.review import app, state
from autolabel.store import RunStore
from tests.review.support import make_run


def test_names_hint_and_port_check(tmp_path):
    assert state.default_dataset_name("run1") == "autolabel-run1"
    assert "ssh -N -L 5151:127.0.0.1:5151" in app.ssh_hint(5151)
    store = RunStore(make_run(tmp_path / "r"))
    assert state.resolve_dataset_name(store) == "autolabel-r"
    assert state.resolve_dataset_name(store, "mine") == "mine"
    (tmp_path / "r" / "review.json").write_text('{"dataset": "kept"}')
    assert state.resolve_dataset_name(store) == "kept"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ConfigError, match="in use"):
            app.check_port_free(s.getsockname()[1])
    with pytest.raises(ConfigError, match="--port"):
        app.check_port_free(70000)
