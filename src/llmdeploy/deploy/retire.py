"""Nothing left billing: the stacks of an environment that no spec produces (orphans), and
retiring a model's stack (and its endpoint's, once nothing is left on it).

A stack is the environment's when its name has the environment's prefix and its
`llmdeploy:environment` tag names the environment; a stack deployed before llmdeploy tagged
stacks counts when the environment's history records it. A stack another environment's
tag claims is never listed, never touched.

Retiring deletes the stack (CloudFormation removes the inference component or endpoint;
the resources our constructs mark RETAIN, such as the KMS key and the log group, stay),
after checking that the model served no request in the last hour (CloudWatch's
`Invocations`), unless forced. Every retirement is recorded in the history with the template
that was deleted, so `history` shows it and the template is not lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from llmdeploy.deploy import actions
from llmdeploy.deploy.actions import StackInfo
from llmdeploy.deploy.aws import AWS_ERRORS, describe
from llmdeploy.deploy.engine import Engine
from llmdeploy.deploy.history import HistoryStore, Record, write_record
from llmdeploy.deploy.kinds import RetireOutcome, coerce
from llmdeploy.errors import LlmdeployError
from llmdeploy.plan.names import Names

IDLE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Orphan:
    stack: str
    kind: str  # model | endpoint
    name: str  # the model's or the endpoint's name, from the stack name
    status: str

    def describe(self) -> str:
        return (
            f"{self.stack}: no spec produces it ({self.kind} '{self.name}', {self.status}); "
            f"`llmdeploy retire {self.name}{' --endpoint' if self.kind == 'endpoint' else ''}` "
            "or `llmdeploy deploy --prune` takes it down"
        )


def orphans(
    cfn: Any,
    names: Names,
    environment: str,
    produced: set[str],
    history: HistoryStore,
    listing: dict[str, StackInfo] | None = None,
) -> list[Orphan]:
    """The environment's stacks that no spec of it produces (among ``listing``, a listing of
    the region's stacks this command made, or a new one)."""
    model_prefix, endpoint_prefix = f"{names.prefix}-model-", f"{names.prefix}-endpoint-"
    candidates = [
        s
        for s in actions.list_stacks(cfn, (model_prefix, endpoint_prefix), listing)
        if s.name not in produced
    ]
    recorded = None
    out = []
    for s in candidates:
        if s.environment is None:  # untagged: ours only if our history says we deployed it
            if recorded is None:
                recorded = {r.stack for r in history.list(environment)}
            if s.name not in recorded:
                continue
        elif s.environment != environment:
            continue
        if s.name.startswith(model_prefix):
            out.append(Orphan(s.name, "model", s.name.removeprefix(model_prefix), s.status))
        else:
            out.append(Orphan(s.name, "endpoint", s.name.removeprefix(endpoint_prefix), s.status))
    return out


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    retained: bool  # DeletionPolicy Retain: stays after the stack goes


@dataclass(frozen=True)
class Survey:
    """What retiring one stack would do."""

    stack: str
    kind: str  # model | dedicated | endpoint
    name: str
    info: StackInfo
    template: dict[str, Any]
    resources: tuple[Resource, ...]
    invocations: float | None  # in the last hour; None: could not be read
    in_spec: bool
    endpoint: str | None = None  # a model's endpoint (SageMaker name)
    blocker: str | None = None  # why it must not go
    forceable: bool = True  # whether --force overrides the blocker


@dataclass(frozen=True)
class Retired:
    stack: str
    outcome: RetireOutcome
    reason: str | None = None

    def __post_init__(self) -> None:
        coerce(self, "outcome", RetireOutcome)


