"""Write the cloud assembly of an environment and summarise it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmdeploy.errors import LlmdeployError
from llmdeploy.plan.resolve import ResolvedEnvironment


@dataclass(frozen=True)
class StackSummary:
    name: str
    template: Path
    resources: int
    by_type: dict[str, int]


def synthesize(
    env: ResolvedEnvironment, outdir: Path, models: Sequence[str] = (), *, nag: bool = False
) -> list[StackSummary]:
    """Synthesize the environment's stacks (or the named models and their endpoints) into
    ``outdir``; with ``nag`` also run cdk-nag's AwsSolutions pack (findings fail synth)."""
    import aws_cdk as cdk

    from llmdeploy.synth.stacks import add_environment  # before aws_cdk: sets jsii's env

    # The same context the CDK CLI gives an app (construct paths in each resource's metadata,
    # no CDKMetadata resource per cdk.json), so both write the same templates.
    app = cdk.App(
        outdir=str(outdir),
        analytics_reporting=False,
        context={"aws:cdk:enable-path-metadata": True},
    )
    stacks = add_environment(app, env, models)
    if nag:
        from cdk_nag import AwsSolutionsChecks

        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    try:
        assembly = app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        raise LlmdeployError(
            f"cdk-nag found unacknowledged findings; see {outdir}/validation-report.json"
        ) from None
    out = []
    for stack in stacks:
        artifact = assembly.get_stack_artifact(stack.artifact_id)
        template = json.loads(Path(artifact.template_full_path).read_text())
        resources = template.get("Resources", {})
        by_type: dict[str, int] = {}
        for res in resources.values():
            by_type[res["Type"]] = by_type.get(res["Type"], 0) + 1
        out.append(
            StackSummary(
                stack.stack_name, Path(artifact.template_full_path), len(resources), by_type
            )
        )
    return out
