"""docs/constructs.md's examples run: each ```python block is executed as the complete program
it claims to be, and what it synthesizes passes cfn-lint, so the page cannot rot.

README's constructs snippet is a fragment (it uses a `stack` and a `caller_role` it does not
define); it runs here with those two given, so it cannot rot either."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO

DOC = REPO / "docs" / "constructs.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def _snippets(text: str) -> list[tuple[str, str]]:
    """(id, code) of each ```python block; the id is the section it sits in."""
    out = []
    for match in _BLOCK.finditer(text):
        headings = re.findall(r"^## (.+)$", text[: match.start()], re.M)
        section = headings[-1] if headings else "top"
        slug = re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")
        out.append((f"{len(out) + 1}-{slug}", match.group(1)))
    return out


SNIPPETS = _snippets(DOC.read_text())


@dataclass(frozen=True)
class Run:
    templates: list[Path]
    printed: str


def _execute(code: str, name: str, namespace: dict | None = None) -> Run:
    """Run ``code`` in a fresh namespace (as a script of its own would run), then read the
    templates of every app it left in that namespace: `App.synth()` is cached, so this reads
    the assembly the snippet synthesized, or synthesizes it once if the snippet only used
    `Template.from_stack`."""
    import aws_cdk as cdk

    namespace = {"__name__": "__main__", **(namespace or {})}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, name, "exec"), namespace)
    apps = [v for v in namespace.values() if isinstance(v, cdk.App)]
    assert apps, f"{name} leaves no cdk.App to synthesize"
    paths = [Path(s.template_full_path) for app in apps for s in app.synth().stacks]
    return Run(paths, printed.getvalue())


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    """What each snippet synthesized and printed, by snippet id: each snippet runs once."""
    return {}


def _run(runs: dict[str, Run], index: int) -> Run:
    id_, code = SNIPPETS[index]
    if id_ not in runs:
        runs[id_] = _execute(code, f"docs/constructs.md#{id_}")
    return runs[id_]


def test_the_page_has_an_example_per_topic():
    # A shared endpoint, a dedicated one, import and grants, metrics, escape hatches, refusals.
    assert len(SNIPPETS) >= 6, [id_ for id_, _ in SNIPPETS]


@pytest.mark.parametrize("code", [c for _, c in SNIPPETS], ids=[i for i, _ in SNIPPETS])
def test_each_example_is_a_complete_program(code):
    # What the page promises of every block: its own app, and a stack with an explicit
    # account and region.
    assert "import aws_cdk as cdk" in code
    assert "cdk.App()" in code
    assert "cdk.Environment(account=" in code
    assert "app.synth()" in code or "Template.from_stack" in code


@pytest.mark.parametrize("index", range(len(SNIPPETS)), ids=[i for i, _ in SNIPPETS])
def test_each_example_runs_and_synthesizes(runs, index):
    assert _run(runs, index).templates


def test_the_refusals_example_meets_each_refusal(runs):
    index = next(i for i, (id_, _) in enumerate(SNIPPETS) if "refuse" in id_)
    printed = _run(runs, index).printed
    for words in (
        "names the whole bucket",
        "also covers its siblings",
        "wildcard",
        "not a SageMaker name",
        "SageMaker replaces at most 50%",
        "is an alias",
    ):
        assert words in printed, words


def test_the_synthesized_templates_pass_cfn_lint(runs):
    paths = [p for i in range(len(SNIPPETS)) for p in _run(runs, i).templates]
    # The invocation of tests/synth/test_synth.py::test_templates_pass_cfn_lint: errors fail,
    # warnings and informational findings do not.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]
    assert result.returncode in (0, 4, 8), result.stderr  # 4/8: warnings/informational only


def test_the_readme_fragment_runs_with_its_stack_and_caller_given():
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    text = (REPO / "README.md").read_text()
    section = text.split("### The constructs, without YAML", 1)[1]
    code = _BLOCK.search(section).group(1)
    app = cdk.App()
    stack = cdk.Stack(
        app, "Readme", env=cdk.Environment(account="111122223333", region="us-east-1")
    )
    caller_role = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
    _execute(
        code,
        "README.md#the-constructs-without-yaml",
        {"stack": stack, "caller_role": caller_role, "app": app},
    )
