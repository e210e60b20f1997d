"""`llmdeploy diff`, `deploy` and `rollback`: changes to an environment, through
CloudFormation change sets."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from typing import Annotated

import typer

from llmdeploy.cli.common import (
    EnvOption,
    JobsOption,
    NoCacheOption,
    OutputFormat,
    OutputOption,
    SpecsOption,
    boundary,
    emit_json,
    report_spec_error,
    spec_paths,
    synth_settings,
)

LockTimeoutOption = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        min=0,
        help="Seconds to wait for another deploy, rollback or retire of the environment "
        "to finish. Default: do not wait.",
    ),
]
ModelsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Only these models (and their endpoints). Default: everything."),
]


def _open(
    env: str,
    specs,
    output: OutputFormat,
    *,
    interactive: bool = False,
    progress: bool = False,
    **kw,
):
    """Check specs, connect. ``interactive``: the command shows progress (a live display on
    a terminal) and may ask before destructive changes; ``progress``: a read-only command
    (diff) shows progress too, on stderr."""
    from llmdeploy.deploy import service
    from llmdeploy.deploy.report import PlainReporter, reporter_for_terminal
    from llmdeploy.errors import SpecError

    kw.setdefault("flush_pending", interactive)  # the commands that change things
    if output is OutputFormat.json:
        reporter = PlainReporter(sys.stderr)
    elif not interactive:  # diff: progress only, off stdout (the report's place)
        reporter = reporter_for_terminal(sys.stderr) if progress else PlainReporter(sys.stderr)
    else:
        reporter = reporter_for_terminal()
        if sys.stdin.isatty():

            def confirm(question: str) -> bool:
                with reporter.suspended():  # the question must not fight the live display
                    return typer.confirm(question, default=False)

            kw["confirm"] = confirm
    try:
        return service.open_environment(spec_paths(specs), env, reporter, **kw)
    except SpecError as exc:
        reporter.close()
        report_spec_error(exc, output)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def _interruptible(ctx):
    """Ctrl-C stops waiting (the engine records what was under way); the display is always
    put away, so the terminal is left as it was."""
    from llmdeploy.deploy.actions import Interrupted

    try:
        yield
    except Interrupted:
        ctx.engine.reporter.close()
        print(
            "interrupted: stopped waiting; CloudFormation finishes (or rolls back) on its "
            "own. The history records what was under way.",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    finally:
        ctx.engine.reporter.close()


@boundary
def diff(
    models: ModelsArgument = None,
    env: EnvOption = ...,
    specs: SpecsOption = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 2 when something would change.")
    ] = False,
    no_cache: NoCacheOption = False,
    jobs: JobsOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """What a deploy would change: fields (old → new) and resources (from change sets)."""
    from llmdeploy.deploy import service

    ctx = _open(env, specs, output, progress=True, synth=synth_settings(no_cache, jobs))
    try:
        diffs = service.diff(ctx, models or ())
    finally:
        ctx.engine.reporter.close()  # the live display goes before the report is printed
    orphans = service.find_orphans(ctx)
    changed = [d for d in diffs if d.status != "unchanged"]
    if output is OutputFormat.json:
        emit_json(
            {
                "environment": env,
                "stacks": [
                    dataclasses.asdict(d) | {"replaces_endpoint": d.replaces_endpoint}
                    for d in diffs
                ],
                "orphans": [dataclasses.asdict(o) for o in orphans],
            }
        )
    else:
        for d in diffs:
            _print_diff(d)
        _print_orphans(orphans)
        print(f"\n{len(changed)} of {len(diffs)} stack(s) would change.")
    if exit_code and changed:
        raise typer.Exit(2)


def _print_diff(d) -> None:
    if d.status == "unchanged":
        print(f"  {d.stack}: unchanged")
        for w in d.warnings:
            print(f"    warning: {w}")
        return
    version = ""
    if d.version_new is not None:
        version = (
            f" (version {d.version_old} → {d.version_new})"
            if d.version_old is not None
            else f" (version {d.version_new})"
        )
    print(f"{'+' if d.status == 'new' else '~'} {d.stack}: {d.status}{version}")
    if d.fields:
        for f in d.fields:
            print(f"    {f.path}: {_show(f.old)} → {_show(f.new)}")
    for w in d.warnings:
        print(f"    warning: {w}")
    for c in d.capacity:
        print(f"    {c}")
    if d.replaces_endpoint:
        print(
            "    !!! THE ENDPOINT WOULD BE REPLACED: every model on it goes down while it "
            "is recreated"
        )
    for c in d.resources:
        mark = {"Add": "+", "Remove": "-", "Modify": "~"}.get(c.action, "?")
        replace = " REPLACE" if c.replacement in ("True", "Conditional") else ""
        print(f"    {mark} {c.logical_id} ({c.resource_type}){replace}")


def _print_serving(check) -> None:
    from llmdeploy.errors import printable

    if check.smoke is not None and check.smoke.ok:
        ttft = "—" if check.smoke.ttft_ms is None else f"{check.smoke.ttft_ms:.0f} ms"
        # The model's words are untrusted text: no terminal control characters.
        print(printable(f"{check.model}: answers, TTFT {ttft}: {check.smoke.first_words!r}"))
    if check.slo is not None:
        print(f"{check.model}: SLO " + ("met" if check.slo.passed else "BROKEN"))


def _print_orphans(orphans) -> None:
    for o in orphans:
        print(f"- {o.describe()}")


def _show(value) -> str:
    import json

    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


@boundary
def deploy(
    models: ModelsArgument = None,
    env: EnvOption = ...,
    specs: SpecsOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Replace or remove resources without asking.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Stacks deployed at once.", min=1)] = 4,
    verify: Annotated[
        bool, typer.Option(help="Check afterwards that SageMaker runs what was deployed.")
    ] = True,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Then retire every stack of the environment that no spec produces "
            "(as `retire` does: asks unless --yes, refuses models in use unless --force).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --prune: retire models that are in use.")
    ] = False,
    smoke: Annotated[
        bool,
        typer.Option(
            help="With --verify: send one request to each deployed model and report its time "
            "to first token and first words (a failed request fails the deploy)."
        ),
    ] = True,
    slo_check: Annotated[
        bool,
        typer.Option(
            "--slo-check",
            help="Then a short bench of each deployed model with an SLO, at its concurrency: "
            "a broken SLO fails the deploy (nothing is rolled back by it).",
        ),
    ] = False,
    lock_timeout: LockTimeoutOption = 0,
    no_cache: NoCacheOption = False,
    jobs: JobsOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Deploy the environment (or some models): endpoints first, unchanged stacks skipped,
    running copies and instances kept; then check that SageMaker runs it and each deployed
    model answers."""
    from llmdeploy.deploy import service
    from llmdeploy.errors import LlmdeployError

    if prune and (models or any(p.is_file() for p in specs or ())):
        # Orphans are the stacks no *given* spec produces: with some models or some files,
        # every other model of the environment would look like one.
        raise LlmdeployError(
            "--prune retires every stack no spec produces, so it needs every spec: give the "
            "spec folders (default models/ and infra/), not some models or single files"
        )

    ctx = _open(
        env,
        specs,
        output,
        assume_yes=yes,
        concurrency=concurrency,
        interactive=True,
        lock_timeout=lock_timeout,
        force=force,
        synth=synth_settings(no_cache, jobs),
    )
    with _interruptible(ctx):
        results, retired = service.deploy(ctx, models or (), prune=prune)
    problems = service.verify(ctx, results) if verify else []
    checks = []
    if verify and not problems and (smoke or slo_check):
        from llmdeploy.serve.verify import after_deploy, deployed_models

        # CloudFormation reported the update done, so SageMaker's own rollback window (the
        # alarms it watches while the new copies bake) is over: what answers now stays.
        checks = after_deploy(
            ctx.env, deployed_models(ctx.env, results), smoke=smoke, slo_check=slo_check
        )
        problems += [p for c in checks for p in c.problems]
    orphans = [] if prune else service.find_orphans(ctx)
    if output is OutputFormat.json:
        emit_json(
            {
                "environment": env,
                "stacks": [dataclasses.asdict(r) for r in results],
                "retired": [dataclasses.asdict(r) for r in retired],
                "orphans": [dataclasses.asdict(o) for o in orphans],
                "serving": [c.to_dict() for c in checks],
                "problems": problems,
            }
        )
    else:
        counts: dict[str, int] = {}
        for r in [*results, *retired]:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        print(", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
        for c in checks:
            _print_serving(c)
        _print_orphans(orphans)
        for p in problems:
            print(f"problem: {p}", file=sys.stderr)
    if (
        problems
        or any(r.outcome in ("failed", "refused", "skipped") for r in results)
        or any(r.outcome != "retired" for r in retired)
    ):
        raise typer.Exit(1)


@boundary
def rollback(
    model: Annotated[str, typer.Argument(help="The model to roll back.")],
    env: EnvOption = ...,
    to: Annotated[int | None, typer.Option("--to", help="The version to go back to.")] = None,
    specs: SpecsOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Make every change without asking.")
    ] = False,
    lock_timeout: LockTimeoutOption = 0,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Redeploy the recorded template of the version before the one that runs (or the
    given one), once checked against what llmdeploy builds from its spec, with the copies
    that run now; every change is shown and asked about (or --yes)."""
    from llmdeploy.deploy import service

    ctx = _open(env, specs, output, assume_yes=yes, interactive=True, lock_timeout=lock_timeout)
    with _interruptible(ctx):
        result, record = service.rollback(ctx, model, to)
    if output is OutputFormat.json:
        emit_json(
            {
                "stack": result.stack,
                "outcome": result.outcome,
                "reason": result.reason,
                "version": record.version,
                "from_record": record.id,
            }
        )
    else:
        print(
            f"{model}: {result.outcome} to version {record.version} "
            f"(deployed {record.when} by {record.who})"
            + (f" — {result.reason}" if result.reason else "")
        )
    if result.outcome not in ("rolled back", "unchanged"):
        raise typer.Exit(1)


@boundary
def retire(
    name: Annotated[str, typer.Argument(help="The model (or with --endpoint, the endpoint).")],
    env: EnvOption = ...,
    endpoint: Annotated[
        bool, typer.Option("--endpoint", help="NAME is a shared endpoint, not a model.")
    ] = False,
    specs: SpecsOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Retire even if it served requests in the last hour."),
    ] = False,
    lock_timeout: LockTimeoutOption = 0,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Take a model down: delete its stack (and its endpoint's, when no spec keeps the
    endpoint and no model is left on it), recorded in the history."""
    from llmdeploy.deploy import service

    ctx = _open(
        env,
        specs,
        output,
        assume_yes=yes,
        interactive=True,
        lock_timeout=lock_timeout,
        force=force,
    )
    with _interruptible(ctx):
        retired = service.retire(ctx, name, endpoint=endpoint)
    if output is OutputFormat.json:
        emit_json({"environment": env, "retired": [dataclasses.asdict(r) for r in retired]})
    else:
        for r in retired:
            print(f"{r.stack}: {r.outcome}" + (f" — {r.reason}" if r.reason else ""))
    if any(r.outcome != "retired" for r in retired):
        raise typer.Exit(1)


@boundary
def unlock(
    env: EnvOption = ...,
    specs: SpecsOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Break it without asking.")] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Break the environment's deploy lock, left by a run that died. Only when no deploy,
    rollback or retire of the environment is running: the lock is what keeps two apart."""
    from llmdeploy.deploy import service

    ctx = _open(env, specs, output)
    held = ctx.history.read_lock(env)

    def report(broken: bool) -> None:
        if output is OutputFormat.json:
            emit_json(
                {
                    "environment": env,
                    "locked": held is not None and not broken,
                    "broken": broken,
                    "lock": dataclasses.asdict(held) if held else None,
                }
            )

    if held is None:
        report(False)
        if output is OutputFormat.text:
            print(f"environment '{env}' is not locked")
        return
    what = f"environment '{env}' is locked: {held.describe()}"
    if not yes:
        if not sys.stdin.isatty():
            report(False)
            print(f"{what}; not broken: pass --yes to break it", file=sys.stderr)
            raise typer.Exit(1)
        if not typer.confirm(f"{what}. Break the lock?", default=False):
            report(False)
            print("not broken", file=sys.stderr)
            raise typer.Exit(1)
    service.unlock(ctx)
    report(True)
    if output is OutputFormat.text:
        print(f"lock broken ({held.describe()})")
