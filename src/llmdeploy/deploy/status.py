"""Live state of an environment's endpoints and inference components, read from SageMaker,
a check that what runs is what was deployed, and where its dashboards are.

SageMaker can roll an update back by itself (an inference component's rolling update stops
on its alarms): CloudFormation may then report success while the old model runs. So after a
deployment, and in `llmdeploy status`, each inference component's live specification and
copy counts are compared with the template on record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from llmdeploy.deploy.aws import describe
from llmdeploy.plan.names import Names
from llmdeploy.plan.resolve import ResolvedEnvironment


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: str  # InService | Creating | Updating | Failed | ... | missing
    instances_current: int | None = None
    instances_desired: int | None = None
    failure: str | None = None


@dataclass(frozen=True)
class ComponentState:
    name: str
    endpoint: str
    status: str
    copies_desired: int | None = None
    copies_current: int | None = None
    problems: tuple[str, ...] = field(default=())


def endpoint_state(sm: Any, name: str) -> EndpointState:
    try:
        d = sm.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if "Could not find" in describe(exc) or "ValidationException" in describe(exc):
            return EndpointState(name, "missing")
        raise
    variants = d.get("ProductionVariants") or []
    current = sum(v.get("CurrentInstanceCount", 0) for v in variants) if variants else None
    desired = sum(v.get("DesiredInstanceCount", 0) for v in variants) if variants else None
    return EndpointState(
        name, d.get("EndpointStatus", "?"), current, desired, d.get("FailureReason")
    )


def component_state(
    sm: Any,
    name: str,
    endpoint: str,
    template: dict[str, Any] | None,
    model_name: str | None = None,
) -> ComponentState:
    """``model_name``: the SageMaker Model the deployed stack made, where it made one."""
    try:
        d = sm.describe_inference_component(InferenceComponentName=name)
    except ClientError as exc:
        if "Could not find" in describe(exc) or "ValidationException" in describe(exc):
            return ComponentState(name, endpoint, "missing", problems=("not found on SageMaker",))
        raise
    runtime = d.get("RuntimeConfig", {})
    problems = list(verify(d, template)) if template else []
    live_model = d.get("Specification", {}).get("ModelName")
    if model_name and live_model and live_model != model_name:
        problems.append(
            f"runs model {live_model}, deployed {model_name} (rolled back by SageMaker?)"
        )
    if d.get("InferenceComponentStatus") == "Failed":
        problems.insert(0, f"failed: {d.get('FailureReason', 'no reason given')}")
    return ComponentState(
        name,
        endpoint,
        d.get("InferenceComponentStatus", "?"),
        runtime.get("DesiredCopyCount"),
        runtime.get("CurrentCopyCount"),
        tuple(problems),
    )


def _component_resource(template: dict[str, Any]) -> dict[str, Any] | None:
    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::SageMaker::InferenceComponent":
            return res.get("Properties", {})
    return None


def _scaling_bounds(template: dict[str, Any]) -> tuple[int, int] | None:
    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::ApplicationAutoScaling::ScalableTarget":
            p = res.get("Properties") or {}
            low, high = p.get("MinCapacity"), p.get("MaxCapacity")
            if isinstance(low, int) and isinstance(high, int):
                return low, high
            return None
    return None


def verify(live: dict[str, Any], template: dict[str, Any]) -> list[str]:
    """How the live inference component differs from the deployed template."""
    want = _component_resource(template)
    if want is None:
        return []
    problems = []
    have_spec = live.get("Specification", {})
    want_spec = want.get("Specification", {})
    want_compute = want_spec.get("ComputeResourceRequirements", {})
    have_compute = have_spec.get("ComputeResourceRequirements", {})
    for key, value in want_compute.items():
        if key in have_compute and float(have_compute[key]) != float(value):
            problems.append(f"{key} is {have_compute[key]}, deployed {value}")
    container = want_spec.get("Container") or {}
    live_container = have_spec.get("Container") or {}
    live_image = (live_container.get("DeployedImage") or {}).get(
        "SpecifiedImage"
    ) or live_container.get("Image")
    if container.get("Image") and live_image and live_image != container["Image"]:
        problems.append(
            f"runs image {live_image}, deployed {container['Image']} (rolled back by SageMaker?)"
        )
    env_want = container.get("Environment")
    env_have = live_container.get("Environment")
    if env_want is not None and env_have is not None and env_want != env_have:
        changed = sorted(
            k for k in set(env_want) | set(env_have) if env_want.get(k) != env_have.get(k)
        )
        problems.append(
            f"environment differs from the deployed one ({', '.join(changed)}) "
            "(rolled back by SageMaker?)"
        )
    desired = live.get("RuntimeConfig", {}).get("DesiredCopyCount")
    bounds = _scaling_bounds(template)
    if desired is not None:
        if bounds and not bounds[0] <= desired <= bounds[1]:
            problems.append(f"{desired} copies, outside the deployed range {bounds[0]}-{bounds[1]}")
        if bounds is None:
            want_copies = want.get("RuntimeConfig", {}).get("CopyCount")
            if isinstance(want_copies, dict):  # a capacity parameter: its range is the bound
                param = (template.get("Parameters") or {}).get(want_copies.get("Ref"), {})
                low, high = param.get("MinValue"), param.get("MaxValue")
                if low is not None and high is not None and not low <= desired <= high:
                    problems.append(f"{desired} copies, outside the deployed range {low}-{high}")
            elif want_copies is not None and desired != want_copies:
                problems.append(f"{desired} copies, deployed {want_copies}")
    return problems


@dataclass(frozen=True)
class Dashboard:
    """A CloudWatch dashboard of the environment (docs/dashboards.md), named from the specs:
    it exists once the environment's dashboards stack is deployed."""

    name: str
    shows: str  # overview | endpoint | dedicated
    endpoint: str | None  # the SageMaker endpoint it shows (None: the overview)
    url: str


def dashboard_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{name}"
    )


def dashboards(env: ResolvedEnvironment) -> list[Dashboard]:
    """The environment's dashboards: the overview, then one per endpoint (shared, then
    dedicated), as `synth.stacks` names them."""
    spec = env.doc.spec
    names, region = Names(spec.stack_prefix), spec.spec.region
    rows = [(names.overview_dashboard(region), "overview", None)]
    rows += [
        (names.dashboard(ep.name, region), "endpoint", names.endpoint(ep.name))
        for ep in spec.spec.endpoints
    ]
    rows += [
        (names.dedicated_dashboard(m.name, region), "dedicated", names.endpoint(m.name))
        for m in env.models
        if m.dedicated
    ]
    return [Dashboard(name, shows, ep, dashboard_url(region, name)) for name, shows, ep in rows]
