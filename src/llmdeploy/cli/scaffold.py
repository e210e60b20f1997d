"""`llmdeploy init`: start a portfolio repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.common import OutputFormat, OutputOption, boundary, emit_json


@boundary
def init(
    directory: Annotated[
        Path, typer.Argument(help="The folder to create the repository in. Default: here.")
    ] = Path("."),
    env: Annotated[str, typer.Option("--env", "-e", help="The first environment's name.")] = "dev",
    account: Annotated[
        str | None,
        typer.Option(help="Its 12-digit AWS account. Default: 111122223333, a placeholder."),
    ] = None,
    region: Annotated[str, typer.Option(help="Its AWS region.")] = "us-east-1",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into a folder that is not empty (existing files are kept)."
        ),
    ] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Create a portfolio repository: infra/ (one environment), models/ (one example model),
    cdk.json (running `llmdeploy cdk-app`), .gitignore, a CI workflow, JSON Schemas and the
    editor's mapping to them. Never overwrites a file."""
    from llmdeploy import scaffold

    outcomes = scaffold.init(
        directory,
        env=env,
        account=account or scaffold.DEFAULT_ACCOUNT,
        region=region,
        force=force,
    )
    if output is OutputFormat.json:
        emit_json(
            {
                "directory": str(directory),
                "files": [{"path": o.path, "action": o.action} for o in outcomes],
            }
        )
        return
    for o in outcomes:
        print(
            f"{o.action:<8} {o.path}"
            + ("  (exists: not overwritten)" if o.action == "kept" else "")
        )
    where = "" if directory == Path(".") else f"cd {directory} && "
    print("\nnext:")
    if account is None:
        print(f"  set your AWS account in infra/{env}.yaml (it says {scaffold.DEFAULT_ACCOUNT})")
    print(f"  {where}llmdeploy validate && llmdeploy plan")
    print(f"  npm install   # the CDK CLI, for `npx cdk synth -c env={env}`")
