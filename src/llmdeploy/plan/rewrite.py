"""An optimized layout (`plan.optimize`) as edits of the spec files, comments and order kept.

`rewrite` returns each changed file's new text and touches nothing; `check_rewritten` loads
the new texts beside the unchanged files, in a scratch folder, and runs every rule on them,
then confirms that each model lands where the layout put it. `plan --apply` writes the files
only after both.

Where the portfolio has one environment, a model's own fields change. Where it has several, a
layout belongs to one of them: the changes go into the model's `spec.environments.<env>`
overrides (a field the layout removes is set to null there), so other environments keep
theirs.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmdeploy.errors import LlmdeployError, SpecError
from llmdeploy.plan.optimize import Change, Optimized
from llmdeploy.spec.loader import Portfolio


def _indents(text: str) -> tuple[int, int, int]:
    """How ``text`` indents: a nested mapping's step, a list's dash under its key, and an
    item's text after its dash (`- name` 2, `-   name` 4)."""
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    mapping = dash = item = None
    for above, line in itertools.pairwise(lines):
        if not above.rstrip().endswith(":") or above.lstrip().startswith("- "):
            continue
        step = (len(line) - len(line.lstrip())) - (len(above) - len(above.lstrip()))
        if line.lstrip().startswith("- "):
            dash = step if dash is None else dash
            after = line.lstrip()[1:]
            item = 1 + len(after) - len(after.lstrip()) if item is None else item
        elif step > 0:
            mapping = step if mapping is None else mapping
    return mapping or 2, max(dash or 0, 0), item or 2


def _yaml(text: str = ""):
    from ruamel.yaml import YAML

    y = YAML()  # round trip: comments, order and quoting stay as written
    y.preserve_quotes = True
    y.width = 4096
    # The file's own indentation (lists under their key or indented), not ruamel's default.
    mapping, dash, item = _indents(text)
    y.indent(mapping=mapping, sequence=dash + item, offset=dash)
    # A field an override removes reads `null`, not an empty value.
    y.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return y


def _flow(value: Any) -> Any:
    """New mappings are written inline, `{min: 1, initial: 2, max: 4}`, as the specs do."""
    from ruamel.yaml.comments import CommentedMap

    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _flow(v)
        if value and not any(isinstance(v, Mapping) for v in value.values()):
            out.fa.set_flow_style()
        return out
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _block() -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap()


def _set(node: Any, path: str, value: Any, *, null_removes: bool) -> None:
    """Set ``path`` (dotted, below `spec`) in ``node``; None removes the key, or writes null
    where ``null_removes`` is False (an override that must hide the base's value)."""
    parts = path.split(".")
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = _block()
        node = node[part]
    last = parts[-1]
    if value is None and null_removes:
        node.pop(last, None)
    elif isinstance(value, Mapping) and isinstance(node.get(last), Mapping):
        # A mapping that is already written keeps its style and comments: key by key.
        current = node[last]
        for key in [k for k in current if k not in value]:
            del current[key]
        for key, item in value.items():
            if isinstance(item, Mapping) and isinstance(current.get(key), Mapping):
                _set(current, key, item, null_removes=null_removes)
            elif current.get(key) != item:
                current[key] = _flow(item)
    else:
        node[last] = _flow(value)


def _documents(text: str) -> list[Any]:
    return list(_yaml(text).load_all(text))


def _dump(docs: list[Any], like: str) -> str:
    """``docs`` as YAML, indented as the text ``like`` they were read from."""
    out = io.StringIO()
    _yaml(like).dump_all(docs, out)
    return out.getvalue()


def rewrite(portfolio: Portfolio, layout: Optimized) -> dict[str, tuple[str, str]]:
    """{file: (old text, new text)} for every file the layout changes."""
    single = len(portfolio.all_environment_names) == 1
    edits: dict[str, list[tuple[str, str, tuple[Change, ...]]]] = {}
    for placement in layout.placements:
        if placement.changes:
            doc = next(d for d in portfolio.models if d.spec.name == placement.model)
            edits.setdefault(doc.source.file, []).append(
                ("Model", placement.model, placement.changes)
            )
    env_doc = portfolio.environment(layout.environment)
    if env_doc is None:
        raise LlmdeployError(f"no environment '{layout.environment}' in the specs")
    env_file = env_doc.source.file
    out: dict[str, tuple[str, str]] = {}
    for file, changes in edits.items():
        old = Path(file).read_text()
        docs = _documents(old)
        for kind, name, fields in changes:
            doc = _find(docs, kind, name, file)
            spec = doc["spec"]
            if not single:
                if spec.get("environments") is None:
                    spec["environments"] = _block()
                envs = spec["environments"]
                if envs.get(layout.environment) is None:
                    envs[layout.environment] = _block()
                spec = envs[layout.environment]
            for change in fields:
                _set(spec, change.path, change.new, null_removes=single)
        out[file] = (old, _dump(docs, old))
    old = out[env_file][1] if env_file in out else Path(env_file).read_text()
    original = Path(env_file).read_text()
    docs = _documents(old)
    doc = _find(docs, "Environment", layout.environment, env_file)
    endpoints = doc["spec"].setdefault("endpoints", [])
    for pool in layout.pools:
        if pool.new:
            endpoints.append(
                _flow(
                    {
                        "name": pool.name,
                        "instanceType": pool.instance_type,
                        "instances": pool.instances,
                    }
                    | ({"volumeSizeGB": pool.volume_size_gb} if pool.volume_size_gb else {})
                )
            )
        elif pool.changes:
            ep = next(e for e in endpoints if e["name"] == pool.name)
            ep["instances"] = _flow(pool.instances)
    for name in layout.removed_endpoints:
        for i, ep in enumerate(endpoints):
            if ep["name"] == name:
                del endpoints[i]
                break
    new = _dump(docs, original)
    if new != original:
        out[env_file] = (original, new)
    return out


