"""After a deploy: does each deployed model answer? One smoke request per model (its time to
first token and first words), and on request a short bench judged against its SLO.

`deploy` calls `after_deploy` with its stack results; the command only renders what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from llmdeploy.plan import ResolvedEnvironment
from llmdeploy.plan.names import Names
from llmdeploy.serve import bench
from llmdeploy.serve.runtime import InvokeError, Runtime, target_in


@dataclass
class ModelCheck:
    model: str
    smoke: bench.Smoke | None = None
    slo: bench.SloCheck | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "smoke": None if self.smoke is None else self.smoke.to_dict(),
            "slo": None
            if self.slo is None
            else {
                "passed": self.slo.passed,
                "level": self.slo.level.to_dict(),
                "breaches": [b.to_dict() for b in self.slo.breaches],
            },
            "problems": self.problems,
        }


def deployed_models(env: ResolvedEnvironment, results: Sequence) -> list[str]:
    """The models whose stacks ``results`` (deploy's StackResults) deployed or rolled back."""
    names = Names(env.doc.spec.stack_prefix)
    done = {r.stack for r in results if r.outcome in ("deployed", "rolled back")}
    return [m.name for m in env.models if names.model_stack(m.name) in done]


def after_deploy(
    env: ResolvedEnvironment,
    models: Sequence[str],
    *,
    smoke: bool = True,
    slo_check: bool = False,
    slo_requests: int | None = None,
) -> list[ModelCheck]:
    """Per model: a smoke request (an error or an empty answer is a problem); with
    ``slo_check``, a short bench at its SLO's concurrency (a breach is a problem; a model
    without an SLO is skipped)."""
    out = []
    for name in models:
        check = ModelCheck(name)
        out.append(check)
        target = target_in(env, name)
        runtime = Runtime(target, pool=(target.slo.at_concurrency if target.slo else 1) + 4)
        if smoke:
            try:
                check.smoke = bench.smoke(runtime)
            except InvokeError as exc:
                check.problems.append(f"{name}: smoke request failed: {exc}")
                continue
            if not check.smoke.ok:
                check.problems.append(f"{name}: smoke request got an empty answer")
                continue
        if slo_check and target.slo is not None:
            runtime = Runtime(target, pool=target.slo.at_concurrency + 4, retries=False)
            check.slo = bench.slo_check(runtime, target.slo, requests=slo_requests)
            check.problems += [f"{name}: SLO broken: {b.message}" for b in check.slo.breaches]
    return out
