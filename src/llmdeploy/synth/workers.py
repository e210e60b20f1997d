"""Stacks built by CDK across worker processes, each with its own jsii runtime (Node.js
process) and its own `cdk.App`, each writing a cloud assembly to a folder of its own; the
caller merges them (`synth.pieces`).

A model stack depends on its endpoint's stack, and CDK records that only when both are in
the app: a worker that builds a model without its endpoint builds the endpoint too (a
"helper", whose pieces are not taken from it). Stacks are split by endpoint, so that few
helpers are needed.

Each worker (`Worker`) is a `spawn` process in a process group of its own, sent one part
over a pipe: a failure, Ctrl-C or the command's end stops every one, and the terminal's
interrupt never reaches them or their Node.js. A command that will synthesize may start one
before it knows what to build (`prestart`): while the command loads and checks the specs,
that worker imports CDK and starts its jsii runtime (1-2 s), so that a stack or two changed
among hundreds waits for neither. Unused, it is stopped.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import multiprocessing
import os
import pickle
import signal
import sys
import types
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from llmdeploy.errors import LlmdeployError

if TYPE_CHECKING:  # importing llmdeploy.plan takes about 0.4 s: `prestart` comes first
    from llmdeploy.plan.resolve import ResolvedEnvironment
    from llmdeploy.synth.layout import PlannedStack

# A worker costs a jsii start (2–4 s of one core) and its own copy of the specs; CDK spends
# about 40 ms a stack. Fewer stacks than this per worker are built in fewer workers.
MIN_STACKS_PER_WORKER = 25


def job_count(jobs: int | None) -> int:
    """What --jobs asks for; None: the CPU count."""
    return jobs if jobs is not None else (os.cpu_count() or 1)


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
    warm: Worker | None = None,
) -> list[tuple[Path, list[str]]]:
    """Each part built and synthesized in a worker process of its own, into
    ``folder``/w<i>: (that folder, the stacks to take from it), in the parts' order. With a
    ``warm`` worker that is still free, it builds the first part."""
    from llmdeploy.synth.layout import built_from

    outdirs = [folder / f"w{i}" for i in range(len(parts))]
    # Each worker gets only what its stacks are built from: pickling 1,000 models and
    # reading them back cost a one-stack rebuild about 0.7 s.
    jobs = [
        (_pickle(built_from(env, stacks)), stacks, outdir, nag, shown_outdir)
        for (stacks, _), outdir in zip(parts, outdirs, strict=True)
    ]
    # Every worker is started before any is sent its part: a part larger than the pipe's
    # buffer waits, in send, for its worker to finish its imports.
    running: list[Worker] = []
    try:
        running.append(warm if warm is not None and warm.take() else _taken(Worker()))
        running += [_taken(Worker()) for _ in jobs[1:]]
        for i, job in enumerate(jobs):
            if not running[i].send(*job):  # gone before it took the part: a new one takes it
                running[i] = _taken(Worker())
                if not running[i].send(*job):
                    raise LlmdeployError(
                        "a synth worker process died before it took its part; try again "
                        "with --jobs 1"
                    )
        for worker in running:
            worker.result()
    finally:  # a failure, or Ctrl-C: none is left running
        for worker in running:
            worker.stop()
    return [(outdir, taken) for outdir, (_, taken) in zip(outdirs, parts, strict=True)]


def _taken(worker: Worker) -> Worker:
    worker.take()
    return worker


class Worker:
    """One worker process: it readies CDK as soon as it starts (`_serve`), then builds one
    part (`take`, `send`, `result`), or is stopped unused (`stop`). Its own process group,
    and a daemon: the command's Ctrl-C and exit end it, never the terminal directly."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child,), daemon=True, name="llmdeploy-synth-worker"
        )
        self._process.start()
        child.close()
        self._taken = False
        _STARTED.append(self)

    def free(self) -> bool:
        """Not claimed, not stopped, and alive."""
        return not self._taken and self._process.is_alive()

    def take(self) -> bool:
        """Claim the worker for one part; False when it is not `free`."""
        if not self.free():
            return False
        self._taken = True
        return True

    def send(self, *job: object) -> bool:
        """Hand over the part; False (and stopped) when the worker is gone."""
        try:
            self._conn.send(job)
        except OSError:
            self.stop()
            return False
        return True

    def result(self) -> None:
        """Wait for the part; its failure raised here."""
        try:
            error = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(timeout=5)  # for its exit code
            error = LlmdeployError(
                f"a synth worker process died (exit code {self._process.exitcode}); try again "
                "with --jobs 1"
            )
        finally:
            self.stop()
        if error is not None:
            raise error

    def stop(self) -> None:
        self._taken = True
        if self._process.is_alive():
            self._process.terminate()  # its Node.js ends with it (jsii's pipe closes)
        self._process.join(timeout=10)
        self._conn.close()
        if self in _STARTED:
            _STARTED.remove(self)


_STARTED: list[Worker] = []  # the workers not stopped yet


def prestart(jobs: int | None) -> Worker | None:
    """A `Worker` started ahead of need when a second process may run (`job_count` above 1
    and more than one CPU) and CDK does not run in this process yet; None otherwise: on one
    core it would only slow the checks it overlaps, and a process whose jsii runtime is up
    (a program calling llmdeploy as a library, again and again) builds a few stacks sooner
    itself than a new worker starts."""
    if job_count(jobs) < 2 or (os.cpu_count() or 1) < 2 or "aws_cdk" in sys.modules:
        return None
    return Worker()


def stop_all() -> None:
    """Stop every worker still running (the commands' boundary calls this)."""
    for warm in list(_STARTED):
        warm.stop()


def _serve(conn: Connection) -> None:
    """A worker: import CDK and llmdeploy's stacks (starting the jsii runtime),
    then build the one part it is sent and answer None, or the error. Ctrl-C is the
    command's to handle (it stops this worker): in its own process group, neither this
    worker nor its Node.js gets the terminal's interrupt, which would only print their
    tracebacks over the command's message."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import llmdeploy  # noqa: F401  (first: it quiets jsii's banner)
        from llmdeploy.synth import assembly, stacks  # noqa: F401  (stacks starts jsii)
    except Exception:
        pass  # the part's own import raises it again, with its message
    try:
        job = conn.recv()
    except (EOFError, OSError):  # stopped unused
        return
    try:
        _work(*job)
        answer = None
    except LlmdeployError as exc:
        answer = exc
    except BaseException as exc:  # anything else, as text: it may not pickle
        answer = LlmdeployError(f"CDK failed in a synth worker: {type(exc).__name__}: {exc}")
    with contextlib.suppress(OSError):  # the command is gone: nobody to tell
        conn.send(answer)


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
    try:
        cdk_synth(env, stacks, outdir, nag=nag, shown_outdir=shown)
    except LlmdeployError:
        raise
    except Exception as exc:  # a jsii error may not pickle: its text does
        raise LlmdeployError(f"CDK failed in a synth worker: {type(exc).__name__}: {exc}") from None
