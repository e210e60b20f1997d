"""`llmdeploy synth`: the environment's CDK stacks as a cloud assembly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.common import OutputFormat, boundary, checked_or_exit, emit_json


@boundary
def synth(
    models: Annotated[
        list[str] | None,
        typer.Argument(help="Only these models (and the endpoints they live on). Default: all."),
    ] = None,
    env: Annotated[str, typer.Option("--env", "-e", help="The environment to synthesize.")] = ...,
    outdir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where to write the cloud assembly.")
    ] = Path("cdk.out"),
    specs: Annotated[
        list[Path] | None,
        typer.Option("--specs", help="Spec files or folders. Default: models/ and infra/."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text, or json for machines.")
    ] = OutputFormat.text,
    nag: Annotated[
        bool, typer.Option("--nag", help="Also run cdk-nag's AwsSolutions checks.")
    ] = False,
) -> None:
    """Write the CloudFormation templates of an environment (one stack per endpoint and per
    model). Spec errors, and an output folder that cannot take the assembly, stop it before
    CDK starts."""
    from llmdeploy.synth.assembly import check_output_dir, synthesize

    # First: a wrong -o is found without waiting for the checks.
    check_output_dir(outdir, only_assembly=True)
    checked = checked_or_exit(specs, [env], output)

    (resolved,) = checked.environments
    summaries = synthesize(resolved, outdir, models or (), nag=nag)
    if output is OutputFormat.json:
        emit_json(
            {
                "environment": env,
                "outdir": str(outdir),
                "stacks": [
                    {
                        "name": s.name,
                        "template": str(s.template),
                        "resources": s.resources,
                        "types": s.by_type,
                    }
                    for s in summaries
                ],
            }
        )
        return
    width = max(len(s.name) for s in summaries)
    print(f"{'stack':<{width}}  resources")
    for s in summaries:
        print(f"{s.name:<{width}}  {s.resources:>9}")
    print(f"\n{len(summaries)} stack(s) written to {outdir}/", file=sys.stderr)


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
