"""`llmdeploy history` and `status`: what was deployed, and what runs now."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer

from llmdeploy.cli.common import OutputFormat, boundary, emit_json
from llmdeploy.cli.deploy import EnvOption, SpecsOption, _open
from llmdeploy.errors import printable


@boundary
def history(
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    env: EnvOption = ...,
    specs: SpecsOption = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.text,
) -> None:
    """Every deployment, rollback, retirement and failure on record, oldest first;
    damaged records are named on stderr."""
    from llmdeploy.deploy import service

    scan = service.history(_open(env, specs, output), model)
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
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.text,
) -> None:
    """Live endpoints and inference components, and whether they run what was deployed."""
    from llmdeploy.deploy import service

    state = service.live(_open(env, specs, output))
    if output is OutputFormat.json:
        emit_json(
            {
                "endpoints": [dataclasses.asdict(e) for e in state.endpoints],
                "components": [dataclasses.asdict(c) for c in state.components],
                "orphans": [dataclasses.asdict(o) for o in state.orphans],
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
    if any(c.problems for c in state.components):
        raise typer.Exit(1)
