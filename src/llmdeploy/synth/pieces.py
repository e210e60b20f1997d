"""A cloud assembly taken apart per stack, and put together again byte for byte.

What CDK writes for an app of llmdeploy's (no file assets, no nested assemblies):

- per stack: `<stack>.template.json`, `<stack>.metadata.json`, its artifact in manifest.json
  and its subtree in tree.json;
- for the app: manifest.json (`JSON.stringify(…, 2)`: the stack artifacts first, then the
  tree's and the feature-flag report's), tree.json (`JSON.stringify(…)`: the App node, its
  stack children first, then the `Tree` construct), cdk.out and validation-report.json.

A stack's pieces do not depend on the other stacks of its app (no exports, no references:
a model stack names its endpoint by string), so an assembly of stacks built in several apps
(worker processes, earlier runs) is the one app's assembly. tests/synth/test_cache.py proves
it against a plain synth. Anything unexpected (another artifact type, a file CDK had not
written before, a tree split into several files, JSON that Python would not write back
identically) raises `Unmergeable`: the caller then keeps CDK's own output and caches nothing.

`<stack>.metadata.json` holds construct stack traces that name the jsii runtime's temporary
folder (`/tmp/jsii-kernel-XXXXXX/…`): two cold runs already differ there, so a stored one is
as good as a new one; every other file is identical to a cold run's.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK_TYPE = "aws:cloudformation:stack"
APP_ARTIFACT_TYPES = frozenset({"cdk:tree", "cdk:feature-flag-report"})
APP_FILES = ("cdk.out", "validation-report.json")
# aws-cdk-lib's TreeMetadata splits tree.json into trees-N.json past this many constructs
# (context `@aws-cdk/core.TreeMetadata:maxNodes`, which llmdeploy's apps do not set).
TREE_MAX_NODES = 500_000
_TREE_ARTIFACT = {"type": "cdk:tree", "properties": {"file": "tree.json"}}


class Unmergeable(Exception):
    """An assembly this module cannot take apart or rebuild faithfully."""


@dataclass(frozen=True)
class StackPiece:
    name: str
    template: bytes
    metadata: bytes | None
    artifact: dict[str, Any]  # its entry in manifest.json's artifacts
    tree: bytes  # its subtree of tree.json, compact JSON as CDK writes it
    nodes: int  # constructs in the subtree


@dataclass(frozen=True)
class AppPiece:
    """Everything of an assembly that is not a stack's: the same for any app of the same
    toolchain and context."""

    manifest: dict[str, Any]  # manifest.json without the stack artifacts
    tree_root: dict[str, Any]  # tree.json's App node without the stack children
    tree_version: str
    files: dict[str, bytes]  # cdk.out, validation-report.json (when written)


def _manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False)


def _tree_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _count(node: dict[str, Any]) -> int:
    count, todo = 0, [node]
    while todo:
        current = todo.pop()
        count += 1
        todo.extend((current.get("children") or {}).values())
    return count


def harvest(outdir: Path, stacks: Iterable[str]) -> tuple[AppPiece, dict[str, StackPiece]]:
    """The pieces of ``stacks`` (and of the app) in the assembly CDK just wrote to
    ``outdir``, a folder of its own. Raises `Unmergeable` on anything unexpected."""
    wanted = set(stacks)
    try:
        manifest_text = (outdir / "manifest.json").read_text(encoding="utf-8")
        tree_text = (outdir / "tree.json").read_text(encoding="utf-8")
        manifest = json.loads(manifest_text)
        tree = json.loads(tree_text)
    except (OSError, ValueError) as exc:
        raise Unmergeable(f"cannot read the assembly: {exc}") from None
    # Python writes these documents back exactly as CDK did (numbers, escapes, key order):
    # so writing merged objects gives CDK's bytes.
    if _manifest_text(manifest) != manifest_text or _tree_text(tree) != tree_text:
        raise Unmergeable("manifest.json or tree.json does not round-trip through Python's json")
    if not isinstance(manifest, dict) or list(manifest)[:2] != ["version", "artifacts"]:
        raise Unmergeable("manifest.json has an unexpected shape")
    artifacts = manifest["artifacts"]
    kinds = [a.get("type") for a in artifacts.values()]
    n_stacks = kinds.count(STACK_TYPE)
    if STACK_TYPE in kinds[n_stacks:] or not set(kinds[n_stacks:]) <= APP_ARTIFACT_TYPES:
        raise Unmergeable(f"manifest.json has artifacts of unexpected types or order: {kinds}")
    stack_names = list(artifacts)[:n_stacks]
    if any(a.get("type") == "cdk:tree" and a != _TREE_ARTIFACT for a in artifacts.values()):
        raise Unmergeable("the tree is not the one tree.json")
    if tree.get("version") != "tree-0.1" or list(tree) != ["version", "tree"]:
        raise Unmergeable("tree.json has an unexpected shape")
    root = tree["tree"]
    if list(root)[-1:] != ["children"] or len(root) < 2 or root.get("path") != "":
        raise Unmergeable("tree.json's App node has an unexpected shape")
    children = root["children"]
    if list(children)[:n_stacks] != stack_names or list(children)[n_stacks:] != ["Tree"]:
        raise Unmergeable("tree.json's stacks are not the manifest's")
    expected = set(APP_FILES) | {"manifest.json", "tree.json"}
    pieces = {}
    for name in stack_names:
        artifact = artifacts[name]
        props = artifact.get("properties", {})
        template_file = f"{name}.template.json"
        metadata_file = artifact.get("additionalMetadataFile")
        extra = set(artifact) - {
            "type",
            "environment",
            "properties",
            "dependencies",
            "additionalMetadataFile",
            "displayName",
        }
        if props.get("templateFile") != template_file or extra:
            raise Unmergeable(f"stack {name}: an artifact of unexpected shape")
        if metadata_file not in (None, f"{name}.metadata.json"):
            raise Unmergeable(f"stack {name}: metadata in {metadata_file}")
        expected |= {template_file} | ({metadata_file} if metadata_file else set())
        if name not in wanted:
            continue
        try:
            template = (outdir / template_file).read_bytes()
            metadata = (outdir / metadata_file).read_bytes() if metadata_file else None
        except OSError as exc:
            raise Unmergeable(f"stack {name}: {exc}") from None
        subtree = children[name]
        pieces[name] = StackPiece(
            name,
            template,
            metadata,
            artifact,
            _tree_text(subtree).encode(),
            _count(subtree),
        )
    missing = wanted - set(pieces)
    if missing:
        raise Unmergeable(f"stacks missing from the assembly: {sorted(missing)}")
    present = set(os.listdir(outdir))
    if present - expected:
        raise Unmergeable(
            f"files CDK wrote that llmdeploy does not know: {sorted(present - expected)}"
        )
    app = AppPiece(
        # The keys' order is CDK's: version, artifacts (the app's after the stacks), the rest.
        manifest={
            k: (
                {a: v for a, v in artifacts.items() if a not in stack_names}
                if k == "artifacts"
                else v
            )
            for k, v in manifest.items()
        },
        tree_root={
            k: (
                {c: v for c, v in children.items() if c not in stack_names}
                if k == "children"
                else v
            )
            for k, v in root.items()
        },
        tree_version=tree["version"],
        files={
            name: (outdir / name).read_bytes() for name in APP_FILES if (outdir / name).is_file()
        },
    )
    return app, pieces


def assemble(app: AppPiece, stacks: Sequence[StackPiece]) -> dict[str, bytes]:
    """The files of the assembly of ``stacks`` (in the order one app would build them), by
    name, as CDK would write them. Raises `Unmergeable` when CDK would split the tree."""
    tree_children = app.tree_root["children"]
    nodes = 1 + sum(s.nodes for s in stacks) + sum(_count(c) for c in tree_children.values())
    if nodes >= TREE_MAX_NODES:
        raise Unmergeable(f"{nodes} constructs: CDK would split tree.json into several files")
    files: dict[str, bytes] = {}
    artifacts: dict[str, Any] = {}
    for s in stacks:
        files[f"{s.name}.template.json"] = s.template
        if s.metadata is not None:
            files[f"{s.name}.metadata.json"] = s.metadata
        artifacts[s.name] = s.artifact
    manifest = {k: ({**artifacts, **v} if k == "artifacts" else v) for k, v in app.manifest.items()}
    files["manifest.json"] = _manifest_text(manifest).encode()
    # tree.json as text: the stored subtrees are CDK's own compact JSON, joined.
    root = {k: v for k, v in app.tree_root.items() if k != "children"}
    head = _tree_text({"version": app.tree_version, "tree": root})
    parts = [_tree_text(name) + ":" + s.tree.decode() for name, s in ((s.name, s) for s in stacks)]
    parts += [_tree_text(k) + ":" + _tree_text(v) for k, v in tree_children.items()]
    # head ends with "}}": the App node's and the document's; children go before them.
    files["tree.json"] = (head[:-2] + ',"children":{' + ",".join(parts) + "}}}").encode()
    files.update(app.files)
    return files


# The jsii runtime's temporary folders (its kernel and program), which construct traces in
# `<stack>.metadata.json` name: new ones for every Node.js process.
_JSII_FOLDERS = re.compile(rb"/(jsii-kernel-|tmp)[A-Za-z0-9_]+/")


def comparable_metadata(data: bytes) -> bytes:
    """A stack's metadata with the jsii runtime's temporary folders blanked: what two runs of
    one input have in common (tests compare metadata this way)."""
    return _JSII_FOLDERS.sub(b"/<jsii>/", data)


def write_files(outdir: Path, files: dict[str, bytes]) -> None:
    """``files`` written into ``outdir``; one that already holds the same bytes is left as it
    is (and keeps its time): after one change among 1,000 stacks, rewriting the 2,000
    unchanged files took 0.8 s, comparing them 0.1 s."""
    for name, data in files.items():
        path = outdir / name
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                continue
        except OSError:
            pass  # absent or unreadable: written (a write that fails says why)
        path.write_bytes(data)
