"""Bad input never crashes: whatever the files hold, only our own error type comes out, and
every diagnostic names a file and a line."""

from __future__ import annotations

import copy
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, base_environment, base_model
from llmdeploy.errors import LlmdeployError, SpecError
from llmdeploy.plan import check
from llmdeploy.spec.source import parse_documents

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


# --- numbers YAML 1.1 reads otherwise, digits that are not 0-9 ---------------------------------

PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
PLAIN_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


@st.composite
def number_texts(draw) -> str:
    """A number as a user might type it, often in a form YAML 1.1 reads differently from
    plain decimal (octal, hex, binary, base 60, _ separators, .inf/.nan, 1e5, leading zeros)."""
    n = draw(st.integers(0, 10**9))
    digits = str(n)
    form = draw(
        st.sampled_from(
            [
                "plain",
                "octal",
                "zeros",
                "0o",
                "hex",
                "binary",
                "base60",
                "underscore",
                "float",
                "exponent",
                "special",
            ]
        )
    )
    if form == "octal":
        text = "0" + oct(n)[2:]
    elif form == "zeros":
        text = "0" * draw(st.integers(1, 3)) + digits
    elif form == "0o":
        text = "0o" + oct(n)[2:]
    elif form == "hex":
        text = "0x" + draw(st.sampled_from([str.lower, str.upper]))(hex(n)[2:])
    elif form == "binary":
        text = "0b" + bin(n)[2:]
    elif form == "base60":
        text = f"{n // 60}:{n % 60:02d}"
    elif form == "underscore":
        at = draw(st.integers(1, max(1, len(digits))))
        text = digits[:at] + "_" + digits[at:]
    elif form == "float":
        text = f"{digits}.{draw(st.integers(0, 999))}"
    elif form == "exponent":
        fraction = draw(st.sampled_from([".5", "", "."]))
        sign = draw(st.sampled_from(["", "+", "-"]))
        text = f"{digits[0]}{fraction}e{sign}{len(digits)}"
    elif form == "special":
        text = draw(st.sampled_from([".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"]))
    else:
        text = digits
    return draw(st.sampled_from(["", "", "-", "+"])) + text


def _decimal(text: str) -> int | float | None:
    """What ``text`` means as a plain decimal number, or None if it is not one."""
    if PLAIN_INT.fullmatch(text):
        return int(text)
    if PLAIN_FLOAT.fullmatch(text):
        return float(text)
    return None


@SETTINGS
@given(number_texts())
def test_a_number_is_read_as_its_plain_decimal_or_not_as_a_number(text):
    docs, problems = parse_documents(f"value: {text}\n", "f.yaml")
    value = docs[0].data["value"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert _decimal(text) is not None and value == _decimal(text), (text, value)
        assert math.isfinite(value)
        assert problems == []
    else:  # text as written: a number field refuses it, a text field takes it as typed
        assert value == text
        if problems:
            (d,) = problems
            assert d.path == "value" and d.value == text and text in d.render()


# A model's number fields, and how to read each back from a checked model.
NUMBER_FIELDS = {
    "memoryMiB": ("resources", lambda s: s.resources.memory_mib),
    "target": ("autoscaling", lambda s: s.autoscaling.target),
    "sizeBillions": (None, lambda s: s.size_billions),
    "waitSeconds": ("rollout", lambda s: s.rollout.wait_seconds),
}


@SETTINGS
@given(number_texts(), st.sampled_from(sorted(NUMBER_FIELDS)))
def test_a_number_field_never_holds_a_number_other_than_the_one_written(text, field):
    parent, read = NUMBER_FIELDS[field]
    model = base_model()
    placeholder = 123456789
    (model["spec"].setdefault(parent, {}) if parent else model["spec"])[field] = placeholder
    dumped = yaml.safe_dump(model, sort_keys=False).replace(str(placeholder), text)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prod.yaml").write_text(yaml.safe_dump(base_environment()))
        (root / "m1.yaml").write_text(dumped)
        dotted = f"spec.{parent}.{field}" if parent else f"spec.{field}"
        try:
            (env,) = check([root]).environments
        except SpecError as exc:
            assert dotted in {d.path for d in exc.diagnostics}, (text, exc.render())
            return
        assert read(env.models[0].spec.spec) == _decimal(text), text


@SETTINGS
@given(
    st.lists(st.characters(categories=("Nd",)), min_size=12, max_size=12).filter(
        lambda chars: not all(c in "0123456789" for c in chars)
    )
)
def test_an_account_in_digits_other_than_0_to_9_never_passes(chars):
    account = "".join(chars)
    assert re.fullmatch(r"\d{12}", account)  # what `\d` would have let through
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = base_environment()
        env["spec"]["account"] = account
        (root / "prod.yaml").write_text(yaml.safe_dump(env, allow_unicode=True))
        (root / "m1.yaml").write_text(yaml.safe_dump(base_model()))
        try:
            check([root])
        except SpecError as exc:
            (d,) = [d for d in exc.diagnostics if d.path == "spec.account"]
            assert d.fix.startswith("type the digits as 0-9")
        else:
            raise AssertionError(f"account {account!r} passed validation")
