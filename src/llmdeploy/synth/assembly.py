"""Write the cloud assembly of an environment and summarise it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from llmdeploy.errors import LlmdeployError, clip
from llmdeploy.plan.resolve import ResolvedEnvironment
from llmdeploy.synth import fingerprint, workers
from llmdeploy.synth.cache import DEFAULT_ROOT, SynthCache
from llmdeploy.synth.layout import PlannedStack, plan_stacks
from llmdeploy.synth.pieces import AppPiece, StackPiece, Unmergeable, assemble, harvest, write_files
from llmdeploy.synth.workers import split, worker_count


class Progress(Protocol):
    """Where synthesis says how far it is (a live line on a terminal, plain lines in CI)."""

    def phase(self, text: str) -> None: ...

    def stack(self, done: int, total: int, name: str) -> None: ...


class _Quiet:
    def phase(self, text: str) -> None:
        pass

    def stack(self, done: int, total: int, name: str) -> None:
        pass


_quiet = _Quiet()

# What CDK writes per stack: a template, and its metadata (and, with file assets, which
# llmdeploy's apps never have, an assets manifest).
_STACK_FILES = (".template.json", ".metadata.json", ".assets.json")


@dataclass(frozen=True)
class SynthSettings:
    """How a command synthesizes: through the synth cache (`synth.cache`) or not, and in how
    many worker processes (None: the CPU count), with a worker started ahead (`warm`,
    `workers.Worker`) or not."""

    cache: bool = False
    jobs: int | None = 1
    cache_root: Path = DEFAULT_ROOT
    warm: workers.Worker | None = field(default=None, compare=False)

    def store(self) -> SynthCache | None:
        return SynthCache(self.cache_root) if self.cache else None

    def job_count(self) -> int:
        return workers.job_count(self.jobs)


@dataclass(frozen=True)
class StackSummary:
    name: str
    template: Path
    resources: int
    by_type: dict[str, int]
    fingerprint: str | None = None  # of its inputs (synth.fingerprint)
    cached: bool = False  # taken from the synth cache, not built by CDK in this run


def synthesize(
    env: ResolvedEnvironment,
    outdir: Path,
    models: Sequence[str] = (),
    *,
    nag: bool = False,
    progress: Progress | None = None,
    cache: SynthCache | None = None,
    jobs: int = 1,
    warm: workers.Worker | None = None,
) -> list[StackSummary]:
    """Synthesize the environment's stacks (or the named models and their endpoints) into
    ``outdir``; with ``nag`` also run cdk-nag's AwsSolutions pack (findings fail synth).

    With a ``cache``, a stack whose fingerprint (`synth.fingerprint`) is stored is not built
    again; with ``jobs`` above 1, the stacks to build are split over that many worker
    processes (fewer for few stacks: `workers.worker_count`); a ``warm`` worker, started
    while the specs were checked, builds the first part (then or never: it is stopped
    before this returns). Either way the assembly written is the one a single app writes:
    the same bytes, its per-stack metadata aside, whose construct traces name the jsii
    runtime's temporary folder (`synth.pieces`). Where the parts cannot be put together
    faithfully, one app builds everything.

    The folder is checked and created before CDK starts; a failure inside CDK (jsii) is a
    `LlmdeployError` naming it, not a traceback. The Node.js process behind CDK ends with this
    process (jsii stops it at exit)."""
    prepare_output_dir(outdir)
    progress = progress or _quiet
    planned = plan_stacks(env, models)  # an unknown model is refused before CDK starts
    tools = fingerprint.toolchain(nag=nag)
    prints = fingerprint.fingerprints(env, planned, tools)
    stored: dict[str, StackPiece] = {}
    app_piece: AppPiece | None = None
    if cache is not None:
        for p in planned:
            piece = cache.get(p.name, prints[p.name])
            if piece is not None:
                stored[p.name] = piece
        app_piece = cache.get_app(tools) if stored else None
        if app_piece is None:
            stored = {}  # nothing to put them together with: CDK builds everything
    if cache is not None and cache.damaged:
        progress.phase(
            f"{len(cache.damaged)} synth cache entries damaged: removed, their stacks rebuilt"
        )
    to_build = [p for p in planned if p.name not in stored]
    if stored:
        progress.phase(f"{len(stored)} of {len(planned)} stacks unchanged (synth cache)")
    try:
        work = Path(tempfile.mkdtemp(prefix=".llmdeploy-synth-", dir=outdir))
    except OSError as exc:
        raise LlmdeployError(
            f"output folder {outdir}: cannot write there: {exc.strerror or exc}"
        ) from None
    try:
        try:
            written = _assemble(
                env,
                planned,
                to_build,
                stored,
                app_piece,
                work,
                outdir,
                nag,
                jobs,
                progress,
                cache,
                prints,
                tools,
                warm,
            )
        except Unmergeable:
            # Never a doubtful assembly: one app builds everything, as without a cache.
            progress.phase("building every stack in one app")
            folder = work / "all"
            folder.mkdir()
            _built(env, split(planned, planned, 1), folder, outdir, nag, progress, warm)
            _move(folder / "w0", outdir)
            stored, written = {}, None
    finally:
        if warm is not None:
            warm.stop()
        shutil.rmtree(work, ignore_errors=True)
    if cache is not None:
        cache.finish()
    out = []
    for p in planned:
        path = outdir / f"{p.name}.template.json"
        data = written[p.name] if written is not None else path.read_bytes()
        resources = json.loads(data).get("Resources", {})
        by_type: dict[str, int] = {}
        for res in resources.values():
            by_type[res["Type"]] = by_type.get(res["Type"], 0) + 1
        out.append(
            StackSummary(p.name, path, len(resources), by_type, prints[p.name], p.name in stored)
        )
    return out


def _assemble(
    env: ResolvedEnvironment,
    planned: list[PlannedStack],
    to_build: list[PlannedStack],
    stored: dict[str, StackPiece],
    app_piece: AppPiece | None,
    work: Path,
    outdir: Path,
    nag: bool,
    jobs: int,
    progress: Progress,
    cache: SynthCache | None,
    prints: dict[str, str],
    tools: str,
    warm: workers.Worker | None,
) -> dict[str, bytes]:
    """Build what is not stored, then write the assembly to ``outdir``: the templates by
    stack name. Raises `Unmergeable` where the parts cannot be put together."""
    parts = split(planned, to_build, worker_count(jobs, len(to_build))) if to_build else []
    built = _built(env, parts, work, outdir, nag, progress, warm)
    fresh: dict[str, StackPiece] = {}
    for folder, taken in built:
        try:
            app, pieces = harvest(folder, taken)
        except Unmergeable:
            if len(built) == 1 and not stored:
                _move(folder, outdir)  # CDK's own output, as it is; nothing to cache
                return {p.name: (outdir / f"{p.name}.template.json").read_bytes() for p in planned}
            raise
        if app_piece is not None and app != app_piece:
            raise Unmergeable("two apps of one toolchain wrote different app parts")
        app_piece = app
        fresh |= pieces
    if cache is not None and app_piece is not None:
        progress.phase(f"storing {len(fresh)} stacks in the synth cache")
        cache.put_app(tools, app_piece)
        for name, piece in fresh.items():
            cache.put(prints[name], piece)
    if len(built) == 1 and not stored:
        _move(built[0][0], outdir)  # one app built everything: CDK's own files
    else:
        assert app_piece is not None
        progress.phase(f"writing the assembly of {len(planned)} stacks")
        pieces = stored | fresh
        write_files(outdir, assemble(app_piece, [pieces[p.name] for p in planned]))
        return {p.name: pieces[p.name].template for p in planned}
    return {p.name: fresh[p.name].template for p in planned}


def _built(
    env: ResolvedEnvironment,
    parts: list[tuple[list[PlannedStack], list[str]]],
    work: Path,
    outdir: Path,
    nag: bool,
    progress: Progress,
    warm: workers.Worker | None = None,
) -> list[tuple[Path, list[str]]]:
    """Each part built by CDK into ``work``/w<i>: one part in the ``warm`` worker if it is
    free, else in this process; more parts in worker processes. A failure moves what CDK
    wrote (cdk-nag's report) to ``outdir``."""
    if not parts:
        return []
    try:
        if len(parts) == 1 and (warm is None or not warm.free()):
            folder = work / "w0"
            folder.mkdir()
            cdk_synth(env, parts[0][0], folder, nag=nag, shown_outdir=outdir, progress=progress)
            return [(folder, parts[0][1])]
        total = sum(len(taken) for _, taken in parts)
        where = f"{len(parts)} processes" if len(parts) > 1 else "a worker process"
        progress.phase(f"building and synthesizing {total} stacks in {where}")
        return workers.build(env, parts, work, nag=nag, shown_outdir=outdir, warm=warm)
    except LlmdeployError:
        for report in sorted(work.glob("w*/validation-report.json"))[:1]:
            os.replace(report, outdir / report.name)
        raise


def _move(folder: Path, outdir: Path) -> None:
    for path in sorted(folder.iterdir()):
        os.replace(path, outdir / path.name)


def cdk_synth(
    env: ResolvedEnvironment,
    stacks: Sequence[PlannedStack],
    folder: Path,
    *,
    nag: bool,
    shown_outdir: Path,
    progress: Progress | None = None,
) -> None:
    """Build ``stacks`` in one `cdk.App` and synthesize it into ``folder``; errors name
    ``shown_outdir``, where the caller puts what CDK wrote."""
    progress = progress or _quiet
    progress.phase("starting CDK")
    import aws_cdk as cdk

    from llmdeploy.synth.stacks import add_stacks  # before aws_cdk: sets jsii's env

    try:
        # The same context the CDK CLI gives an app (construct paths in each resource's
        # metadata, no CDKMetadata resource per cdk.json), so both write the same templates.
        app = cdk.App(
            # Absolute: the jsii runtime (a Node.js process) keeps the folder it started in.
            outdir=os.path.abspath(folder),
            analytics_reporting=False,
            context=dict(fingerprint.APP_CONTEXT),
            # CDK's built-in CloudFormation validation (a WebAssembly schema checker) only
            # ever warns, and its engine takes 2-3 s to start in every process: most of a
            # one-stack rebuild. cfn-lint checks the templates (CI, tests/synth); --nag, the
            # checking mode, runs it too. The templates are the same either way.
            builtin_cloud_formation_validation=nag,
        )
        progress.phase("building stacks")
        built = add_stacks(app, env, stacks)
        progress.phase(f"synthesizing {len(built)} stacks")
        if nag:
            from cdk_nag import AwsSolutionsChecks

            cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
        app.synth()
    except LlmdeployError:
        raise
    except Exception as exc:  # jsii: RuntimeError, JSIIError, both carrying CDK's message
        if "ValidationFailed" in str(exc):
            raise LlmdeployError(
                f"cdk-nag found unacknowledged findings; see {shown_outdir}/validation-report.json"
            ) from None
        if not _from_cdk(exc):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LlmdeployError(
            f"CDK could not synthesize into {shown_outdir}: {clip(first, 300)} "
            "(LLMDEPLOY_DEBUG=1 shows the traceback)"
        ) from exc


def remove_stale(outdir: Path, written: Sequence[StackSummary]) -> list[Path]:
    """Remove the stack files in ``outdir`` that this run did not write: a stack renamed,
    retired or left out keeps no template behind for `cfn-lint cdk.out/*.template.json` or a
    `cdk deploy` to pick up. Only CDK's per-stack files are touched."""
    keep = {s.template.name.removesuffix(".template.json") for s in written}
    removed = []
    try:
        entries = sorted(outdir.iterdir())
    except OSError:
        return []
    for path in entries:
        suffix = next((x for x in _STACK_FILES if path.name.endswith(x)), None)
        if suffix is None or not path.is_file() or path.name[: -len(suffix)] in keep:
            continue
        try:
            path.unlink()
        except OSError as exc:
            raise LlmdeployError(
                f"cannot remove the stale template {path}: {exc.strerror} (remove it, or give "
                "another --out-dir)"
            ) from exc
        removed.append(path)
    return removed


def _from_cdk(exc: BaseException) -> bool:
    """Whether ``exc`` came from CDK's JavaScript side (through jsii), not from our code."""
    from jsii.errors import JavaScriptError, JSIIError

    return isinstance(exc, JSIIError) or isinstance(exc.__cause__, JavaScriptError)


# Filesystems that hold no files (the kernel's, devices): CDK must never write there. Writing
# to /proc hangs CDK's Node.js process; /sys and /dev fail late or fill memory.
_SPECIAL_FILESYSTEMS = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "proc",
        "pstore",
        "rpc_pipefs",
        "securityfs",
        "sysfs",
        "tracefs",
    }
)
_SPECIAL_ROOTS = ("/proc", "/sys", "/dev")