def _find(docs: list[Any], kind: str, name: str, file: str) -> Any:
    for doc in docs:
        if (
            isinstance(doc, Mapping)
            and doc.get("kind") == kind
            and (doc.get("metadata") or {}).get("name") == name
        ):
            return doc
    raise LlmdeployError(f"{file}: no {kind} '{name}' found to change")


def check_rewritten(portfolio: Portfolio, texts: Mapping[str, str], layout: Optimized) -> None:
    """Every rule on the rewritten specs, and each model where the layout put it. Raises
    `SpecError` (the rules' findings) or `LlmdeployError` (a model elsewhere)."""
    from llmdeploy.plan import check

    scratch = Path(tempfile.mkdtemp(prefix="llmdeploy-apply-"))
    try:
        original: dict[str, str] = {}
        for i, file in enumerate(portfolio.files):
            target = scratch / f"{i:04d}-{Path(file).name}"
            target.write_text(texts.get(file, Path(file).read_text()))
            original[str(target)] = file
        try:
            checked = check(list(original), [layout.environment])
        except SpecError as exc:
            # Findings name the user's files (as they would be), not the scratch copies.
            raise SpecError(
                [
                    dataclasses.replace(d, file=original.get(d.file, d.file))
                    for d in exc.diagnostics
                ],
                exc.scope,
            ) from None
        (env,) = checked.environments
        placed = {m.name: m for m in env.models}
        for p in layout.placements:
            m = placed.get(p.model)
            where = (
                (m.model_spec.dedicated.instance_type if m.model_spec.dedicated else None)
                if m is not None
                else None
            )
            ok = m is not None and (
                (p.kind == "dedicated" and where == p.instance_type)
                or (
                    p.kind == "shared"
                    and m.endpoint is not None
                    and m.endpoint.name == p.endpoint
                    and m.demand is not None
                    and m.demand.devices == p.accelerators
                )
            )
            if not ok:
                raise LlmdeployError(
                    f"the rewritten specs do not place {p.model} where the layout does "
                    f"({p.kind} on {p.endpoint}); nothing was written"
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def unified_diff(texts: Mapping[str, tuple[str, str]]) -> str:
    import difflib

    return "".join(
        "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), file, file))
        for file, (old, new) in texts.items()
    )


def write_files(texts: Mapping[str, str]) -> None:
    """Every file or none: each new text goes to a temporary file beside its target first,
    and only when all are written do they replace the targets."""
    import os

    for file in texts:
        # Replacing a file goes through its folder: a read-only file would be overwritten
        # without a word (and by root, always). Refuse before anything is written.
        mode = Path(file).stat().st_mode
        if not os.access(file, os.W_OK) or not mode & 0o222:
            raise LlmdeployError(
                f"{file} is read-only; nothing was changed (make it writable to apply)"
            )
    staged: list[tuple[str, str]] = []
    try:
        for file, text in texts.items():
            target = Path(file)
            # The file's own line endings: a CRLF file stays CRLF.
            newline = "\r\n" if b"\r\n" in target.read_bytes() else "\n"
            fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            staged.append((temp, file))
            with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as out:
                out.write(text)
            os.chmod(temp, target.stat().st_mode & 0o777)
    except OSError as exc:
        for temp, _ in staged:
            Path(temp).unlink(missing_ok=True)
        raise LlmdeployError(
            f"cannot write {exc.filename}: {exc.strerror}; nothing was changed"
        ) from None
    for temp, file in staged:
        os.replace(temp, file)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A layout's edits, not yet written: {file: (old text, new text)} and their diff."""

    texts: Mapping[str, tuple[str, str]]
    diff: str


@dataclasses.dataclass(frozen=True)
class Applied:
    files: tuple[str, ...]
    diff: str


def prepare(portfolio: Portfolio, layout: Optimized) -> Prepared:
    texts = rewrite(portfolio, layout)
    return Prepared(texts, unified_diff(texts))


def apply(portfolio: Portfolio, change: Prepared, layout: Optimized) -> Applied:
    """Every rule on the changed specs (`check_rewritten`), then every file or none
    (`write_files`). Raises `SpecError` or `LlmdeployError` having written nothing."""
    new = {f: text for f, (_, text) in change.texts.items()}
    check_rewritten(portfolio, new, layout)
    write_files(new)
    return Applied(tuple(change.texts), change.diff)
