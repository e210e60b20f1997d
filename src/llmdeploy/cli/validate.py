"""`llmdeploy validate`: check specs and report every problem at once."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

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
    report_spec_error,
)


@boundary
def validate(
    paths: PathsArgument = None,
    specs: SpecsOption = None,
    env: EnvsOption = None,
    output: OutputOption = OutputFormat.text,
    list_rules: Annotated[
        bool, typer.Option("--rules", help="List the rules that are checked and exit.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Warnings are errors too: any finding exits 1 (for CI)."),
    ] = False,
) -> None:
    """Check spec files: types, names, and every rule against the catalog and each other."""
    from llmdeploy.plan import rules

    if list_rules:
        if output is OutputFormat.json:
            emit_json(rules.summaries())
        else:
            for r in rules.summaries():
                print(f"{r['id']:<36} {r['summary']}")
        return
    checked = checked_or_exit(paths, env or (), output, specs)
    if strict and checked.warnings:
        from llmdeploy.errors import SpecError

        promoted = [dataclasses.replace(d, severity="error") for d in checked.warnings]
        report_spec_error(SpecError(promoted), output)
        if output is OutputFormat.text:
            print(f"(--strict: {len(promoted)} warning(s) counted as errors)", file=sys.stderr)
        raise typer.Exit(1)
    envs = [e.name for e in checked.environments]
    models = sorted({m.spec.name for e in checked.environments for m in e.models})
    if output is OutputFormat.json:
        emit_json(
            {
                "valid": True,
                "environments": envs,
                "models": models,
                "files": checked.portfolio.files,
                "diagnostics": [d.to_dict() for d in checked.warnings],
            }
        )
        return
    for d in checked.warnings:
        print(d.render(), file=sys.stderr)
    print(
        f"valid: {len(models)} model(s) in {len(envs)} environment(s) ({', '.join(envs)}), "
        f"{len(checked.portfolio.files)} file(s), {len(checked.warnings)} warning(s)"
    )
