"""Spec files → typed `Environment` and `Model` objects, with every problem reported at once.

Loading never stops at the first problem: each document is checked on its own, and all
diagnostics of a run come back together. A model is checked once as written and once per
environment with its `spec.environments.<env>` overrides deep-merged in; a problem that only
the overrides cause is reported with the environment's name and the override's line.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmdeploy.errors import Diagnostic, LlmdeployError
from llmdeploy.spec.diagnose import diagnose, suggest
from llmdeploy.spec.models import API_VERSION, KINDS, Environment, Model
from llmdeploy.spec.source import Document, SourceMap, parse_documents

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class EnvironmentDoc:
    spec: Environment
    source: SourceMap


@dataclass(frozen=True)
class ModelDoc:
    """A model as written: its typed base spec, and the raw data overrides are merged into."""

    spec: Model
    source: SourceMap
    data: Mapping[str, Any]

    def for_environment(self, env: str) -> tuple[Model | None, SourceMap, list[Diagnostic]]:
        """The model with env's overrides merged, its source map, and what the merge broke."""
        overrides = self.spec.spec.environments.get(env)
        if not overrides:
            return self.spec, self.source, []
        if "environments" in overrides:
            return (
                None,
                self.source,
                [
                    self.source.diagnostic(
                        ("spec", "environments", env, "environments"),
                        "overrides cannot hold overrides of their own",
                        key=True,
                        environment=env,
                        fix=f"move these entries to spec.environments.<name>, next to {env}",
                    )
                ],
            )
        data = copy.deepcopy(dict(self.data))
        data["spec"] = deep_merge(
            {k: v for k, v in data["spec"].items() if k != "environments"}, overrides
        )
        source = _merged_source(self.source, env)
        try:
            return Model.model_validate(data), source, []
        except ValidationError as exc:
            return None, source, diagnose(exc, Model, source, environment=env)


@dataclass
class Portfolio:
    environments: list[EnvironmentDoc] = field(default_factory=list)
    models: list[ModelDoc] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Names of Environment documents that failed to load: still environments that exist
    # (their errors are reported), so models' overrides for them are not "unknown".
    broken_environments: list[str] = field(default_factory=list)

    def environment(self, name: str) -> EnvironmentDoc | None:
        return next((e for e in self.environments if e.spec.name == name), None)

    @property
    def environment_names(self) -> list[str]:
        return [e.spec.name for e in self.environments]

    @property
    def all_environment_names(self) -> list[str]:
        return self.environment_names + self.broken_environments


def spec_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files under ``paths`` (files as given, folders searched recursively)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise LlmdeployError(
                f"{raw}: no such file or folder (give spec files or folders such as models/ infra/)"
            )
    return out


def load(paths: Iterable[str | Path]) -> Portfolio:
    portfolio = Portfolio()
    for path in spec_files(paths):
        name = str(path)
        portfolio.files.append(name)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            portfolio.diagnostics.append(
                Diagnostic(
                    name,
                    1,
                    1,
                    "(document)",
                    f"not UTF-8 text: {exc.reason}",
                    fix="save the file as UTF-8",
                )
            )
            continue
        except OSError as exc:
            raise LlmdeployError(f"{name}: cannot read: {exc.strerror}") from exc
        docs, problems = parse_documents(text, name)
        portfolio.diagnostics.extend(problems)
        for doc in docs:
            _add(portfolio, doc)
    _check_unique(portfolio)
    return portfolio


def _add(portfolio: Portfolio, doc: Document) -> None:
    source, data = doc.source, doc.data
    if not isinstance(data, Mapping):
        portfolio.diagnostics.append(
            source.diagnostic(
                (),
                "a spec must be a mapping with apiVersion, kind, metadata, spec",
                fix="start the file with `apiVersion: llmdeploy/v1`",
            )
        )
        return
    api = data.get("apiVersion")
    if api != API_VERSION:
        portfolio.diagnostics.append(
            source.diagnostic(
                ("apiVersion",),
                "missing apiVersion" if api is None else f"unsupported apiVersion {api!r}",
                key=api is None,
                fix=f"this llmdeploy reads `apiVersion: {API_VERSION}`",
            )
        )
        return
    kind = data.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        portfolio.diagnostics.append(
            source.diagnostic(
                ("kind",),
                "missing kind" if kind is None else f"unknown kind {kind!r}",
                value=kind,
                fix=suggest(str(kind), KINDS, "kinds"),
            )
        )
        return
    try:
        spec = cls.model_validate(data)
    except ValidationError as exc:
        portfolio.diagnostics.extend(diagnose(exc, cls, source))
        meta = data.get("metadata")
        if cls is Environment and isinstance(meta, Mapping) and isinstance(meta.get("name"), str):
            portfolio.broken_environments.append(meta["name"])
        return
    if isinstance(spec, Environment):
        portfolio.environments.append(EnvironmentDoc(spec, source))
    else:
        portfolio.models.append(ModelDoc(spec, source, data))


def _check_unique(portfolio: Portfolio) -> None:
    for what, docs in (("environment", portfolio.environments), ("model", portfolio.models)):
        first: dict[str, SourceMap] = {}
        for doc in docs:
            name = doc.spec.metadata.name
            if name in first:
                other = first[name]
                mark, _ = other.locate(("metadata", "name"))
                portfolio.diagnostics.append(
                    doc.source.diagnostic(
                        ("metadata", "name"),
                        f"{what} '{name}' is defined twice (first at {other.file}:{mark.line})",
                        value=name,
                        fix=f"rename one of them; {what} names must be unique",
                    )
                )
            else:
                first[name] = doc.source


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in ``over`` (lists too) replaces the base."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _merged_source(base: SourceMap, env: str) -> SourceMap:
    prefix = ("spec", "environments", env)
    merged = SourceMap(
        base.file,
        dict(base.values),
        dict(base.keys),
        dict(base.origin),
        dict(base.raw),
        set(base.refused),
    )
    for table, merged_table in (
        (base.values, merged.values),
        (base.keys, merged.keys),
        (base.raw, merged.raw),
    ):
        for path, mark in table.items():
            if path[:3] == prefix and len(path) > 3:
                target = ("spec", *path[3:])
                merged_table[target] = mark
                merged.origin[target] = path
    return merged
