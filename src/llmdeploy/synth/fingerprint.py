"""What decides a stack's template, as one hash: the synth cache reuses a stored template only
when the fingerprint is the same, and history records carry it.

The hash is conservative: it takes more than the stack's builder reads today, because a
missing input would serve a stale template silently while an extra one only costs a rebuild.

- The toolchain: every file of the llmdeploy package (its version string, 0.1.0, does not move
  with code edits, so any edit to any module or to the catalog data rebuilds everything), the
  versions and jsii bundles of aws-cdk-lib, constructs, jsii and cdk-nag and of everything they
  require (aws-cdk-lib loads the bundles of aws-cdk.cloud-assembly-schema, which writes
  manifest.json, and of its asset packages), Python's and Node's versions, the app's CDK
  context, the environment variables CDK and jsii read, and whether cdk-nag runs.
- The stack: its name, kind and dependencies, the environment's spec (for endpoint and model
  stacks without the other endpoints), and what it is built from: the endpoint; the resolved
  model (the whole spec with every environment's overrides, its endpoint, image, container
  environment, engine and instance type; an adapter's also its base's name and the endpoint
  the base runs on; a base's also its adapters, whose weights its role may read); for the
  dashboards, every endpoint and every model's name, endpoint and kind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel
from llmdeploy.synth.layout import PlannedStack

# Bumped when what the cache stores, or how a fingerprint is computed, changes.
FORMAT = 1

# The context every llmdeploy app synthesizes with (synth.assembly): the CDK CLI's defaults
# for a cdk.json with "pathMetadata": true and "versionReporting": false. Without --debug the
# CLI also turns off construct stack traces in the metadata: they cost about a third of
# synthesis (bench/profile_synth.py), name jsii's temporary folders, and are in no template.
APP_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:disable-stack-trace": True,
}

# Where the JavaScript that writes an assembly comes from; `toolchain_packages` adds what they
# require, whose bundles the jsii runtime loads with them.
_ROOT_PACKAGES = ("aws-cdk-lib", "constructs", "jsii", "cdk-nag")
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_ENV_PREFIXES = ("CDK_", "JSII_", "NODE_")
_ENV_NAMES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def source_digest() -> str:
    """The llmdeploy package as installed: every file but bytecode, by relative path."""
    import llmdeploy

    root = Path(llmdeploy.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo") or not path.is_file():
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


@lru_cache(maxsize=1)
def toolchain_packages() -> tuple[str, ...]:
    """The root packages and every distribution they require, transitively (extras aside), by
    normalized name: aws-cdk-lib pins aws-cdk.cloud-assembly-schema only to a major version,
    so a reinstall can change the code that writes manifest.json and nothing else."""
    seen: set[str] = set()
    todo = list(_ROOT_PACKAGES)
    while todo:
        name = _normalized(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            _, _, marker = requirement.partition(";")
            match = _REQUIREMENT_NAME.match(requirement)
            if match and "extra" not in marker:
                todo.append(match.group(1))
    return tuple(sorted(seen))


def _package(name: str) -> dict[str, Any]:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return {"name": name, "version": None}
    # The jsii bundles (the JavaScript that writes the templates), by size and time: a
    # reinstall of the same version from another build changes them.
    bundles = sorted(
        (str(f), f.locate().stat().st_size, f.locate().stat().st_mtime_ns)
        for f in dist.files or ()
        if str(f).endswith(".tgz") and f.locate().exists()
    )
    return {"name": name, "version": dist.version, "bundles": bundles}


@lru_cache(maxsize=1)
def _node() -> dict[str, Any]:
    node = os.environ.get("JSII_NODE") or shutil.which("node")
    if not node:
        return {"node": None}
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except OSError as exc:
        version = f"unknown: {exc}"
    return {"node": os.path.realpath(node), "version": version}


def toolchain(*, nag: bool) -> str:
    """The part of every fingerprint that is not the specs (a few milliseconds)."""
    return _digest(
        {
            "format": FORMAT,
            "llmdeploy": source_digest(),
            "packages": [_package(p) for p in toolchain_packages()],
            "python": sys.version,
            "node": _node(),
            "context": APP_CONTEXT,
            "environment": {
                k: v
                for k, v in sorted(os.environ.items())
                if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES
            },
            "nag": nag,
        }
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)  # unknown: its repr (an address in it only costs a rebuild)


def _dump(value: Any) -> Any:
    """``value`` as plain JSON data, every field included (the spec's aliases)."""
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump(by_alias=True)
    elif is_dataclass(value):
        value = asdict(value)
    return json.loads(json.dumps(value, default=_plain))


def _model(m: ResolvedModel) -> dict[str, Any]:
    return {
        "spec": _dump(m.spec),
        "endpoint": _dump(m.endpoint),
        "instance": _dump(m.instance),
        "engine": _dump(m.engine),
        "version": m.version,
        "image": m.image,
        "environment": dict(m.environment),
    }


def fingerprints(
    env: ResolvedEnvironment, planned: Sequence[PlannedStack], tools: str
) -> dict[str, str]:
    """Each planned stack's fingerprint, by stack name."""
    spec = env.doc.spec
    whole = _dump(spec)
    without_endpoints = json.loads(json.dumps(whole))
    without_endpoints["spec"].pop("endpoints", None)
    common = {"environment": without_endpoints, "prefix": spec.stack_prefix, "tools": tools}
    endpoints = {ep.name: ep for ep in spec.spec.endpoints}
    models = {m.name: m for m in env.models}
    out = {}
    for p in planned:
        inputs: dict[str, Any] = {
            "stack": p.name,
            "kind": p.kind,
            "subject": p.subject,
            "depends_on": list(p.depends_on),
        }
        if p.kind == "endpoint":
            inputs |= common | {"endpoint": _dump(endpoints[p.subject])}
        elif p.kind in ("model", "dedicated"):
            m = models[p.subject]
            # A base's role may read exactly its adapters' weights: each adapter is an input.
            # (`m.adapters` names linked adapters only: each is in the environment.)
            adapters = [_model(models[a]) for a in m.adapters]
            inputs |= common | {"model": _model(m), "adapters": adapters}
        elif p.kind == "adapter":
            # Its template names the base's component and the base's endpoint, which the
            # base's spec decides: both are inputs.
            m = models[p.subject]
            inputs |= common | {
                "model": _model(m),
                "base": m.base.name if m.base else None,
                "runs_on": _dump(m.runs_on),
            }
        else:  # dashboards, and anything new: the whole environment
            inputs |= {
                "environment": whole,
                "prefix": spec.stack_prefix,
                "tools": tools,
                "models": [
                    [m.name, m.runs_on.name if m.runs_on else None, m.dedicated] for m in env.models
                ],
            }
            if p.kind != "dashboards":
                inputs["everything"] = [_model(m) for m in env.models]
        out[p.name] = "sha256:" + _digest(inputs)
    return out