class Retirer:
    """Retires stacks with the engine's connection, history, reporter and confirmation (one
    Ctrl-C stops both)."""

    def __init__(self, engine: Engine, names: Names, *, force: bool = False):
        self.engine = engine
        self.cfn = engine.cfn
        self.names = names
        self.force = force  # retire models in use (never an endpoint with models on it)

    # --- what would go --------------------------------------------------------------------

    def survey(self, stack: str, kind: str, name: str, *, in_spec: bool) -> Survey:
        info = actions.stack_info(self.cfn, stack)
        if info is None:
            raise LlmdeployError(
                f"no stack {stack} in {self.engine.environment}: nothing of {kind} '{name}' "
                "is deployed"
            )
        actions.refuse_foreign(stack, info, self.engine.environment)
        if info.environment is None and not self.engine.history.list(
            self.engine.environment, stack
        ):
            raise actions.StackForeign(
                f"{stack} carries no {actions.ENVIRONMENT_TAG} tag and this environment's "
                "history has no record of it: it may not be llmdeploy's, refusing to delete it"
            )
        if info.status.endswith("_IN_PROGRESS"):
            raise actions.StackBusy(
                f"{stack} is being changed by another operation ({info.status}); wait for it "
                "to finish and try again"
            )
        template = actions.deployed_template(self.cfn, stack) or {}
        resources = tuple(
            Resource(
                logical,
                res.get("Type", "?"),
                res.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"),
            )
            for logical, res in (template.get("Resources") or {}).items()
            if isinstance(res, dict)
        )
        types = {r.type for r in resources}
        if kind == "model" and "AWS::SageMaker::Endpoint" in types:
            kind = "dedicated"
        endpoint = actions.template_property(
            template, "AWS::SageMaker::InferenceComponent", "EndpointName"
        )
        invocations, blocker = self._recent_use(template, kind)
        forceable = True
        if kind == "endpoint":
            components = self._components_on(
                actions.template_property(template, "AWS::SageMaker::Endpoint", "EndpointName")
            )
            if components:
                blocker = (
                    f"{len(components)} inference component(s) still run on it "
                    f"({', '.join(components[:5])}): retire those models first"
                )
                forceable = False
        return Survey(
            stack,
            kind,
            name,
            info,
            template,
            resources,
            invocations,
            in_spec,
            endpoint,
            blocker,
            forceable,
        )

    def _recent_use(self, template: dict[str, Any], kind: str) -> tuple[float | None, str | None]:
        """Invocations in the last hour, and the objection they raise."""
        if kind == "model":
            ic = actions.template_property(
                template, "AWS::SageMaker::InferenceComponent", "InferenceComponentName"
            )
            dims = [{"Name": "InferenceComponentName", "Value": ic}] if ic else None
        else:
            ep = actions.template_property(template, "AWS::SageMaker::Endpoint", "EndpointName")
            variant = {"Name": "VariantName", "Value": _variant(template)}
            dims = [{"Name": "EndpointName", "Value": ep}, variant] if ep else None
        if dims is None:
            return 0.0, None
        now = datetime.now(UTC)
        try:
            points = (
                self.engine.aws.client("cloudwatch")
                .get_metric_statistics(
                    Namespace="AWS/SageMaker",
                    MetricName="Invocations",
                    Dimensions=dims,
                    StartTime=now - IDLE_WINDOW,
                    # A minute past now: the latest datapoint's period is still open.
                    EndTime=now + timedelta(minutes=1),
                    Period=60,
                    Statistics=["Sum"],
                )
                .get("Datapoints", [])
            )
        except AWS_ERRORS as exc:
            return None, (
                f"cannot tell whether it served requests in the last hour (CloudWatch: "
                f"{describe(exc)}); --force retires it anyway"
            )
        total = sum(float(p.get("Sum", 0)) for p in points)
        if total > 0:
            return total, (
                f"it served {total:g} invocation(s) in the last hour: it is in use. Move its "
                "callers first, or --force to retire it anyway"
            )
        return total, None

    def _components_on(self, endpoint: str | None) -> list[str]:
        if not endpoint:
            return []
        try:
            found = self.engine.aws.client("sagemaker").list_inference_components(
                EndpointNameEquals=endpoint
            )["InferenceComponents"]
        except AWS_ERRORS as exc:
            raise LlmdeployError(
                f"cannot list the inference components on {endpoint}: {describe(exc)}"
            ) from exc
        return [c["InferenceComponentName"] for c in found]

    # --- retiring -------------------------------------------------------------------------

    def retire(self, survey: Survey) -> Retired:
        if survey.blocker and not (self.force and survey.forceable):
            # An endpoint with components on it is never forced away: they would go with it.
            return self._done(Retired(survey.stack, "refused", survey.blocker))
        what = f"DELETE {survey.stack} ({survey.kind} '{survey.name}'"
        what += ", still in the spec: the next deploy brings it back)" if survey.in_spec else ")"
        if not self.engine.assume_yes:
            if self.engine.confirm is None:
                return self._done(
                    Retired(survey.stack, "refused", f"{what}; pass --yes to allow it")
                )
            if not self.engine.confirm(f"{what}. Go ahead?"):
                return self._done(Retired(survey.stack, "refused", f"not confirmed: {what}"))
        last = self.engine.last_deployed(survey.stack)
        try:
            ok, reason = actions.delete(
                self.cfn,
                survey.info,
                poll=self.engine.poll,
                stop=self.engine.stopping.is_set,
                on_event=lambda text: self.engine.reporter.event(survey.stack, text),
            )
        except (actions.Interrupted, KeyboardInterrupt):
            # Retiring runs in the command's own thread: Ctrl-C arrives here directly.
            self._record(survey, last, "interrupted", "stopped waiting; CloudFormation carries on")
            raise actions.Interrupted from None
        except LlmdeployError as exc:
            self._record(survey, last, "failed", str(exc))
            return self._done(Retired(survey.stack, "failed", str(exc)))
        except AWS_ERRORS as exc:
            self._record(survey, last, "failed", describe(exc))
            return self._done(Retired(survey.stack, "failed", describe(exc)))
        self._record(survey, last, "succeeded" if ok else "failed", reason)
        return self._done(Retired(survey.stack, "retired" if ok else "failed", reason))

    def _done(self, r: Retired) -> Retired:
        self.engine.reporter.done(r.stack, r.outcome, r.reason)
        return r

    def _record(self, s: Survey, last: Record | None, outcome: str, reason: str | None) -> None:
        engine = self.engine
        rec = Record.new(
            environment=engine.environment,
            stack=s.stack,
            kind="retire",
            outcome=outcome,
            who=engine.who,
            template=json.dumps(s.template, sort_keys=True),
            spec=last.spec if last else {},
            spec_text=last.spec_text if last else "",
            model=s.name if s.kind != "endpoint" else None,
            version=last.version if last else None,
            reason=reason,
        )
        write_record(
            engine.history, engine.pending, rec, lambda text: engine.reporter.event(s.stack, text)
        )

    def endpoint_left_empty(self, survey: Survey, spec_endpoints: set[str]) -> str | None:
        """After a model on a shared endpoint is retired: the endpoint's stack, when no spec
        keeps the endpoint and no component is left on it (retired with it), else None."""
        if survey.kind != "model" or not survey.endpoint:
            return None
        name = survey.endpoint.removeprefix(f"{self.names.prefix}-")
        if name in spec_endpoints:
            return None
        stack = self.names.endpoint_stack(name)
        if actions.stack_info(self.cfn, stack) is None or self._components_on(survey.endpoint):
            return None
        return stack


def _variant(template: dict[str, Any]) -> str:
    for res in (template.get("Resources") or {}).values():
        if isinstance(res, dict) and res.get("Type") == "AWS::SageMaker::EndpointConfig":
            for v in (res.get("Properties") or {}).get("ProductionVariants") or []:
                if isinstance(v, dict) and isinstance(v.get("VariantName"), str):
                    return v["VariantName"]
    return "AllTraffic"
