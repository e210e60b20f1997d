"""The `llmdeploy` console script: composes the command modules."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from llmdeploy import __version__
from llmdeploy.cli import deploy, history, plan, scaffold, schema, serve, stage, synth, validate
from llmdeploy.cli.common import plain_output

EXIT_CODES = (
    "Exit codes: 0 done (nothing to report); 1 any error: bad input, a spec error, a usage "
    "error (a mistyped option), a failed or refused change, a broken SLO or probe; 2 only "
    "with `diff --exit-code`: something would change; 130 interrupted (Ctrl-C)."
)


# typer vendors click (typer._click) in recent versions: its UsageError, whichever click it
# is, found through the public BadParameter.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _Group(TyperGroup):
    """Usage errors exit 1, not click's 2: `diff --exit-code` gives 2 the meaning "would
    change" (Terraform's convention), so CI must never read a typo as a pending change."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except _UsageError as exc:
            exc.exit_code = 1
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            exc.exit_code = 1
            raise


app = typer.Typer(
    name="llmdeploy",
    cls=_Group,
    help="LLM deployments on Amazon SageMaker inference components, as code.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Boxes and colour only on a terminal without NO_COLOR; plain help and errors elsewhere.
    rich_markup_mode=None if plain_output() else "rich",
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
app.command("init")(scaffold.init)
app.command("cdk-app")(synth.cdk_app)
app.command("stage")(stage.stage)
app.command("invoke")(serve.invoke)
app.command("bench")(serve.bench)
app.command("probe")(serve.probe)


def run() -> None:
    app()
