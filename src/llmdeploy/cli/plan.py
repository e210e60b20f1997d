"""`llmdeploy plan`: what every endpoint needs and costs, against dedicated hosting."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmdeploy.cli.common import (
    EnvsOption,
    OutputFormat,
    OutputOption,
    PathsArgument,
    SpecsOption,
    boundary,
    checked_or_exit,
    emit_json,
)
from llmdeploy.cli.plan_report import today_usd
from llmdeploy.errors import LlmdeployError

if TYPE_CHECKING:
    from llmdeploy.plan.migration import BaselineFile, Migration
    from llmdeploy.plan.optimize import Optimized
    from llmdeploy.plan.rewrite import Applied


@boundary
def plan(
    paths: PathsArgument = None,
    specs: SpecsOption = None,
    env: EnvsOption = None,
    suggest: Annotated[
        bool, typer.Option("--suggest", help="Say where the same copies would cost less.")
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="The current hosting (YAML or CSV: model, instanceType, instances, "
            "hoursPerDay): what moving to the plan saves (docs/planning.md).",
        ),
    ] = None,
    optimize: Annotated[
        bool,
        typer.Option(
            "--optimize",
            help="Find the cheapest layout: instance types, copy shapes, pools or dedicated "
            "endpoints, for the expected month (docs/planning.md).",
        ),
    ] = False,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Write the optimized layout into the spec files (implies --optimize; one "
            "environment). The diff is shown first; every rule is checked before writing.",
        ),
    ] = False,
    instance_types: Annotated[
        list[str] | None,
        typer.Option(
            "--instance-types",
            help="With --optimize: only these instance types (patterns like 'ml.g6*'; "
            "repeat or separate with commas). Default: every priced type.",
        ),
    ] = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Capacity and monthly cost of every endpoint, and the ratio to dedicated hosting."""
    from llmdeploy.plan import advice
    from llmdeploy.plan.cost import plan_environment

    checked = checked_or_exit(paths, env or (), output, specs)
    current = _load_baseline(baseline, checked, output) if baseline else None
    optimize = optimize or apply
    types = [t.strip() for value in instance_types or () for t in value.split(",") if t.strip()]
    if types and not optimize:
        raise LlmdeployError("--instance-types chooses what --optimize may use: add --optimize")
    if apply and len(checked.environments) != 1:
        names = ", ".join(e.name for e in checked.environments)
        raise LlmdeployError(
            f"--apply writes one environment's layout into the specs, which hold {names}: "
            "choose it with --env NAME"
        )
    results = []
    migrations: dict[str, Migration] = {}
    layouts: dict[str, Optimized] = {}
    for resolved in checked.environments:
        env_plan = plan_environment(resolved)
        tips = advice.suggest(resolved, env_plan) if suggest else []
        results.append((env_plan, tips))
        if current is not None:
            from llmdeploy.plan import migration

            migrations[resolved.name] = migration.compare(current, resolved, env_plan)
        if optimize:
            from llmdeploy.plan.optimize import check_instance_types
            from llmdeploy.plan.optimize import optimize as find_layout

            check_instance_types(resolved, types)
            layouts[resolved.name] = find_layout(resolved, env_plan, instance_types=types)
    applied = _apply(checked, layouts, output) if apply else None
    if output is OutputFormat.json:
        emit_json(
            {
                "environments": [
                    {
                        **dataclasses.asdict(p),
                        "suggestions": [dataclasses.asdict(s) for s in tips],
                        # null without --baseline
                        "baseline": _asdict(migrations.get(p.name)),
                        # null without --optimize
                        "optimized": _optimized_json(
                            layouts.get(p.name), applied, migrations.get(p.name)
                        ),
                    }
                    for p, tips in results
                ],
                "warnings": [d.to_dict() for d in checked.warnings],
            }
        )
        return
    from rich.console import Console

    from llmdeploy.cli.common import plain_output

    # Pipes and CI logs get room for the widest table instead of rich's 80 columns, so that
    # names are never cut; a terminal wraps (names fold, never shortened).
    wide = None if sys.stdout.isatty() else 240
    plain = plain_output()
    # color_system=None: no colour and no bold either (NO_COLOR, pipes).
    console = Console(
        highlight=False,
        width=wide,
        color_system=None if plain else "auto",
        soft_wrap=wide is not None,  # long lines stay one line in logs
    )
    from llmdeploy.cli import plan_report

    for env_plan, tips in results:
        plan_report.render_plan(console, env_plan, tips if suggest else None, plain=plain)
        if env_plan.name in migrations:
            plan_report.render_baseline(console, migrations[env_plan.name], plain=plain)
        if env_plan.name in layouts:
            today = today_usd(migrations.get(env_plan.name))
            plan_report.render_optimized(
                console, layouts[env_plan.name], applied, today, plain=plain
            )


def _apply(checked, layouts: dict[str, Optimized], output: OutputFormat) -> Applied:
    """Write the one optimized layout into the spec files (`plan.rewrite`): its diff first
    (stderr, so that stdout stays the report); a refusal is rendered like spec errors."""
    from llmdeploy.errors import SpecError
    from llmdeploy.plan import rewrite

    (layout,) = layouts.values()
    change = rewrite.prepare(checked.portfolio, layout)
    if output is OutputFormat.text and change.diff:
        print(change.diff, file=sys.stderr)
    try:
        return rewrite.apply(checked.portfolio, change, layout)
    except SpecError as exc:
        summary = (
            f"the optimized layout breaks {len(exc.diagnostics)} rule(s) in the changed specs; "
            "nothing was written (please report this: the optimizer should not propose it)"
        )
        if output is OutputFormat.json:
            emit_json({"error": summary, "diagnostics": [d.to_dict() for d in exc.diagnostics]})
        print(f"{exc.render()}\n\nerror: {summary}", file=sys.stderr)
        raise typer.Exit(1) from None


def _asdict(value: object) -> dict | None:
    return None if value is None else dataclasses.asdict(value)  # type: ignore[call-overload]


def _load_baseline(path: Path, checked, output: OutputFormat) -> BaselineFile:
    """The --baseline file; on errors, each located (JSON: `error` and `diagnostics`), exit 1."""
    from llmdeploy.errors import SpecError
    from llmdeploy.plan import migration

    try:
        return migration.load(path, checked.portfolio)
    except SpecError as exc:
        errors = len(exc.diagnostics)
        summary = f"{errors} error(s) in the baseline {path}"
        if output is OutputFormat.json:
            emit_json({"error": summary, "diagnostics": [d.to_dict() for d in exc.diagnostics]})
        print(f"{exc.render()}\n\nerror: {summary}", file=sys.stderr)
        raise typer.Exit(1) from None


def _optimized_json(
    layout: Optimized | None, applied: Applied | None, migration: Migration | None = None
) -> dict | None:
    if layout is None:
        return None
    return {
        # --baseline of the whole environment: today's monthly cost (null otherwise)
        "baseline_usd": today_usd(migration),
        **dataclasses.asdict(layout),
        "applied": None if applied is None else dataclasses.asdict(applied),
    }
