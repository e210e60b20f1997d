"""The README: its two set-up commands are the truth (`.ci/run` runs exactly them), its
documentation list is complete, and its links and docs/'s stay inside the repository."""

import re

import pytest

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


# --- links: README.md and docs/ point only at files of this repository -------------------------

_FENCED = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _documents() -> list:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _relative_links(path) -> list[str]:
    """Targets of the Markdown links in ``path`` that are not URLs or in-page anchors (code
    blocks and code spans are text, not links: a regex there is not a link)."""
    text = _CODE_SPAN.sub("", _FENCED.sub("", path.read_text()))
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#", t, re.I)]


def test_the_link_finder_reads_markdown_links():
    assert "docs/day-two.md" in _relative_links(REPO / "README.md")
    assert "../README.md#protecting-the-history" in _relative_links(REPO / "docs/deploying.md")


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve_to_files_in_the_repository(doc):
    for target in _relative_links(doc):
        file = target.split("#", 1)[0]
        resolved = (doc.parent / file).resolve()
        assert resolved.is_relative_to(REPO), f"{doc.name}: {target} leaves the repository"
        assert resolved.exists(), f"{doc.name}: {target} does not exist"


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_nothing_points_outside_the_repository(doc):
    # The product is self-contained: no link, nor a path in prose or code, to the workspace
    # around the repository (its shared design notes are not shipped).
    text = doc.read_text()
    assert "../shared" not in text and "](shared/" not in text, doc.name
    for target in _relative_links(doc):
        assert not target.startswith("/"), f"{doc.name}: {target} is an absolute path"


def test_readme_lists_every_page_of_docs():
    section = (REPO / "README.md").read_text().split("## Documentation", 1)[1].split("\n## ")[0]
    listed = {t for t in _LINK.findall(section)}
    pages = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    assert listed == pages, "README's Documentation list must name every page of docs/"
