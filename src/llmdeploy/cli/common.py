"""What every command shares: the error boundary and output helpers.

Library imports stay inside the commands so that `llmdeploy --help` starts fast.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PATHS = ("models", "infra")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def plain_output(stream: Any = None) -> bool:
    """No boxes, colour, bold or live displays: not a terminal, or NO_COLOR set (any value but
    empty, https://no-color.org), or TERM=dumb."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return True
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return True


def boundary(fn: F) -> F:
    """Expected failures become a message on stderr and exit code 1 (with ``-o json``, also
    ``{"error": ...}`` on stdout, so a machine reading stdout never gets nothing); bugs still
    crash (with the traceback) so that they get reported. LLMDEPLOY_DEBUG=1 shows tracebacks
    always."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from llmdeploy.errors import LlmdeployError

        try:
            return fn(*args, **kwargs)
        except LlmdeployError as exc:
            if os.environ.get("LLMDEPLOY_DEBUG"):
                raise
            if kwargs.get("output") is OutputFormat.json:
                print(json.dumps({"error": str(exc)}, ensure_ascii=False))
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        finally:
            workers = sys.modules.get("llmdeploy.synth.workers")
            if workers is not None:  # a synth worker started for a synthesis that never came
                workers.stop_all()

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    """``data`` as JSON on stdout. Never invalid JSON: a non-finite number (inf, NaN, which
    json would write as Infinity/NaN) is an error instead of output."""
    from llmdeploy.errors import LlmdeployError

    try:
        text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False)
    except ValueError as exc:
        raise LlmdeployError(
            f"cannot write the report as JSON: {exc} (a value is infinite or not a number)"
        ) from None
    print(text)


def report_spec_error(exc: Any, output: OutputFormat) -> None:
    """Print a SpecError's diagnostics: JSON on stdout, or text on stderr."""
    if output is OutputFormat.json:
        scope = {"environments": [], "models": [], "files": []} | exc.scope
        emit_json({"valid": False, **scope, "diagnostics": [d.to_dict() for d in exc.diagnostics]})
        return
    print(exc.render(), file=sys.stderr)
    errors = sum(d.severity == "error" for d in exc.diagnostics)
    print(f"\n{errors} error(s); nothing is valid until they are fixed.", file=sys.stderr)


PathsArgument = Annotated[
    list[Path] | None,
    # readable=False: an unreadable path is the loader's error (located in its file, with
    # every other problem of the run), not click's one-line usage error.
    typer.Argument(
        help="Spec files or folders (the same as --specs). Default: models/ and infra/.",
        readable=False,
    ),
]
EnvsOption = Annotated[
    list[str] | None,
    typer.Option("--env", "-e", help="This environment only (repeatable). Default: all."),
]
EnvOption = Annotated[str, typer.Option("--env", "-e", help="The environment.")]
SpecsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--specs",
        help="Spec files or folders (repeatable). Default: models/ and infra/.",
        readable=False,
    ),
]
OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="text, or json for machines and CI.")
]
NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Trust nothing stored: build every stack with CDK, neither reading nor writing the "
        "synth cache (.llmdeploy/synth-cache, which reuses a stack's template while its inputs "
        "are the same), and in diff and deploy read every stack back from CloudFormation, even "
        "one the history shows deployed from the same inputs since it last changed.",
    ),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Worker processes that build stacks with CDK, each with its own Node.js. "
        "Default: the CPU count (few stacks use fewer).",
    ),
]


def synth_settings(no_cache: bool, jobs: int | None) -> Any:
    """What --no-cache and --jobs ask of synthesis (an `llmdeploy.synth.assembly.SynthSettings`),
    with a worker process started now (`synth.workers.Worker`) where --jobs allows a
    second process: it readies CDK while the command checks the specs. Call it before the
    checks; `boundary` stops the worker if synthesis never takes it."""
    from llmdeploy.synth import workers  # a light import: the worker starts before the rest

    warm = workers.prestart(jobs)
    from llmdeploy.synth.assembly import SynthSettings

    return SynthSettings(cache=not no_cache, jobs=jobs, warm=warm)


def spec_paths(paths: list[Path] | None, specs: list[Path] | None = None) -> list[Path]:
    """Spec paths as given (`validate` and `plan` also take them as arguments; every command
    takes --specs), or models/ and infra/."""
    given = [*(paths or ()), *(specs or ())]
    return given or [Path(p) for p in DEFAULT_PATHS]


def checked_or_exit(
    paths: list[Path] | None,
    envs: list[str] | tuple[str, ...],
    output: OutputFormat,
    specs: list[Path] | None = None,
):
    """The checked specs; on spec errors, their report and exit 1."""
    from llmdeploy.errors import SpecError
    from llmdeploy.plan import check

    try:
        return check(spec_paths(paths, specs), envs)
    except SpecError as exc:
        report_spec_error(exc, output)
        raise typer.Exit(1) from None
