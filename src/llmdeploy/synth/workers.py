"""Stacks built by CDK across worker processes, each with its own jsii runtime (Node.js
process) and its own `cdk.App`, each writing a cloud assembly to a folder of its own; the
caller merges them (`synth.pieces`).

A model stack depends on its endpoint's stack, and CDK records that only when both are in
the app: a worker that builds a model without its endpoint builds the endpoint too (a
"helper", whose pieces are not taken from it). Stacks are split by endpoint, so that few
helpers are needed.
"""

from __future__ import annotations

import copyreg
import io
import multiprocessing
import pickle
import types
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from llmdeploy.errors import LlmdeployError
from llmdeploy.plan.resolve import ResolvedEnvironment
from llmdeploy.synth.layout import PlannedStack

# A worker costs a jsii start (2–4 s of one core) and its own copy of the specs; CDK spends
# about 40 ms a stack. Fewer stacks than this per worker are built in fewer workers.
MIN_STACKS_PER_WORKER = 25


def worker_count(jobs: int, stacks: int) -> int:
    return max(1, min(jobs, stacks // MIN_STACKS_PER_WORKER))


def split(
    planned: Sequence[PlannedStack], build: Sequence[PlannedStack], workers: int
) -> list[tuple[list[PlannedStack], list[str]]]:
    """``build`` in ``workers`` parts of near-equal size: (the stacks a worker builds, in
    the plan's order, helpers included; the names of those taken from it)."""
    wanted = {p.name for p in build}
    groups: dict[str, list[PlannedStack]] = {}
    for p in planned:
        if p.name not in wanted:
            continue
        key = p.depends_on[0] if p.kind == "model" and p.depends_on else p.name
        groups.setdefault(key, []).append(p)
    ordered = [p for group in groups.values() for p in group]
    size, extra = divmod(len(ordered), workers)
    chunks, start = [], 0
    for i in range(workers):
        end = start + size + (1 if i < extra else 0)
        chunks.append(ordered[start:end])
        start = end
    by_name = {p.name: p for p in planned}
    out = []
    for chunk in chunks:
        if not chunk:
            continue
        owned = {p.name for p in chunk}
        helpers = {d for p in chunk for d in p.depends_on if d not in owned and d in by_name}
        stacks = [p for p in planned if p.name in owned or p.name in helpers]
        out.append((stacks, [p.name for p in chunk]))
    return out


def build(
    env: ResolvedEnvironment,
    parts: Sequence[tuple[list[PlannedStack], list[str]]],
    folder: Path,
    *,
    nag: bool,
    shown_outdir: Path,
) -> list[tuple[Path, list[str]]]:
    """Each part built and synthesized in a worker process of its own, into
    ``folder``/w<i>: (that folder, the stacks to take from it), in the parts' order."""
    payload = _pickle(env)
    outdirs = [folder / f"w{i}" for i in range(len(parts))]
    context = multiprocessing.get_context("spawn")  # no fork: the parent may hold threads
    try:
        with ProcessPoolExecutor(len(parts), mp_context=context) as pool:
            futures = [
                pool.submit(_work, payload, stacks, outdir, nag, shown_outdir)
                for (stacks, _), outdir in zip(parts, outdirs, strict=True)
            ]
            for future in futures:
                future.result()
    except BrokenProcessPool as exc:
        raise LlmdeployError(
            f"a synth worker process died ({exc}); try again with --jobs 1"
        ) from None
    return [(outdir, taken) for outdir, (_, taken) in zip(outdirs, parts, strict=True)]


def _pickle(value: object) -> bytes:
    """``value`` pickled; the specs' read-only maps (`MappingProxyType`) as themselves."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = copyreg.dispatch_table | {
        types.MappingProxyType: lambda m: (_read_only, (dict(m),))
    }
    pickler.dump(value)
    return buffer.getvalue()


def _read_only(mapping: dict) -> types.MappingProxyType:
    return types.MappingProxyType(mapping)


def _work(payload: bytes, stacks: list[PlannedStack], outdir: Path, nag: bool, shown: Path) -> None:
    import llmdeploy  # noqa: F401  (first: it quiets jsii's banner)
    from llmdeploy.synth.assembly import cdk_synth

    env = pickle.loads(payload)
    outdir.mkdir(parents=True)
    import os
    import sys
    import time

    class P:
        t0 = time.perf_counter()

        def phase(self, text):
            print(
                f"worker {os.getpid()} {time.perf_counter() - self.t0:6.2f} {text}",
                file=sys.stderr,
                flush=True,
            )

    try:
        cdk_synth(env, stacks, outdir, nag=nag, shown_outdir=shown, progress=P())
        P().phase("done")
    except LlmdeployError:
        raise
    except Exception as exc:  # a jsii error may not pickle: its text does
        raise LlmdeployError(f"CDK failed in a synth worker: {type(exc).__name__}: {exc}") from None