def check_output_dir(outdir: Path, *, only_assembly: bool = False) -> None:
    """Refuse, with a one-line reason, an output folder CDK could not write a cloud assembly
    to: a file, a dangling link, a folder that is not writable, a special filesystem. Nothing
    is created; `prepare_output_dir` does that. ``only_assembly``: also refuse a folder that
    holds other files than an earlier cloud assembly (a user's -o, not a library caller's)."""
    shown = f"output folder {outdir}"
    if outdir.is_symlink() and not outdir.exists():
        raise LlmdeployError(
            f"{shown}: a symbolic link to {os.readlink(outdir)}, which does not exist "
            "(give a folder, or fix the link)"
        )
    # The folder, or its nearest ancestor that exists: where the first write would land.
    probe = Path(os.path.abspath(outdir))
    while not os.path.lexists(probe):
        probe = probe.parent
    if probe.is_symlink() and not probe.exists():
        raise LlmdeployError(
            f"{shown}: {probe} is a symbolic link to {os.readlink(probe)}, which does not exist"
        )
    real = probe.resolve()
    special = _special_filesystem(real)
    if special:
        raise LlmdeployError(
            f"{shown}: {real} is on {special}, not a place for a cloud assembly "
            "(give a folder of your own, e.g. --out-dir cdk.out)"
        )
    if not real.is_dir():
        what = f"{probe} is" if probe != Path(os.path.abspath(outdir)) else "is"
        raise LlmdeployError(f"{shown}: {what} a file, not a folder (give a folder)")
    if not os.access(real, os.W_OK | os.X_OK):
        raise LlmdeployError(f"{shown}: {real} is not writable (give a folder you can write to)")
    if (
        only_assembly
        and real == Path(os.path.abspath(outdir)).resolve()
        and _foreign_contents(real)
    ):
        # CDK writes manifest.json, tree.json and the templates among whatever is there:
        # into /etc, the spec folder or the repository root if asked.
        raise LlmdeployError(
            f"{shown}: {real} already holds files that are not a cloud assembly (no "
            "manifest.json); give an empty folder or an earlier output folder, e.g. "
            "--out-dir cdk.out"
        )
    try:
        if os.statvfs(real).f_flag & os.ST_RDONLY:
            raise LlmdeployError(f"{shown}: {real} is on a read-only filesystem")
    except OSError:
        pass  # no statvfs: the write in prepare_output_dir tells


