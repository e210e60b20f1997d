"""The synth cache: each stack's pieces of a cloud assembly (`synth.pieces`) stored under its
fingerprint (`synth.fingerprint`), so that a stack whose inputs did not change is not built
again by CDK.

Layout, under `.llmdeploy/synth-cache/` (relative to the working folder, like the history):

- `stacks/<2 hex>/<fingerprint>.entry`: one stack. A JSON header line (stack, fingerprint,
  manifest artifact, sizes, sha256 of header and payload), then the template, the metadata
  and the tree subtree as bytes.
- `app/<toolchain>.json`: what is not a stack's (the manifest's and tree's app parts, cdk.out,
  validation-report.json), per toolchain fingerprint.
- `runs`: when the last runs started, for eviction.

Safe to share: every file is written whole (a temporary file renamed into place), so two
runs at once each read either a whole entry or none. An entry that cannot be read, whose
digest, stack or fingerprint does not match, is never trusted: it is removed and the stack
is built again.

Bounded: after each run, entries not used in the last `KEEP_RUNS` runs are removed, then the
least recently used until the cache is under `MAX_BYTES` (never an entry the run used).
A used entry's modification time is set when it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from llmdeploy.synth.pieces import AppPiece, StackPiece

DEFAULT_ROOT = Path(".llmdeploy/synth-cache")
KEEP_RUNS = 10
MAX_BYTES = 512 * 2**20
FORMAT = 1


class SynthCache:
    def __init__(
        self, root: Path = DEFAULT_ROOT, *, keep_runs: int = KEEP_RUNS, max_bytes: int = MAX_BYTES
    ):
        self.root = root
        self.keep_runs = keep_runs
        self.max_bytes = max_bytes
        self.started = time.time_ns()
        self.damaged: list[str] = []  # entries found damaged this run (removed)
        self.unwritable: str | None = None  # why an entry could not be stored, if one could not

    # --- stacks ----------------------------------------------------------------------------

    def _stack_path(self, fingerprint: str) -> Path:
        key = fingerprint.removeprefix("sha256:")
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a fingerprint: {fingerprint!r}")
        return self.root / "stacks" / key[:2] / f"{key}.entry"

    def get(self, stack: str, fingerprint: str) -> StackPiece | None:
        path = self._stack_path(fingerprint)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            piece = _decode_stack(data, stack, fingerprint)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            self._discard(path, str(exc))
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return piece

    def put(self, fingerprint: str, piece: StackPiece) -> None:
        self._write(self._stack_path(fingerprint), _encode_stack(piece, fingerprint))

    # --- the app's part ----------------------------------------------------------------------

    def _app_path(self, tools: str) -> Path:
        self._stack_path(tools)  # the same check: a hex digest, never a path
        return self.root / "app" / f"{tools.removeprefix('sha256:')}.json"

    def get_app(self, tools: str) -> AppPiece | None:
        path = self._app_path(tools)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            doc = json.loads(data)
            body = doc["body"]
            if doc["format"] != FORMAT or doc["tools"] != tools or doc["digest"] != _sha(body):
                raise ValueError("its digest, format or toolchain does not match")
            content = json.loads(body)
            app = AppPiece(
                manifest=content["manifest"],
                tree_root=content["tree_root"],
                tree_version=content["tree_version"],
                files={k: v.encode() for k, v in content["files"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._discard(path, str(exc))
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return app

    def put_app(self, tools: str, app: AppPiece) -> None:
        body = json.dumps(
            {
                "manifest": app.manifest,
                "tree_root": app.tree_root,
                "tree_version": app.tree_version,
                "files": {k: v.decode() for k, v in app.files.items()},
            },
            ensure_ascii=False,
        )
        doc = {"format": FORMAT, "tools": tools, "digest": _sha(body), "body": body}
        self._write(self._app_path(tools), json.dumps(doc).encode())

    # --- files -------------------------------------------------------------------------------

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:  # a full disk, no permission: the synth still succeeds
            self.unwritable = f"{path}: {exc.strerror or exc}"

    def _discard(self, path: Path, why: str) -> None:
        self.damaged.append(f"{path}: {why}")
        with contextlib.suppress(OSError):
            path.unlink()

    # --- eviction ----------------------------------------------------------------------------

    def finish(self) -> int:
        """Record this run and evict (see the module's doc); how many entries went."""
        runs_path = self.root / "runs"
        try:
            runs = [int(x) for x in json.loads(runs_path.read_text())]
        except (OSError, ValueError, TypeError):
            runs = []
        runs = sorted({*runs, self.started})[-self.keep_runs :]
        self._write(runs_path, json.dumps(runs).encode())
        oldest = runs[0] if len(runs) >= self.keep_runs else 0
        entries = []
        for folder in (self.root / "stacks", self.root / "app"):
            with contextlib.suppress(OSError):
                for path in folder.rglob("*"):
                    with contextlib.suppress(OSError):
                        st = path.stat()
                        if path.is_file():
                            entries.append((st.st_mtime_ns, st.st_size, path))
        removed = 0
        kept = []
        for mtime, size, path in entries:
            stale_tmp = path.suffix == ".tmp" and mtime < self.started - 3600 * 10**9
            if mtime < oldest or stale_tmp:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
            elif path.suffix != ".tmp":
                kept.append((mtime, size, path))
        total = sum(size for _, size, _ in kept)
        for mtime, size, path in sorted(kept):
            if total <= self.max_bytes or mtime >= self.started:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
                total -= size
        return removed


def _sha(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


# The header keeps its keys' order (the artifact's is manifest.json's): its digest is taken
# over it as written without the digest, and json.loads keeps that order to check it.


def _encode_stack(piece: StackPiece, fingerprint: str) -> bytes:
    metadata = piece.metadata if piece.metadata is not None else b""
    payload = piece.template + metadata + piece.tree
    header = {
        "format": FORMAT,
        "stack": piece.name,
        "fingerprint": fingerprint,
        "artifact": piece.artifact,
        "nodes": piece.nodes,
        "sizes": [
            len(piece.template),
            len(metadata) if piece.metadata is not None else -1,
            len(piece.tree),
        ],
    }
    text = json.dumps(header, ensure_ascii=False)
    header["digest"] = _sha(text.encode() + payload)
    return json.dumps(header, ensure_ascii=False).encode() + b"\n" + payload


def _decode_stack(data: bytes, stack: str, fingerprint: str) -> StackPiece:
    line, sep, payload = data.partition(b"\n")
    if not sep:
        raise ValueError("no header line (truncated)")
    header = json.loads(line)
    digest = header.pop("digest")
    text = json.dumps(header, ensure_ascii=False)
    if digest != _sha(text.encode() + payload):
        raise ValueError("its digest does not match (damaged or truncated)")
    if header["format"] != FORMAT:
        raise ValueError(f"format {header['format']}, not {FORMAT}")
    if header["stack"] != stack or header["fingerprint"] != fingerprint:
        raise ValueError(f"it holds {header['stack']} {header['fingerprint']}")
    t, m, tr = header["sizes"]
    if t + max(m, 0) + tr != len(payload):
        raise ValueError("its sizes do not add up")
    return StackPiece(
        name=stack,
        template=payload[:t],
        metadata=payload[t : t + m] if m >= 0 else None,
        artifact=header["artifact"],
        tree=payload[t + max(m, 0) :],
        nodes=int(header["nodes"]),
    )
