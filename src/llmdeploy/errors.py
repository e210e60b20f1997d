"""The one root of every expected failure, and the diagnostics that spec errors carry.

Anything raised as ``LlmdeployError`` is the user's to fix: the CLI prints it and exits 1.
Anything else is a bug and is allowed to crash loudly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from llmdeploy.secrets import redact

Severity = Literal["error", "warning"]

# Sentinel: "no bad value to show" (None is a value a user can write: `key: null`).
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "NO_VALUE"})()

# Values a user wrote are echoed in messages, but never whole: a 10 MB value would bury the
# message (and a terminal). Longer ones are cut to this many characters and "…".
SHOWN_CHARS = 80


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes: a value read from a file someone
    else wrote (a history record, a lock) must not drive the terminal (colours, cursor
    moves, a carriage return that overwrites the line before it)."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters (and "…") for echoing in a message."""
    return text if len(text) <= limit else text[:limit] + "…"


def _safe(text: str, limit: int) -> str:
    """``text`` clipped, anything shaped like a credential masked (`llmdeploy.secrets`): a
    diagnostic never prints a token, whichever check quotes the value."""
    return clip(redact(text[: limit + 200]), limit)


class Written(str):
    """A scalar as the user wrote it in YAML (``0100000``, ``.inf``), shown without quotes:
    a diagnostic about how YAML reads a number quotes the text, not what YAML made of it."""


class LlmdeployError(Exception):
    """An expected failure the user can act on (bad input, refused operation)."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec: where it is, what is wrong, and what would be right."""

    file: str
    line: int
    column: int
    path: str  # dotted field path as written in the file: spec.lmi.tensorParallelDegree
    message: str
    value: Any = NO_VALUE
    fix: str | None = None
    severity: Severity = "error"
    environment: str | None = None  # the environment(s) the problem exists in, if not all
    rule: str | None = None  # the id of the rule that found it (`llmdeploy validate --rules`)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def render(self) -> str:
        env = f" [env {self.environment}]" if self.environment else ""
        head = f"{self.location}: {self.severity}{env}: {_safe(self.path, _PATH_CHARS)}"
        if self.value is not NO_VALUE:
            head += f" = {_show(self.value)}"
        text = f"{head}: {_safe(self.message, _TEXT_CHARS)}"
        if self.rule:
            text += f" [{self.rule}]"
        if self.fix:
            text += f"\n    fix: {_safe(self.fix, _TEXT_CHARS)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": _safe(self.path, _PATH_CHARS),
            "message": _safe(self.message, _TEXT_CHARS),
            "fix": None if self.fix is None else _safe(self.fix, _TEXT_CHARS),
            "environment": self.environment,
            "rule": self.rule,
        }
        if self.value is not NO_VALUE:
            out["value"] = _jsonable(_clipped(self.value))
        return out


class SpecError(LlmdeployError):
    """One or more spec problems, all reported together."""

    def __init__(
        self, diagnostics: Iterable[Diagnostic], scope: Mapping[str, list[str]] | None = None
    ):
        self.diagnostics = tuple(sorted(diagnostics, key=_order))
        # What was checked, where known (`environments`, `models`, `files`): reports keep the
        # same keys whether the specs are valid or not.
        self.scope = dict(scope or {})
        errors = sum(d.severity == "error" for d in self.diagnostics)
        super().__init__(f"{errors} error(s) in specs")

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)

    def __str__(self) -> str:
        return self.render()


def _order(d: Diagnostic) -> tuple:
    return (d.file, d.line, d.column, d.path, d.environment or "", d.message)


def _show(value: Any) -> str:
    if isinstance(value, Written):
        return _safe(str(value), SHOWN_CHARS)
    if isinstance(value, str):
        return json.dumps(_safe(value, SHOWN_CHARS), ensure_ascii=False)
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(_jsonable(_clipped(value)), ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + "..."
    return clip(json.dumps(_jsonable(value), ensure_ascii=False))


# Paths hold the keys a user wrote; messages and fixes quote values. Both are clipped where
# the values are put in (SHOWN_CHARS); these limits are the backstop for the whole text.
_PATH_CHARS = 200
_TEXT_CHARS = 1000


def _clipped(value: Any, depth: int = 0) -> Any:
    """``value`` with long strings clipped and long or deep containers cut short."""
    if isinstance(value, str):
        return _safe(value, SHOWN_CHARS)
    if isinstance(value, (list, tuple)):
        if depth > 3:
            return "…"
        return [_clipped(v, depth + 1) for v in value[:20]] + (["…"] if len(value) > 20 else [])
    if isinstance(value, dict):
        if depth > 3:
            return "…"
        items = list(value.items())[:20]
        return {_safe(str(k), SHOWN_CHARS): _clipped(v, depth + 1) for k, v in items}
    return value


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)  # inf and NaN are not JSON: they become text
        return value
    except (TypeError, ValueError):
        if isinstance(value, (list, tuple)):
            return [_jsonable(v) for v in value]
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}
        return str(value)