def _foreign_contents(folder: Path) -> bool:
    """Whether ``folder`` holds files and is not a cloud assembly CDK wrote before."""
    try:
        with os.scandir(folder) as entries:
            names = {e.name for e in entries}
    except OSError:
        return False  # unreadable: the write in prepare_output_dir tells
    return bool(names) and "manifest.json" not in names


def prepare_output_dir(outdir: Path) -> None:
    """Check ``outdir`` (`check_output_dir`), create it, and make sure a file can be written
    there, before CDK starts."""
    check_output_dir(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=outdir):
            pass
    except OSError as exc:
        raise LlmdeployError(
            f"output folder {outdir}: cannot write there: {exc.strerror or exc}"
        ) from None


def _special_filesystem(path: Path) -> str | None:
    """What special place ``path`` lies on (the proc filesystem, /dev), or None."""
    text = str(path)
    best, kind = "", None
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].encode().decode("unicode_escape")  # \040 is a space
                inside = text == point or text.startswith(point.rstrip("/") + "/")
                if inside and len(point) > len(best):
                    best, kind = point, fields[2]
    except OSError:
        pass  # not Linux: the roots below still hold
    if kind in _SPECIAL_FILESYSTEMS:
        return f"the kernel's {kind} filesystem at {best}"
    for root in _SPECIAL_ROOTS:
        if text == root or text.startswith(root + "/"):
            return f"the system folder {root}"
    return None
