"""`llmdeploy history` and `status`: what was deployed, and what runs now."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer

from llmdeploy.cli.common import (
    EnvOption,
    OutputFormat,
    OutputOption,
    SpecsOption,
    boundary,
    emit_json,
    report_spec_error,
    spec_paths,
)
from llmdeploy.cli.deploy import _open
from llmdeploy.errors import printable


@boundary
def history(
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    env: EnvOption = ...,
    specs: SpecsOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Every deployment, rollback, retirement and failure on record, oldest first;
    damaged records are named on stderr. A local history needs no AWS credentials."""
    from llmdeploy.deploy import service

    scan = service.history(_records(env, specs, output), model)
    records = scan.records
    for problem in scan.damaged:
        print(f"warning: {printable(problem)}", file=sys.stderr)
    if output is OutputFormat.json:
        emit_json(
            [
                {
                    k: v
                    for k, v in dataclasses.asdict(r).items()
                    if k not in ("template", "spec_text")
                }
                for r in records
            ]
        )
        return
    if not records:
        print("no deployments on record" + (f" for {model}" if model else ""))
        return
    for r in records:
        version = f"v{r.version}" if r.version is not None else "-"
        line = f"{r.when}  {r.kind:<8} {r.outcome:<11} {r.stack:<40} {version:<5} {r.who}" + (
            f"  ({r.reason})" if r.reason else ""
        )
        print(printable(line))  # records are files others can write: no terminal control


@boundary
def status(
    env: EnvOption = ...,
    specs: SpecsOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Live endpoints and inference components, and whether they run what was deployed;
    the stacks the specs produce and what the history says was last deployed. Without AWS
    credentials, only the latter (from a local history)."""
    from llmdeploy.deploy import service
    from llmdeploy.deploy.aws import NoCredentials
    from llmdeploy.deploy.status import dashboards

    try:
        ctx = _open(env, specs, output)
    except NoCredentials as exc:
        records = _records(env, specs, output)
        _offline_status(service.on_record(records), dashboards(records.env), str(exc), output)
        return
    state = service.live(ctx)
    stacks = service.on_record(ctx)
    if output is OutputFormat.json:
        emit_json(
            {
                "live": True,
                "stacks": [dataclasses.asdict(s) for s in stacks],
                "endpoints": [dataclasses.asdict(e) for e in state.endpoints],
                "components": [dataclasses.asdict(c) for c in state.components],
                "orphans": [dataclasses.asdict(o) for o in state.orphans],
                "dashboards": [dataclasses.asdict(d) for d in dashboards(ctx.env)],
            }
        )
    else:
        for e in state.endpoints:
            counts = (
                ""
                if e.instances_current is None
                else f"  instances {e.instances_current}/{e.instances_desired}"
            )
            print(
                f"{e.name:<45} {e.status:<10}{counts}" + (f"  ({e.failure})" if e.failure else "")
            )
        for c in state.components:
            copies = (
                ""
                if c.copies_current is None
                else f"  copies {c.copies_current}/{c.copies_desired}"
            )
            print(f"  {c.name:<43} {c.status:<10}{copies}")
            for p in c.problems:
                print(f"    problem: {p}")
        for o in state.orphans:
            print(f"orphan: {o.describe()}")
        for d in dashboards(ctx.env):
            print(f"dashboard: {d.name}  {d.url}")
        print()
        _print_on_record(stacks)
    if any(c.problems for c in state.components):
        raise typer.Exit(1)


def _records(env: str, specs, output: OutputFormat):
    """The specs and the history store, without the AWS account check."""
    from llmdeploy.deploy import service
    from llmdeploy.errors import SpecError

    try:
        return service.open_records(spec_paths(specs), env)
    except SpecError as exc:
        report_spec_error(exc, output)
        raise typer.Exit(1) from None


def _offline_status(stacks, boards, reason: str, output: OutputFormat) -> None:
    if output is OutputFormat.json:
        emit_json(
            {
                "live": False,
                "live_unavailable": reason,
                "stacks": [dataclasses.asdict(s) for s in stacks],
                "endpoints": [],
                "components": [],
                "orphans": [],
                "dashboards": [dataclasses.asdict(d) for d in boards],
            }
        )
        return
    print(f"live state unavailable: {reason}", file=sys.stderr)
    _print_on_record(stacks)
    for d in boards:
        print(f"dashboard: {d.name}  {d.url}")


def _print_on_record(stacks) -> None:
    width = max((len(s.stack) for s in stacks), default=5)
    print(f"{'stack':<{width}}  {'spec':<5}  last deployed")
    for s in stacks:
        spec = f"v{s.version}" if s.version is not None else "-"
        if s.deployed_when is None:
            last = "never (on record)"
        else:
            version = f"v{s.deployed_version} " if s.deployed_version is not None else ""
            last = f"{version}{s.deployed_when} by {s.deployed_by}"
        print(printable(f"{s.stack:<{width}}  {spec:<5}  {last}"))
