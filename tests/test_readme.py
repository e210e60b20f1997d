"""The README's two set-up commands are the truth, and `.ci/run` runs exactly them."""

import re

from conftest import REPO


def _setup_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Set up.*?```bash\n(.*?)```", text, re.S)
    assert block, "README has a set-up block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2
    assert "pip install" in commands[0] and "llmdeploy" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_commands():
    ci = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    body = [line for line in ci if line and not line.startswith(("#", "set ", "cd ", "export "))]
    assert body == _setup_commands()
