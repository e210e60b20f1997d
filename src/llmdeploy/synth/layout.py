"""Which stacks an environment produces, in the order CDK builds them, without importing CDK:
the synth cache fingerprints them and the parallel synth splits them before any jsii runtime
starts (`import aws_cdk` costs seconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmdeploy.errors import LlmdeployError
from llmdeploy.plan.names import Names
from llmdeploy.plan.resolve import ResolvedEnvironment


@dataclass(frozen=True)
class PlannedStack:
    """One stack of an environment, before CDK builds it."""

    name: str
    kind: str  # endpoint | model | dedicated | dashboards
    subject: str  # the endpoint's or the model's name (the environment's, for dashboards)
    depends_on: tuple[str, ...] = ()  # stacks deployed before it (a model's endpoint stack)


def plan_stacks(env: ResolvedEnvironment, models: Sequence[str] = ()) -> list[PlannedStack]:
    """Every endpoint and model of the environment and its dashboards, or only the named
    models and the endpoints they live on: endpoints first (in the environment's order), then
    the models (in the portfolio's), then the dashboards."""
    known = {m.name for m in env.models}
    unknown = [m for m in models if m not in known]
    if unknown:
        raise LlmdeployError(
            f"no model {', '.join(map(repr, unknown))} in environment '{env.name}' "
            f"(models: {', '.join(sorted(known))})"
        )
    chosen = [m for m in env.models if not models or m.name in models]
    spec = env.doc.spec
    names = Names(spec.stack_prefix)
    wanted = {m.endpoint.name for m in chosen if m.endpoint} if models else None
    out = [
        PlannedStack(names.endpoint_stack(ep.name), "endpoint", ep.name)
        for ep in spec.spec.endpoints
        if wanted is None or ep.name in wanted
    ]
    for m in chosen:
        if m.dedicated:
            out.append(PlannedStack(names.model_stack(m.name), "dedicated", m.name))
        else:
            # A model whose endpoint is unknown never gets here: the rules refuse it first.
            endpoint = m.endpoint.name if m.endpoint else ""
            out.append(
                PlannedStack(
                    names.model_stack(m.name), "model", m.name, (names.endpoint_stack(endpoint),)
                )
            )
    if not models:
        # Only with the whole environment: `deploy <model>` touches what it did before, and
        # the next full deploy (or diff) brings the dashboards up to date.
        out.append(PlannedStack(names.dashboards_stack(), "dashboards", env.name))
    return out
