"""docs/constructs.md's examples run: each ```python block is executed as the complete program
it claims to be, and what it synthesizes passes cfn-lint, so the page cannot rot. The refusal
examples meet every refusal they list: the ValueErrors raised at construction, and each of
llmdeploy's rules failing synth with its id.

README's constructs snippet is a complete program too: it runs here as it is, with nothing
given to it, and its template is linted with the page's."""

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
README = REPO / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
# The rules the constructs run at synth, as the page's refusals section lists them.
RULES = (
    "copy-fits-instance",
    "tp-matches-accelerators",
    "scale-to-zero-needs-autoscaling",
    "engine-matches-hardware",
    "quantization-supported",
    "image-in-region",
    "inference-component-on-shared-endpoint",
)


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


def _refusals(runs: dict[str, Run]) -> str:
    """What the refusals section's examples printed."""
    indexes = [i for i, (id_, _) in enumerate(SNIPPETS) if "refuse" in id_]
    assert len(indexes) >= 2, "the refusals section has a ValueError and a rules example"
    return "".join(_run(runs, i).printed for i in indexes)


def test_the_refusals_example_meets_each_value_error(runs):
    printed = _refusals(runs)
    for words in (
        "names the whole bucket",
        "also covers its siblings",
        "wildcard",
        "give the exact name",
        "SageMaker replaces at most 50%",
        "SageMaker takes 60 to 3600 seconds",
        "is an alias",
        "give a Duration",
    ):
        assert words in printed, words


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_fails_synth_with_its_id_prop_and_fix(runs, rule):
    printed = _refusals(runs)
    assert re.search(rf"\[{re.escape(rule)}\] [\w.]+=\S.*: .+ \(fix: .+\)$", printed, re.M), (
        f"[{rule}] not printed as `[rule] prop=value: message (fix: ...)`:\n{printed}"
    )
    section = DOC.read_text().split("## What the constructs refuse", 1)[1]
    assert f"| `{rule}` |" in section, f"{rule} is not in the page's table of rules"


def test_the_printed_lines_shown_on_the_page_are_what_the_example_prints(runs):
    section = DOC.read_text().split("## What the constructs refuse", 1)[1]
    shown = re.search(r"^```text\n(.*?)^```", section, re.M | re.S).group(1)
    lines = [line for line in shown.splitlines() if line.strip() and line != "..."]
    assert lines
    printed = _refusals(runs).splitlines()
    for line in lines:
        assert line in printed, line


def test_the_synthesized_templates_pass_cfn_lint(runs):
    paths = [p for i in range(len(SNIPPETS)) for p in _run(runs, i).templates]
    paths += _readme(runs).templates
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


def _readme_snippet() -> str:
    section = README.read_text().split("### The constructs, without YAML", 1)[1]
    section = section.split("\n## ", 1)[0]
    match = _BLOCK.search(section)
    assert match, "README's constructs section has a ```python block"
    return match.group(1)


def _readme(runs: dict[str, Run]) -> Run:
    if "readme" not in runs:
        runs["readme"] = _execute(_readme_snippet(), "README.md#the-constructs-without-yaml")
    return runs["readme"]


def test_the_readme_snippet_is_a_complete_program():
    code = _readme_snippet()
    assert "import aws_cdk as cdk" in code
    assert "cdk.App()" in code
    assert "cdk.Environment(account=" in code
    assert "app.synth()" in code


def test_the_readme_snippet_runs_as_it_is(runs):
    # Nothing is given to it: a fresh namespace, as `python snippet.py` would run it.
    assert _readme(runs).templates
