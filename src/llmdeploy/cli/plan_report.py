"""How `llmdeploy plan`'s results read on a terminal: the endpoints, the comparison with
dedicated hosting, the migration baseline and the optimized layout. Pure rendering of the
library's results (`plan.cost`, `plan.migration`, `plan.optimize`); the command builds them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from llmdeploy.plan.advice import Suggestion
    from llmdeploy.plan.cost import EnvironmentPlan
    from llmdeploy.plan.migration import Migration
    from llmdeploy.plan.optimize import Optimized
    from llmdeploy.plan.rewrite import Applied


def render_plan(
    console: Console, p: EnvironmentPlan, tips: list[Suggestion] | None, *, plain: bool = False
) -> None:
    def table():
        return _table(plain)

    console.print(f"\n[bold]Environment {p.name}[/bold]  (on-demand prices, 730 h/month)")
    for e in p.endpoints:
        price = f"${e.hourly_usd:,.2f}/h" if e.hourly_usd is not None else "price unknown"
        kind = "dedicated endpoint" if e.dedicated else "shared endpoint"
        shape = " / ".join(str(e.instances[k]) for k in ("min", "initial", "max"))
        console.print(
            f"\n[bold]{e.name}[/bold]  {kind} · {e.instance_type} · {price} · "
            f"instances min/initial/max {shape}"
        )
        models = table()
        for col in (
            "model",
            "one copy needs",
            "copies min/init/max",
            "weights/device",
            "KV cache left/device",
        ):
            models.add_column(
                col,
                justify="left" if col in ("model", "one copy needs") else "right",
                # Names are never shortened: folded onto a second line on a narrow terminal.
                no_wrap=col == "model",
                overflow="fold",
            )
        for m in e.models:
            need = (
                f"{_devices(m.demand.devices, e.instance_type)} · "
                f"{m.demand.memory_mib / 1024:.0f} GiB · "
                f"{m.demand.cpu_cores:g} CPU"
                if m.demand
                else "whole instances"
            )
            copies = " / ".join(str(m.copies[k]) for k in ("min", "initial", "max"))
            models.add_row(
                m.name,
                need,
                copies if m.demand else "—",
                _gib(m.weights_gib_per_device),
                _gib(m.kv_cache_gib_per_device),
            )
            for adapter in m.adapters:
                # On the base's copies: no devices, memory or copies of its own.
                models.add_row(f"  {adapter}", f"LoRA adapter of {m.name}: 0 devices", "—")
        console.print(models)
        points = table()
        for col in ("at", "copies", "instances needed", "running", "fits max", "monthly"):
            points.add_column(col, justify="left" if col == "at" else "right")
        for name, pt in e.points.items():
            points.add_row(
                f"{name} copies",
                str(pt.copies),
                _needed(pt.needed, pt.optimal),
                str(pt.running),
                "yes" if pt.holds else "[red]NO[/red]",
                _usd(pt.monthly_usd),
            )
        x = e.expected
        if x is not None:
            # The week as the traffic profiles lay it out: its states weighted by their hours.
            points.add_row(
                "expected week",
                f"{x.states} state{'s' if x.states != 1 else ''}",
                "—",
                f"{x.average_instances:.1f} avg, {x.peak_instances} peak",
                "yes" if x.holds else "[red]NO[/red]",
                _usd(x.monthly_usd),
            )
        u = e.update
        if u is not None and u.model is not None:
            # A rolling update brings a batch of new copies up before the old ones go.
            points.add_row(
                "min + update",
                str(u.copies),
                _needed(u.needed, u.optimal),
                "—",
                "yes" if u.holds else "[red]NO[/red]",
                "—",
            )
        console.print(points)
        if u is not None and u.model is not None and u.needed is not None:
            copies = f"{u.batch_copies} cop{'y' if u.batch_copies == 1 else 'ies'}"
            console.print(
                f"  update headroom: min copies + {u.model}'s batch ({copies}) need "
                f"{u.needed} of instances.max {e.instances['max']}: "
                + (f"{u.headroom} spare" if u.holds else "[red]the update cannot start[/red]")
            )

    known = " / ".join(_usd(p.monthly_usd_known[k]) for k in ("min", "initial", "max"))
    expected = _usd(p.monthly_usd_known["expected"])
    if p.unknown_prices:
        console.print(
            f"[bold]Total[/bold] at min / initial / max copies: unknown, of which the priced "
            f"endpoints cost {known} per month ({expected} expected)\n  prices unknown for: "
            f"{', '.join(p.unknown_prices)} (set spec.pricing in the environment)"
        )
    else:
        console.print(
            f"[bold]Total[/bold] at min / initial / max copies: {known} per month; "
            f"expected from the traffic profiles: {expected}"
        )
    console.print(
        "[bold]Shared endpoints vs each model on dedicated instances[/bold] "
        "(the old way: cheapest priced type, never at zero)"
    )
    ratios = table()
    for col in ("at", "shared", "dedicated", "dedicated ÷ shared"):
        ratios.add_column(col, justify="left" if col == "at" else "right")
    for k in ("min", "initial", "max", "expected"):
        r = p.ratio[k]
        shown = (
            f"{r:.2f}×"
            if r is not None
            else ("∞ (shared costs nothing)" if p.comparable_dedicated_usd[k] else "—")
        )
        ratios.add_row(
            f"{k} copies" if k != "expected" else "expected",
            _usd(p.comparable_shared_usd[k]),
            _usd(p.comparable_dedicated_usd[k]),
            shown,
        )
    console.print(ratios)
    for reason in p.excluded:
        console.print(f"  left out of the comparison: {reason}")
    if tips is not None:
        console.print(
            "[bold]Suggestions[/bold]" if tips else "No suggestions: nothing cheaper found."
        )
        for s in tips:
            console.print(f"  {'-' if plain else '•'} {s.endpoint}: {s.message}")


def render_baseline(console: Console, m: Migration, *, plain: bool = False) -> None:
    """What moving from the baseline to this environment's plan saves."""

    def table():
        return _table(plain)

    points = list(m.compared_plan_usd)
    console.print(
        f"\n[bold]Migration from the baseline[/bold] {m.file} → environment {m.environment} "
        "(on-demand, 730 h/month; the baseline for its hoursPerDay)"
    )
    if not m.models:
        console.print(
            "  no model of the baseline is planned in this environment"
            if m.not_in_environment
            else f"  the baseline lists no model for environment {m.environment}"
        )
    else:
        rows = table()
        for col in ("model", "today", "monthly today", "on the plan", f"plan {' / '.join(points)}"):
            rows.add_column(col, justify="right" if "monthly" in col or "plan " in col else "left")
        for x in m.models:
            hours = f"{x.hours_per_day:g} h/day"
            rows.add_row(
                x.model,
                f"{x.baseline_instances} × {x.baseline_instance_type} · {hours}",
                _usd(x.baseline_monthly_usd),
                f"{x.endpoint} ({'dedicated' if x.dedicated else 'shared'})",
                " / ".join(_usd(x.plan_monthly_usd[p]) for p in points)
                + ("" if x.compared else " (left out)"),
            )
        console.print(rows)
        today = f"{_usd(m.baseline_monthly_usd)} per month ({len(m.models)} models)"
        if m.unknown_prices:
            today += f"; no price for {', '.join(m.unknown_prices)} (set spec.pricing), the "
            today += f"priced entries cost {_usd(m.baseline_monthly_usd_known)}"
        console.print(f"[bold]Baseline[/bold] today: {today}")
    if m.compared:
        planned = len(m.compared) + len(m.excluded) + len(m.not_in_baseline)
        scope = (
            "the whole environment"
            if m.whole_environment
            else f"{len(m.compared)} of {planned} models, on both sides"
        )
        console.print(f"[bold]Moving to the plan[/bold] ({scope}):")
        saving = table()
        for col in ("at", "baseline", "plan", "saving", "baseline ÷ plan"):
            saving.add_column(col, justify="left" if col == "at" else "right")
        for p in points:
            r = m.ratio[p]
            saving.add_row(
                f"{p} copies" if p in ("min", "initial", "max") else p,  # expected: a profile
                _usd(m.compared_baseline_usd),
                _usd(m.compared_plan_usd[p]),
                _usd(m.saving_usd[p]),
                f"{r:.2f}×" if r is not None else "∞ (the plan costs nothing)",
            )
        console.print(saving)
    elif m.models:
        console.print("  nothing to compare: no model has a price on both sides")
    for reason in m.excluded:
        console.print(f"  left out of both sides: {reason}")
    if m.not_in_baseline:
        console.print(
            f"  not in the baseline (new: left out of both sides): {', '.join(m.not_in_baseline)}"
        )
    if m.not_in_environment:
        console.print(f"  not planned in {m.environment}: {', '.join(m.not_in_environment)}")
    if m.split_endpoints:
        console.print(
            f"  plan side: shared with models not compared: {', '.join(m.split_endpoints)}; "
            f"{m.attribution}"
        )


