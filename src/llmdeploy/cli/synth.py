"""`llmdeploy synth`: the environment's CDK stacks as a cloud assembly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.common import (
    EnvOption,
    JobsOption,
    NoCacheOption,
    OutputFormat,
    OutputOption,
    SpecsOption,
    boundary,
    checked_or_exit,
    emit_json,
    synth_settings,
)
from llmdeploy.cli.progress import progress_for


@boundary
def synth(
    models: Annotated[
        list[str] | None,
        typer.Argument(help="Only these models (and the endpoints they live on). Default: all."),
    ] = None,
    env: EnvOption = ...,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir",
            "-d",
            help="Where to write the cloud assembly. Templates there that this run did not "
            "write are removed.",
        ),
    ] = Path("cdk.out"),
    specs: SpecsOption = None,
    output: OutputOption = OutputFormat.text,
    nag: Annotated[
        bool, typer.Option("--nag", help="Also run cdk-nag's AwsSolutions checks.")
    ] = False,
    no_cache: NoCacheOption = False,
    jobs: JobsOption = None,
) -> None:
    """Write the CloudFormation templates of an environment (one stack per endpoint and per
    model). Spec errors, and an output folder that cannot take the assembly, stop it before
    CDK starts."""
    from llmdeploy.synth.assembly import check_output_dir, remove_stale, synthesize

    # First: a wrong --out-dir is found without waiting for the checks.
    check_output_dir(out_dir, only_assembly=True)
    settings = synth_settings(no_cache, jobs)  # before the checks: it starts a worker
    checked = checked_or_exit(specs, [env], output)

    (resolved,) = checked.environments
    with progress_for(output, f"synth {env}") as progress:
        summaries = synthesize(
            resolved,
            out_dir,
            models or (),
            nag=nag,
            progress=progress,
            cache=settings.store(),
            jobs=settings.job_count(),
            warm=settings.warm,
        )
    removed = remove_stale(out_dir, summaries)
    if output is OutputFormat.json:
        emit_json(
            {
                "environment": env,
                "out_dir": str(out_dir),
                "stacks": [
                    {
                        "name": s.name,
                        "template": str(s.template),
                        "resources": s.resources,
                        "types": s.by_type,
                        "fingerprint": s.fingerprint,
                        "cached": s.cached,
                    }
                    for s in summaries
                ],
                "removed": [str(p) for p in removed],
            }
        )
        return
    width = max(len(s.name) for s in summaries)
    print(f"{'stack':<{width}}  resources")
    for s in summaries:
        print(f"{s.name:<{width}}  {s.resources:>9}")
    cached = sum(s.cached for s in summaries)
    reused = f" ({cached} unchanged, from the synth cache)" if cached else ""
    print(f"\n{len(summaries)} stack(s) written to {out_dir}/{reused}", file=sys.stderr)
    if removed:
        names = ", ".join(p.name for p in removed[:4]) + (", ..." if len(removed) > 4 else "")
        print(
            f"removed {len(removed)} file(s) of stacks this run did not write: {names}",
            file=sys.stderr,
        )


def cdk_app() -> None:
    """Run as the CDK app of `cdk.json` (`"app": "llmdeploy cdk-app"`): `npx cdk synth -c
    env=dev` then writes the same templates as `llmdeploy synth --env dev`. Context: env
    (required), specs (default models, infra)."""
    from llmdeploy.errors import LlmdeployError, SpecError
    from llmdeploy.synth.app import run

    try:
        run()
    except SpecError as exc:
        print(exc.render(), file=sys.stderr)
        raise typer.Exit(1) from None
    except LlmdeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
