"""Spec files → typed `Environment` and `Model` objects, with every problem reported at once.

Loading never stops at the first problem: each document is checked on its own, and all
diagnostics of a run come back together. A model is checked once as written and once per
environment with its `spec.environments.<env>` overrides deep-merged in; a problem that only
the overrides cause is reported with the environment's name and the override's line.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmdeploy.errors import Diagnostic, LlmdeployError, SpecError
from llmdeploy.spec.diagnose import diagnose, suggest
from llmdeploy.spec.models import (
    API_VERSION,
    KINDS,
    Environment,
    EnvironmentSpec,
    Model,
    ModelSpec,
)
from llmdeploy.spec.source import Document, SourceMap, parse_documents

# Spec files end in .yaml or .yml, in any case (m.YAML, m.Yml): a file with either name is
# read, never skipped. Anything in the folders that is not readable is an error.
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class EnvironmentDoc:
    spec: Environment
    source: SourceMap

    @property
    def environment_spec(self) -> EnvironmentSpec:
        """The Environment's `spec:` section: account, region, security, endpoints."""
        return self.spec.spec


@dataclass(frozen=True)
class ModelDoc:
    """A model as written: its typed base spec, and the raw data overrides are merged into."""

    spec: Model
    source: SourceMap
    data: Mapping[str, Any]

    @property
    def model_spec(self) -> ModelSpec:
        """The Model's `spec:` section as written (before any environment's overrides)."""
        return self.spec.spec

    def for_environment(self, env: str) -> tuple[Model | None, SourceMap, list[Diagnostic]]:
        """The model with env's overrides merged, its source map, and what the merge broke."""
        overrides = self.model_spec.environments.get(env)
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


def is_spec_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in SUFFIXES


def spec_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """The YAML files under ``paths`` (files as given, folders searched recursively, symbolic
    links followed), and what could not be searched: an unreadable folder, a dangling link."""
    out: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        try:
            info = path.stat()
        except FileNotFoundError:
            if path.is_symlink():
                raise LlmdeployError(
                    f"{raw}: a symbolic link to {os.readlink(path)}, which does not exist"
                ) from None
            raise LlmdeployError(
                f"{raw}: no such file or folder (give spec files or folders such as models/ infra/)"
            ) from None
        except OSError as exc:
            raise LlmdeployError(f"{raw}: cannot read: {exc.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            kernel = _kernel_folder(path)
            if kernel:
                raise LlmdeployError(
                    f"{raw}: {kernel} is the kernel's own filesystem, not a spec folder (give "
                    "folders such as models/ infra/)"
                )
            found: list[Path] = []
            _walk(path, found, problems, set())
            out.extend(sorted(found))
        else:
            out.append(path)  # as given, whatever its name; `load` refuses what is no file
    return out, problems


def _walk(
    folder: Path, out: list[Path], problems: list[Diagnostic], seen: set[tuple[int, int]]
) -> None:
    try:
        info = folder.stat()
        if (info.st_dev, info.st_ino) in seen:
            return  # a link back to a folder already searched
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        problems.append(_unreadable(folder, "folder", exc))
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()  # follows symbolic links
        except OSError:
            is_dir = False
        dangling = not is_dir and entry.is_symlink() and not os.path.exists(path)
        if is_dir and _kernel_folder(path):
            continue  # a link into /proc or /sys (/proc/<pid>/root is /): never a spec
        if is_dir:
            if len(seen) >= MAX_FOLDERS:
                raise LlmdeployError(
                    f"{folder}: more than {MAX_FOLDERS} folders under the spec paths; give "
                    "the folders that hold the specs (models/ infra/), not a whole disk"
                )
            _walk(path, out, problems, seen)
        elif dangling and entry.name.startswith(".#"):
            continue  # an editor's lock file (Emacs: .#name.yaml), a dangling link by design
        elif is_spec_name(entry.name):
            out.append(path)  # `load` says what is wrong with it, if anything
        elif dangling and not os.path.splitext(entry.name)[1]:
            problems.append(_unreadable(path, "folder", None))  # it may have been a folder


MAX_FOLDERS = 10_000  # a spec tree has a handful; more means a wrong path (/, a home folder)
_KERNEL = (Path("/proc"), Path("/sys"), Path("/dev"))


def _kernel_folder(path: Path) -> str | None:
    """The kernel filesystem ``path`` resolves into (/proc, /sys, /dev), or None."""
    candidates = [Path(os.path.abspath(path))]
    try:
        if path.is_symlink():  # the link as written: /proc/self/root resolves to /
            candidates.append(Path(os.path.abspath(path.parent / os.readlink(path))))
        candidates.append(path.resolve())
    except (OSError, RuntimeError):
        pass
    for real in candidates:
        for root in _KERNEL:
            if real == root or root in real.parents:
                return str(root)
    return None


def _unreadable(path: Path, what: str, exc: OSError | None) -> Diagnostic:
    if path.is_symlink() and not os.path.exists(path):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        message = f"a symbolic link to {target}, which does not exist"
        fix = f"point the link at an existing {what}, or remove it"
    else:
        reason = exc.strerror if exc is not None and exc.strerror else str(exc)
        message = f"cannot read this {what}: {reason}"
        mode = "u+rx" if what == "folder" else "u+r"
        fix = f"make it readable (chmod {mode} {path}), or move it out of the spec folders"
    return Diagnostic(str(path), 1, 1, f"({what})", message, fix=fix)


_SPECIAL = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _read(path: Path) -> str | Diagnostic:
    """The text of a spec file, or why it cannot be read."""
    name = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            what = _SPECIAL.get(stat.S_IFMT(info.st_mode), "not a regular file")
            return Diagnostic(
                name,
                1,
                1,
                "(file)",
                f"is {what}, not a regular file (reading it could wait forever)",
                fix="give regular files only: remove it, or rename it to a name that does not "
                "end in .yaml or .yml",
            )
        data = path.read_bytes()
    except OSError as exc:
        return _unreadable(path, "file", exc)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Diagnostic(
            name, 1, 1, "(document)", f"not UTF-8 text: {exc.reason}", fix="save the file as UTF-8"
        )


def load(paths: Iterable[str | Path]) -> Portfolio:
    portfolio = Portfolio()
    files, problems = spec_files(paths)
    portfolio.diagnostics.extend(problems)
    for path in files:
        text = _read(path)
        if isinstance(text, Diagnostic):
            portfolio.diagnostics.append(text)
            continue
        name = str(path)
        portfolio.files.append(name)
        docs, problems = parse_documents(text, name)
        portfolio.diagnostics.extend(problems)
        if not docs and not problems:
            # An empty (or comments-only) spec file is a truncated spec more often than an
            # intent; with `deploy --prune` it would take its model down.
            portfolio.diagnostics.append(
                Diagnostic(
                    name,
                    1,
                    1,
                    "(document)",
                    "the file holds no spec (it is empty, or only comments)",
                    fix="write the spec, or delete the file if the model is meant to go",
                )
            )
        for doc in docs:
            _add(portfolio, doc)
    if not portfolio.files and portfolio.diagnostics:
        # Nothing could be read: say why, rather than "no spec files".
        raise SpecError(portfolio.diagnostics)
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
