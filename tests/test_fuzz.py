"""Bad input never crashes: whatever the files hold, only our own error type comes out, and
every diagnostic names a file and a line."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, base_environment, base_model
from llmdeploy.errors import LlmdeployError, SpecError
from llmdeploy.plan import check

EXAMPLES = sorted((REPO / "models").glob("*.yaml")) + sorted((REPO / "infra").glob("*.yaml"))
SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["", "ml.p4d.24xlarge", "djl-lmi", "fp8", "0.33.0"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=8,
)


def _run(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            check([root])
        except SpecError as exc:
            assert exc.diagnostics
            for d in exc.diagnostics:
                assert d.file.startswith(str(root)) and d.line >= 1 and d.column >= 1
                assert d.render()  # rendering never fails either
                d.to_dict()
        except LlmdeployError:
            pass


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_docs(draw):
    doc = copy.deepcopy(
        draw(
            st.sampled_from(
                [base_environment(), base_model()]
                + [yaml.safe_load(p.read_text()) for p in EXAMPLES]
            )
        )
    )
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
        key = path[-1]
        if action == "replace":
            parent[key] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=15))] = draw(values)
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key)[:-1] + draw(st.text(max_size=2))] = parent.pop(key)
    return doc


@SETTINGS
@given(mutated_docs())
def test_mutated_specs_give_only_our_errors(doc):
    kind = doc.get("kind") if isinstance(doc, dict) else None
    other = base_model() if kind == "Environment" else base_environment()
    _run(
        {
            "a/spec.yaml": yaml.safe_dump(doc, allow_unicode=True),
            "b/other.yaml": yaml.safe_dump(other),
        }
    )


@SETTINGS
@given(st.sampled_from(EXAMPLES), st.data())
def test_damaged_yaml_text_gives_only_our_errors(path, data):
    text = path.read_text()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 5))
        insert = data.draw(
            st.sampled_from(
                [
                    "",
                    ":",
                    " ",
                    "\t",
                    "-",
                    "[",
                    "{",
                    "&a",
                    "*a",
                    "'",
                    '"',
                    "\n  ",
                    "<<: *x",
                    "!!python/object:os.system",
                    "%YAML 1.1\n",
                    "\x00",
                ]
            )
        )
        text = text[:at] + insert + text[at + cut :]
    _run({"models/x.yaml": text, "infra/prod.yaml": (REPO / "infra/prod.yaml").read_text()})


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_gives_only_our_errors(text):
    _run({"x.yaml": text})
