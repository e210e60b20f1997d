"""`llmdeploy init`: the files a portfolio repository starts from.

The files live in `files/` as package data (dot-files under plain names, which packaging
globs would skip), with `__ENV__`, `__ACCOUNT__`, `__REGION__`, `__VERSION__` and
`__CDK_CLI_VERSION__` filled in. `cdk.json` runs the package's own entry point
(`llmdeploy cdk-app`), so the repository needs no path into a virtualenv.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llmdeploy import __version__
from llmdeploy.errors import LlmdeployError

# The CDK CLI the generated package.json asks for: the one this project tests with
# (package.json at the repository root; a test keeps them equal).
CDK_CLI_VERSION = "^2.1148.1"
DEFAULT_ACCOUNT = "111122223333"  # AWS's documentation account: a placeholder to replace
DEFAULT_REGION = "us-east-1"

# Packaged name -> name in the repository.
_RENAMES = {"gitignore": ".gitignore", "github": ".github", "vscode": ".vscode"}
# What may already be in a folder that counts as empty: a fresh `git init`, the virtualenv
# llmdeploy was installed into, editor and OS litter.
_IGNORED = frozenset({".git", ".venv", "venv", ".idea", ".DS_Store"})

_NAME = re.compile(r"^[a-z0-9](-?[a-z0-9])*$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")


@dataclass(frozen=True)
class Outcome:
    path: str  # relative to the target folder
    action: str  # created | kept (it existed: never overwritten)


def render(env: str, account: str, region: str) -> dict[str, str]:
    """Every file of a new repository: relative path -> text."""
    _check(env, account, region)
    values = {
        "__ENV__": env,
        "__ACCOUNT__": account,
        "__REGION__": region,
        "__VERSION__": __version__,
        "__CDK_CLI_VERSION__": CDK_CLI_VERSION,
    }
    out: dict[str, str] = {}
    root = resources.files(__package__) / "files"
    for rel, text in _walk(root, ""):
        for token, value in values.items():
            rel, text = rel.replace(token, value), text.replace(token, value)
        out[rel] = text
    from llmdeploy.spec.schema import filename, schemas

    for kind, body in schemas().items():
        out[f"schemas/{filename(kind)}"] = json.dumps(body, indent=2) + "\n"
    return dict(sorted(out.items()))


def _walk(node, prefix: str):
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        name = _RENAMES.get(child.name, child.name) if not prefix else child.name
        rel = f"{prefix}{name}"
        if child.is_dir():
            yield from _walk(child, rel + "/")
        elif not child.name.endswith((".pyc", ".py")):
            yield rel, child.read_text(encoding="utf-8")


def _check(env: str, account: str, region: str) -> None:
    if not _NAME.match(env) or len(env) > 63:
        raise LlmdeployError(
            f"--env {env!r}: an environment name is lower-case letters, digits and single "
            "hyphens, at most 63 characters (e.g. dev, prod-eu)"
        )
    if not _ACCOUNT.match(account):
        raise LlmdeployError(f"--account {account!r}: give the 12-digit AWS account id")
    if not _REGION.match(region):
        raise LlmdeployError(f"--region {region!r}: give an AWS region such as us-east-1")


def init(
    target: Path,
    *,
    env: str = "dev",
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    force: bool = False,
) -> list[Outcome]:
    """Write a new portfolio repository into ``target`` (created if missing). A folder with
    anything in it is refused unless ``force``; even then no existing file is overwritten:
    it is kept and reported."""
    files = render(env, account, region)
    if target.exists() and not target.is_dir():
        raise LlmdeployError(f"{target}: not a folder (give a folder to create the repository in)")
    if target.is_dir():
        try:
            present = sorted(p.name for p in target.iterdir() if p.name not in _IGNORED)
        except OSError as exc:
            raise LlmdeployError(f"cannot read {target}: {exc.strerror}") from exc
        if present and not force:
            shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
            raise LlmdeployError(
                f"{target} is not empty ({shown}): give an empty or new folder, or --force to "
                "add the missing files (existing files are kept, never overwritten)"
            )
    out: list[Outcome] = []
    try:
        for rel, text in files.items():
            path = target / rel
            if os.path.lexists(path):
                out.append(Outcome(rel, "kept"))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            # "x": never replace a file that appeared since the check above.
            with path.open("x", encoding="utf-8") as f:
                f.write(text)
            out.append(Outcome(rel, "created"))
    except FileExistsError as exc:
        raise LlmdeployError(f"{exc.filename}: appeared while writing; run init again") from exc
    except OSError as exc:
        raise LlmdeployError(
            f"cannot write {exc.filename or target}: {exc.strerror} "
            f"({sum(o.action == 'created' for o in out)} file(s) written before it)"
        ) from exc
    return out
