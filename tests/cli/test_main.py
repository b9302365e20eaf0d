"""The command group: every command listed and loaded lazily; one that cannot load is an error."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from autolabel import cli
from autolabel.cli import COMMANDS, main


def test_help_lists_every_command():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0, res.output
    for name in COMMANDS:
        assert f"  {name} " in res.output


@pytest.fixture
def broken_command(tmp_path, monkeypatch):
    """A command whose module imports a package that is not installed."""
    (tmp_path / "autolabel_broken_cmd.py").write_text(
        "import click\nimport autolabel_no_such_package_xyz\n\n@click.command()\ndef broken():\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "broken", "autolabel_broken_cmd:broken")
    yield "broken"
    sys.modules.pop("autolabel_broken_cmd", None)


def test_a_command_whose_module_fails_to_import_is_a_clear_error(broken_command):
    res = CliRunner().invoke(main, [broken_command])
    assert res.exit_code == 1
    assert "command 'broken' cannot be loaded: autolabel_broken_cmd:broken failed" in res.output
    assert "No module named 'autolabel_no_such_package_xyz'" in res.output
    assert "Traceback" not in res.output


def test_help_does_not_hide_a_broken_command(broken_command):
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 1 and "command 'broken' cannot be loaded" in res.output


def test_a_missing_attribute_or_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "ghost", "autolabel.cli.no_such_module:ghost")
    res = CliRunner().invoke(main, ["ghost"])
    assert res.exit_code == 1 and "command 'ghost' cannot be loaded" in res.output
    assert "No module named 'autolabel.cli.no_such_module'" in res.output
    monkeypatch.setitem(cli.COMMANDS, "ghost", "autolabel.cli.models:no_such_attribute")
    res = CliRunner().invoke(main, ["ghost"])
    assert res.exit_code == 1 and "AttributeError" in res.output


def test_unknown_command_is_a_usage_error():
    res = CliRunner().invoke(main, ["no-such-command"])
    assert res.exit_code == 2 and "No such command" in res.output
