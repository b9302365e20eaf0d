"""``autolabel serve labelstudio``: options, environment variables and what it prints (the
server and the models replaced by stand-ins)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import autolabel.integrations.labelstudio as ls_pkg
from autolabel.cli import main


class Started:
    """Records what the command would build and serve."""

    def __init__(self) -> None:
        self.backend: Any = None
        self.served: dict[str, Any] = {}


@pytest.fixture
def started(monkeypatch):
    seen = Started()

    class FakeBackend:
        def __init__(self, config, settings):
            self.config, self.settings = config, settings
            seen.backend = self

        def model_version(self):
            return "autolabel-test-v"

    def fake_serve(backend, **kw):
        seen.served = kw

    monkeypatch.setattr(ls_pkg, "Backend", FakeBackend, raising=False)
    monkeypatch.setattr(ls_pkg, "serve", fake_serve, raising=False)
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "BASIC_AUTH_USER", "BASIC_AUTH_PASS"):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_defaults_bind_loopback_9090(started):
    r = CliRunner().invoke(main, ["serve", "labelstudio", "--preset", "lite"])
    assert r.exit_code == 0, r.output
    assert started.served == {"host": "127.0.0.1", "port": 9090, "basic_auth": None, "log_level": "warning"}
    s = started.backend.settings
    assert (s.label_studio_url, s.api_key, s.name) == (None, None, "lite")
    assert "http://127.0.0.1:9090" in r.output and "autolabel-test-v" in r.output
    assert "hostname Label Studio sends" in r.output


def test_label_studio_url_and_key_from_the_environment(started):
    env = {"LABEL_STUDIO_URL": "http://ls:8080/", "LABEL_STUDIO_API_KEY": "abc"}
    r = CliRunner().invoke(main, ["serve", "labelstudio", "--preset", "lite", "--max-pixels", "1000000"], env=env)
    assert r.exit_code == 0, r.output
    s = started.backend.settings
    assert (s.label_studio_url, s.api_key) == ("http://ls:8080", "abc")
    assert started.backend.config.max_pixels == 1_000_000


def test_basic_auth_and_another_host(started):
    r = CliRunner().invoke(main, ["serve", "labelstudio", "--preset", "lite", "--host", "0.0.0.0"])
    assert r.exit_code == 0 and "without --basic-auth-user" in r.output
    r = CliRunner().invoke(main, ["serve", "labelstudio", "--preset", "lite", "--host", "0.0.0.0",
                                  "--basic-auth-user", "u", "--basic-auth-pass", "p"])
    assert r.exit_code == 0 and "without --basic-auth-user" not in r.output
    assert started.served["basic_auth"] == ("u", "p") and started.served["host"] == "0.0.0.0"


@pytest.mark.parametrize(("args", "says"), [
    (["--basic-auth-user", "u"], "both --basic-auth-user and --basic-auth-pass"),
    (["--label-studio-url", "ftp://x"], "http:// or https://"),
    (["--port", "0"], "--port"),
    (["--preset", "lite", "--config", "x.yaml"], "either --preset or --config"),
])
def test_usage_errors(started, args, says, tmp_path):
    (tmp_path / "x.yaml").write_text("preset: lite\n")
    args = [str(tmp_path / a) if a == "x.yaml" else a for a in args]
    r = CliRunner().invoke(main, ["serve", "labelstudio", *args])
    assert r.exit_code in (1, 2), r.output
    assert says in r.output
    assert started.backend is None


def test_serve_is_listed():
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0 and "serve" in r.output