def today_usd(m: Migration | None) -> float | None:
    """Today's hosting (--baseline) of the whole environment, where it is known: what the
    optimized layout compares with. A partial baseline compares model by model instead."""
    if m is None or not m.whole_environment:
        return None
    return m.baseline_monthly_usd


def render_optimized(
    console: Console,
    o: Optimized,
    applied: Applied | None,
    today: float | None = None,
    *,
    plain: bool = False,
) -> None:
    bullet = "-" if plain else "•"
    console.print(
        f"\n[bold]Optimized layout for {o.environment}[/bold] (expected month from the "
        f"traffic profiles; found in {o.seconds:.1f} s)"
    )
    for pool in o.pools:
        shape = " / ".join(str(pool.instances[k]) for k in ("min", "initial", "max"))
        what = "new shared endpoint" if pool.new else "shared endpoint"
        resized = ""
        if pool.changes:
            old = pool.changes[0].old
            resized = f" (now {' / '.join(str(old[k]) for k in ('min', 'initial', 'max'))})"
        console.print(
            f"  {bullet} {what} {pool.name}: {pool.instance_type}, instances min/initial/max "
            f"{shape}{resized}; {len(pool.models)} model(s): {', '.join(pool.models)}"
        )
    for p in o.placements:
        if p.kind == "dedicated":
            assert p.instances is not None
            shape = " / ".join(str(p.instances[k]) for k in ("min", "initial", "max"))
            console.print(
                f"  {bullet} dedicated endpoint {p.model}: {p.instance_type}, instances "
                f"min/initial/max {shape}, {p.accelerators} per replica"
            )
    for name in o.removed_endpoints:
        console.print(
            f"  {bullet} endpoint {name} is left without models: removed from the spec "
            "(`llmdeploy retire` takes its stack down after the next deploy)"
        )
    for reason in o.kept:
        console.print(f"  {bullet} kept as it is: {reason}")
    moved = o.moved
    if moved:
        console.print(f"[bold]Spec changes[/bold] ({len(moved)} model(s)):")
        for p in moved:
            said = "; ".join(f"{c.path}: {_value(c.old)} → {_value(c.new)}" for c in p.changes)
            console.print(f"  {p.model}: {said}")
    else:
        console.print("No model moves: the specs already have the cheapest layout found.")
    table = _table(plain)
    for col in ("monthly", "min copies", "initial copies", "max copies", "expected"):
        table.add_column(col, justify="left" if col == "monthly" else "right")
    for label, costs in (
        ("current layout", o.current_usd),
        ("each model dedicated", o.dedicated_usd),
        ("optimized", o.monthly_usd),
    ):
        table.add_row(label, *(_usd(costs[k]) for k in ("min", "initial", "max", "expected")))
    if today is not None:
        table.add_row("today (--baseline)", *([_usd(today)] * 4))
    console.print(table)
    if today:
        console.print(
            f"  moving from today's hosting to the optimized layout: {_usd(today)} → "
            f"{_usd(o.monthly_usd['expected'])} a month expected "
            f"({today / o.monthly_usd['expected']:.2f}× cheaper)"
            if o.monthly_usd["expected"]
            else ""
        )
    if o.current_unknown_prices:
        console.print(
            f"  current layout: prices unknown for {', '.join(o.current_unknown_prices)} "
            "(set spec.pricing to compare); the optimizer uses priced types only"
        )
    gap = "unknown (no bound)" if o.gap_percent is None else f"{max(o.gap_percent, 0):.2f}%"
    # The integer program stops within 0.5% of its bound (`proven`) or at its node budget;
    # either way its dual bound holds for every layout over these choices.
    how = "the integer program's bound" + ("" if o.proven else ", its search cut by the budget")
    console.print(
        f"  lower bound (expected): {_usd(o.lower_bound_usd)} ({how}); the layout is within "
        f"{gap} of it"
    )
    for note in o.notes:
        console.print(f"  note: {note}")
    if applied is not None:
        shown = ", ".join(applied.files[:10]) + (", ..." if len(applied.files) > 10 else "")
        console.print(
            f"Applied: {len(applied.files)} file(s) written: {shown}"
            if applied.files
            else "Applied: nothing to change."
        )
    elif moved or o.removed_endpoints or any(p.new or p.changes for p in o.pools):
        console.print(
            f"Write it into the specs with `llmdeploy plan --env {o.environment} --optimize "
            "--apply` (the diff is shown first)."
        )


def _value(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.0f}"


def _needed(needed: int | None, optimal: bool) -> str:
    if needed is None:
        return "no fit"
    return f"{needed}" + ("" if optimal else " (heuristic)")


def _gib(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} GiB"


def _devices(count: int, instance_type: str) -> str:
    """`1 GPU`, `2 GPUs`, `2 NeuronCores`: the unit inference components reserve."""
    from llmdeploy.catalog import instances

    inst = instances.get(instance_type)
    word = inst.device_word if inst else "accelerators"
    return f"{count} {word[:-1] if count == 1 else word}"


def _table(plain: bool) -> Table:
    """A table with no box characters at all when plain; a rule under the header on a
    terminal."""
    from rich import box
    from rich.table import Table

    return Table(box=None if plain else box.SIMPLE_HEAD, pad_edge=False)
