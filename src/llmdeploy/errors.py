"""The one root of every expected failure, and the diagnostics that spec errors carry.

Anything raised as ``LlmdeployError`` is the user's to fix: the CLI prints it and exits 1.
Anything else is a bug and is allowed to crash loudly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

# Sentinel: "no bad value to show" (None is a value a user can write: `key: null`).
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "NO_VALUE"})()


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
        head = f"{self.location}: {self.severity}{env}: {self.path}"
        if self.value is not NO_VALUE:
            head += f" = {_show(self.value)}"
        text = f"{head}: {self.message}"
        if self.rule:
            text += f" [{self.rule}]"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
            "environment": self.environment,
            "rule": self.rule,
        }
        if self.value is not NO_VALUE:
            out["value"] = _jsonable(self.value)
        return out


class SpecError(LlmdeployError):
    """One or more spec problems, all reported together."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(sorted(diagnostics, key=_order))
        errors = sum(d.severity == "error" for d in self.diagnostics)
        super().__init__(f"{errors} error(s) in specs")

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)

    def __str__(self) -> str:
        return self.render()


def _order(d: Diagnostic) -> tuple:
    return (d.file, d.line, d.column, d.path, d.environment or "", d.message)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(_jsonable(value), ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + "..."
    return json.dumps(_jsonable(value), ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, (list, tuple)):
            return [_jsonable(v) for v in value]
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}
        return str(value)
