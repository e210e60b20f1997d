"""`llmdeploy validate`: check specs and report every problem at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.common import OutputFormat, boundary, emit_json, report_spec_error

DEFAULT_PATHS = ("models", "infra")


@boundary
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Spec files or folders. Default: models/ and infra/."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="Check for this environment only (repeatable)."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="text, or json for CI.")
    ] = OutputFormat.text,
    list_rules: Annotated[
        bool, typer.Option("--rules", help="List the rules that are checked and exit.")
    ] = False,
) -> None:
    """Check spec files: types, names, and every rule against the catalog and each other."""
    from llmdeploy.errors import SpecError
    from llmdeploy.plan import check, rules

    if list_rules:
        if output is OutputFormat.json:
            emit_json(rules.summaries())
        else:
            for r in rules.summaries():
                print(f"{r['id']:<36} {r['summary']}")
        return
    targets = list(paths) if paths else [Path(p) for p in DEFAULT_PATHS]
    try:
        checked = check(targets, env or ())
    except SpecError as exc:
        report_spec_error(exc, output)
        raise typer.Exit(1) from None

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
