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
    kind: str  # endpoint | model | dedicated | adapter | dashboards
    subject: str  # the endpoint's or the model's name (the environment's, for dashboards)
    # Stacks deployed before it: a model's endpoint stack; an adapter's, then its base's.
    depends_on: tuple[str, ...] = ()


def plan_stacks(env: ResolvedEnvironment, models: Sequence[str] = ()) -> list[PlannedStack]:
    """Every endpoint and model of the environment and its dashboards, or only the named
    models and the endpoints they live on (and a named adapter's base): endpoints first (in
    the environment's order), then the models (in the portfolio's), the adapters, then the
    dashboards."""
    known = {m.name for m in env.models}
    unknown = [m for m in models if m not in known]
    if unknown:
        raise LlmdeployError(
            f"no model {', '.join(map(repr, unknown))} in environment '{env.name}' "
            f"(models: {', '.join(sorted(known))})"
        )
    chosen = [m for m in env.models if not models or m.name in models]
    if models:
        # An adapter's base goes with it: the base's stack grants the base's role read
        # access to its adapters' weights (docs/adapters.md).
        wanted_names = {m.name for m in chosen} | {
            m.base.name for m in chosen if m.adapter and m.base is not None
        }
        chosen = [m for m in env.models if m.name in wanted_names]
    # Adapters after every model: CDK adds a stack dependency only on a stack built before.
    chosen = [m for m in chosen if not m.adapter] + [m for m in chosen if m.adapter]
    spec = env.doc.spec
    names = Names(spec.stack_prefix)
    wanted = {m.runs_on.name for m in chosen if m.runs_on} if models else None
    out = [
        PlannedStack(names.endpoint_stack(ep.name), "endpoint", ep.name)
        for ep in spec.spec.endpoints
        if wanted is None or ep.name in wanted
    ]
    for m in chosen:
        if m.dedicated:
            out.append(PlannedStack(names.model_stack(m.name), "dedicated", m.name))
        elif m.adapter:
            # A linked adapter only: the rules refuse one without a base before synth.
            endpoint = m.runs_on.name if m.runs_on else ""
            base = m.model_spec.adapter_of or ""
            out.append(
                PlannedStack(
                    names.model_stack(m.name),
                    "adapter",
                    m.name,
                    (names.endpoint_stack(endpoint), names.model_stack(base)),
                )
            )
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


def built_from(env: ResolvedEnvironment, stacks: Sequence[PlannedStack]) -> ResolvedEnvironment:
    """The part of ``env`` that ``stacks`` are built from (what a synth worker is sent): the
    environment file and the models of the stacks, with each adapter's base and each base's
    adapters, since a base's stack grants its role read on its adapters' weights and an
    adapter's stack names its base. Dashboards, or a kind this does not know, read every
    model: then the whole environment. Linking the part's adapters again gives each model
    what it has in ``env`` (tests/synth/test_workers.py checks it, and the bytes)."""
    if any(p.kind not in ("endpoint", "model", "dedicated", "adapter") for p in stacks):
        return env
    by_name = {m.name: m for m in env.models}
    names = {p.subject for p in stacks if p.kind != "endpoint"}
    names |= {by_name[n].base.name for n in names if by_name[n].base is not None}
    names |= {a for n in names for a in by_name[n].adapters}
    return ResolvedEnvironment(env.doc, tuple(m for m in env.models if m.name in names))
