"""Live capacity: what autoscaling set is kept across deploys and rollbacks.

A template carries an inference component's copy count (`RuntimeConfig.CopyCount`) and an
endpoint variant's instance count (`InitialInstanceCount`), and CloudFormation writes them
back on every update of the resource: a version bump during peak would cut a model from the
copies autoscaling added to its spec's `initial` (docs/day-two.md). So every template
llmdeploy synthesizes declares them as stack parameters (`CopyCount`, `InstanceCount`), with
the spec's initial as default and the spec's range as MinValue/MaxValue. Before a change
set, the engine reads what runs and passes it, clamped into that range; a new stack (or one
whose component or endpoint is gone) starts at the default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from llmdeploy.deploy import actions
from llmdeploy.deploy.aws import AWS_ERRORS, describe
from llmdeploy.errors import LlmdeployError
from llmdeploy.plan.names import COPY_COUNT_PARAMETER, INSTANCE_COUNT_PARAMETER

_WHAT = {COPY_COUNT_PARAMETER: "copies", INSTANCE_COUNT_PARAMETER: "instances"}


@dataclass(frozen=True)
class Kept:
    """One capacity parameter of a deployment: what runs, and what is passed."""

    parameter: str  # CopyCount | InstanceCount
    running: int | None  # None: nothing runs yet
    value: int  # passed to CloudFormation
    initial: int  # the spec's initial (the parameter's default)
    low: int
    high: int

    @property
    def what(self) -> str:
        return _WHAT.get(self.parameter, self.parameter)

    def describe(self) -> str:
        if self.running is None:
            return f"{self.what}: none running, starts at the spec's initial {self.initial}"
        if self.running == self.value:
            return f"{self.what}: {self.running} running, kept; spec initial {self.initial}"
        bound = "min" if self.value == self.low else "max"
        return (
            f"{self.what}: {self.running} running, set to {self.value} (the spec's {bound}); "
            f"spec initial {self.initial}"
        )

    def as_parameter(self) -> dict[str, str]:
        return {"ParameterKey": self.parameter, "ParameterValue": str(self.value)}


def parameters_of(template: str | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The capacity parameters a template declares (older templates have none)."""
    doc = json.loads(template) if isinstance(template, str) else template
    params = doc.get("Parameters") if isinstance(doc, dict) else None
    if not isinstance(params, dict):
        return {}
    return {k: v for k, v in params.items() if k in _WHAT and isinstance(v, dict)}


def plan(aws: Any, template: str, *, exists: bool) -> list[Kept]:
    """The capacity to deploy ``template`` with: what runs, clamped into the template's
    range, or the default where nothing runs (``exists`` False: a new stack)."""
    doc = json.loads(template)
    out = []
    for name, param in parameters_of(doc).items():
        try:
            initial = int(param.get("Default", 1))
            low = int(param.get("MinValue", initial))
            high = int(param.get("MaxValue", initial))
        except (TypeError, ValueError):
            raise LlmdeployError(
                f"the template's {name} parameter is not a whole-number range: "
                f"{json.dumps(param)[:120]}"
            ) from None
        running = _running(aws, name, doc) if exists else None
        value = initial if running is None else min(high, max(low, running))
        out.append(Kept(name, running, value, initial, low, high))
    return out


def _running(aws: Any, parameter: str, doc: dict[str, Any]) -> int | None:
    sm = aws.client("sagemaker")
    try:
        if parameter == COPY_COUNT_PARAMETER:
            name = actions.template_property(
                doc, "AWS::SageMaker::InferenceComponent", "InferenceComponentName"
            )
            if name is None:
                return None
            d = sm.describe_inference_component(InferenceComponentName=name)
            runtime = d.get("RuntimeConfig") or {}
            # Desired, not current: a scale-out under way is what autoscaling decided.
            count = runtime.get("DesiredCopyCount", runtime.get("CurrentCopyCount"))
            return None if count is None else int(count)
        name = actions.template_property(doc, "AWS::SageMaker::Endpoint", "EndpointName")
        if name is None:
            return None
        d = sm.describe_endpoint(EndpointName=name)
        variants = d.get("ProductionVariants") or []
        if not variants:
            return None
        v = variants[0]
        count = v.get("DesiredInstanceCount", v.get("CurrentInstanceCount"))
        return None if count is None else int(count)
    except ClientError as exc:
        text = describe(exc)
        if "Could not find" in text or "does not exist" in text:
            return None  # gone: it is created again at the default
        raise LlmdeployError(
            f"cannot read the running {_WHAT[parameter]} (needed to keep them): {text}"
        ) from exc
    except AWS_ERRORS as exc:
        raise LlmdeployError(
            f"cannot read the running {_WHAT[parameter]} (needed to keep them): {describe(exc)}"
        ) from exc
