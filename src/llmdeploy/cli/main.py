"""The `llmdeploy` console script: composes the command modules."""

from __future__ import annotations

from typing import Annotated

import typer

from llmdeploy import __version__
from llmdeploy.cli import deploy, history, plan, schema, synth, validate

app = typer.Typer(
    name="llmdeploy",
    help="LLM deployments on Amazon SageMaker inference components, as code.",
    no_args_is_help=True,
    add_completion=False,
    # boto3 sessions hold credentials: never print local variables in a traceback.
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"llmdeploy {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """LLM deployments on Amazon SageMaker inference components, as code."""


app.command("validate")(validate.validate)
app.command("plan")(plan.plan)
app.command("synth")(synth.synth)
app.command("diff")(deploy.diff)
app.command("deploy")(deploy.deploy)
app.command("rollback")(deploy.rollback)
app.command("retire")(deploy.retire)
app.command("unlock")(deploy.unlock)
app.command("history")(history.history)
app.command("status")(history.status)
app.command("schema")(schema.schema)


def run() -> None:
    app()
