"""Specs resolved per environment, checked against the catalog and each other."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmdeploy.errors import Diagnostic, LlmdeployError, SpecError
from llmdeploy.plan import rules
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel, resolve_model
from llmdeploy.spec.diagnose import suggest
from llmdeploy.spec.loader import Portfolio, load

__all__ = ["Checked", "ResolvedEnvironment", "ResolvedModel", "check", "check_portfolio"]


@dataclass(frozen=True)
class Checked:
    portfolio: Portfolio
    environments: tuple[ResolvedEnvironment, ...]
    warnings: tuple[Diagnostic, ...]


def check(paths: Iterable[str | Path], environments: Sequence[str] = ()) -> Checked:
    """Load the specs under ``paths`` and check them for ``environments`` (default: all).

    Raises `SpecError` with every error (and warning) found; returns the resolved
    environments and the warnings otherwise.
    """
    return check_portfolio(load(paths), environments)


def check_portfolio(portfolio: Portfolio, environments: Sequence[str] = ()) -> Checked:
    if not portfolio.files:
        raise LlmdeployError(
            "no spec files (*.yaml, *.yml) found; give the folders that hold them, "
            "e.g. models/ infra/"
        )
    known = portfolio.all_environment_names
    for name in environments:
        if name not in known:
            raise LlmdeployError(
                f"--env {name}: no environment '{name}' in the given specs ("
                + (suggest(name, known, "environments") if known else "no Environment spec found")
                + ")"
            )
    if not known and portfolio.models and not portfolio.diagnostics:
        raise LlmdeployError(
            "no Environment spec found: models are checked against an environment "
            "(give infra/ as well, e.g. `llmdeploy validate models/ infra/`)"
        )
    diagnostics = list(portfolio.diagnostics)
    # Rules across environments see all of them, whichever --env selects.
    diagnostics.extend(rules.run_portfolio(portfolio, environments))
    resolved: list[ResolvedEnvironment] = []
    for env_doc in portfolio.environments:
        if environments and env_doc.spec.name not in environments:
            continue
        models: list[ResolvedModel] = []
        for model_doc in portfolio.models:
            model, source, problems = model_doc.for_environment(env_doc.spec.name)
            diagnostics.extend(problems)
            if model is not None:
                models.append(resolve_model(env_doc, model, source))
        env = ResolvedEnvironment(env_doc, tuple(models))
        diagnostics.extend(rules.run(env, known))
        resolved.append(env)
    merged = _merge_environments(diagnostics)
    if any(d.severity == "error" for d in merged):
        scope = {
            "environments": [n for n in known if not environments or n in environments],
            "models": sorted({m.spec.name for m in portfolio.models}),
            "files": list(portfolio.files),
        }
        raise SpecError(merged, scope)
    return Checked(portfolio, tuple(resolved), tuple(merged))


def _merge_environments(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per problem: the same finding in several environments names them all."""
    by_key: dict[tuple, list[str | None]] = {}
    first: dict[tuple, Diagnostic] = {}
    for d in diagnostics:
        key = (d.file, d.line, d.column, d.path, d.message, d.fix, d.severity)
        first.setdefault(key, d)
        envs = by_key.setdefault(key, [])
        if d.environment not in envs:
            envs.append(d.environment)
    out = []
    for key, d in first.items():
        envs = by_key[key]
        # None or "" = found without regard to environment (e.g. while loading a file).
        label = None if not all(envs) else ", ".join(e for e in envs if e)
        out.append(dataclasses.replace(d, environment=label))
    return out
