"""The stacks of an environment: one per shared endpoint, one per model.

A model change touches one small stack, model teams deploy and roll back independently, and
hundreds of models never reach CloudFormation's 500-resource limit. Model stacks name their
endpoint and its execution role directly (stable physical names) and depend on the
endpoint's stack; no CloudFormation exports, which would lock the endpoint stack.

Physical names derive from the environment's stack prefix and the spec names only, never
from a version: bumping a model's version never replaces anything by name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from constructs import Construct

from llmdeploy.constructs import (
    Autoscaling,
    ComponentRollout,
    ContainerImage,
    Counts,
    DedicatedEndpoint,
    EndpointRollout,
    InferenceComponent,
    InferenceComponentAdapter,
    InstanceType,
    LlmEndpoint,
    ModelData,
    RollbackAlarms,
    RolloutStrategy,
    RoutingStrategy,
    ScalingMetric,
    ScheduledScaling,
    _cached,
)
from llmdeploy.constructs.adapter import grant_artifact_read
from llmdeploy.constructs.dashboards import (
    LlmDashboard,
    OverviewEndpoint,
    dedicated_body,
    endpoint_body,
    fit_components,
    overview_body,
)
from llmdeploy.errors import LlmdeployError
from llmdeploy.plan.names import COPY_COUNT_PARAMETER, INSTANCE_COUNT_PARAMETER, Names
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel
from llmdeploy.spec.models import Endpoint, Environment
from llmdeploy.synth.layout import PlannedStack, plan_stacks

# CloudFormation's limit for a template sent in a request (deploy/actions.MAX_TEMPLATE_BODY,
# not imported: synth does not load the deploy engine), and what one dashboard resource adds
# to its body (type, name, construct path in the metadata), generously.
MAX_TEMPLATE_BODY = 51_200
DASHBOARD_RESOURCE_BYTES = 400

_ROUTING = {
    "least-outstanding-requests": RoutingStrategy.LEAST_OUTSTANDING_REQUESTS,
    "random": RoutingStrategy.RANDOM,
}
_ROLLOUT = {
    "canary": RolloutStrategy.CANARY,
    "linear": RolloutStrategy.LINEAR,
    "all-at-once": RolloutStrategy.ALL_AT_ONCE,
}
_METRIC = {
    "concurrent-requests-per-copy": ScalingMetric.CONCURRENT_REQUESTS_PER_COPY,
    "invocations-per-copy": ScalingMetric.INVOCATIONS_PER_COPY,
}


def add_environment(
    app: cdk.App, env: ResolvedEnvironment, models: Sequence[str] = ()
) -> list[cdk.Stack]:
    """Add the environment's stacks to ``app``: every endpoint and model, or only the named
    models and the endpoints they live on (`layout.plan_stacks` chooses)."""
    return add_stacks(app, env, plan_stacks(env, models))


def add_stacks(
    app: cdk.App, env: ResolvedEnvironment, planned: Sequence[PlannedStack]
) -> list[cdk.Stack]:
    """Add exactly the ``planned`` stacks to ``app``, in their order; a model stack depends on
    its endpoint's stack where both are in the app. A subset builds each stack as the whole
    environment does: the synth cache and the parallel synth rely on it (tests/synth/
    test_cache.py compares the bytes)."""
    spec = env.doc.spec
    names = Names(spec.stack_prefix)
    by_name = {m.name: m for m in env.models}
    endpoints = {ep.name: ep for ep in spec.spec.endpoints}
    built: dict[str, cdk.Stack] = {}
    for p in planned:
        if p.kind == "endpoint":
            stack = _endpoint_stack(app, spec, endpoints[p.subject], names)
        elif p.kind == "dedicated":
            stack = _dedicated_stack(app, spec, by_name[p.subject], names)
        elif p.kind == "model":
            stack = _model_stack(app, spec, by_name[p.subject], names, by_name)
            for dependency in p.depends_on:
                if dependency in built:
                    stack.add_stack_dependency(built[dependency])
        elif p.kind == "adapter":
            stack = _adapter_stack(app, spec, by_name[p.subject], names)
            for dependency in p.depends_on:
                if dependency in built:
                    stack.add_stack_dependency(built[dependency])
        elif p.kind == "dashboards":
            stack = _dashboards_stack(app, env, names)
        else:
            raise LlmdeployError(f"stack {p.name}: unknown kind {p.kind!r}")
        built[p.name] = stack
    return list(built.values())


def _stack(
    app: cdk.App,
    spec: Environment,
    name: str,
    description: str,
    tags: tuple[tuple[str, str], ...] = (),
) -> cdk.Stack:
    stack = cdk.Stack(
        app,
        name,
        stack_name=name,
        env=cdk.Environment(account=spec.spec.account, region=spec.spec.region),
        # No file assets: templates deploy through plain change sets, no `cdk bootstrap`.
        synthesizer=cdk.BootstraplessSynthesizer(),
        description=f"llmdeploy: {description}",
    )
    tagger = cdk.Tags.of(stack)  # one jsii round trip for all of the stack's tags
    for key, value in (("llmdeploy:environment", spec.name), *tags):
        tagger.add(key, value)
    return stack


def _security(stack: cdk.Stack, spec: Environment):
    sec = spec.spec.security
    key = (
        kms.Key.from_key_arn(stack, "EnvironmentKey", sec.kms_key_arn) if sec.kms_key_arn else None
    )
    subnets = (
        [
            ec2.Subnet.from_subnet_id(stack, f"Subnet{i}", s)
            for i, s in enumerate(sec.vpc.subnet_ids)
        ]
        if sec.vpc
        else []
    )
    groups = (
        [
            ec2.SecurityGroup.from_security_group_id(stack, f"SecurityGroup{i}", g)
            for i, g in enumerate(sec.vpc.security_group_ids)
        ]
        if sec.vpc
        else []
    )
    return key, subnets, groups


def _endpoint_stack(app: cdk.App, spec: Environment, ep: Endpoint, names: Names) -> cdk.Stack:
    stack = _stack(
        app,
        spec,
        names.endpoint_stack(ep.name),
        f"shared endpoint {ep.name} ({ep.instance_type}) of {spec.name}",
    )
    cdk.Tags.of(stack).add("llmdeploy:endpoint", ep.name)
    key, subnets, groups = _security(stack, spec)
    endpoint = LlmEndpoint(
        stack,
        "Endpoint",
        endpoint_name=names.endpoint(ep.name),
        instance_type=InstanceType.of(ep.instance_type),
        instances=Counts(ep.instances.min, ep.instances.initial, ep.instances.max),
        routing=_ROUTING[ep.routing],
        rollout=EndpointRollout(
            _ROLLOUT[ep.rollout.strategy],
            ep.rollout.traffic_percent,
            _cached.seconds(ep.rollout.wait_seconds),
        ),
        encryption_key=key,
        vpc_subnets=ec2.SubnetSelection(subnets=subnets) if subnets else None,
        security_groups=groups,
        network_isolation=spec.spec.security.network_isolation,
        volume_size_gb=ep.volume_size_gb,
    )
    _instance_count_parameter(endpoint.cfn_endpoint_config, ep.instances)
    _acknowledge_environment(stack, spec)
    return stack


def _model_stack(
    app: cdk.App,
    spec: Environment,
    m: ResolvedModel,
    names: Names,
    models: dict[str, ResolvedModel],
) -> cdk.Stack:
    model = m.spec
    stack = _stack(
        app,
        spec,
        names.model_stack(m.name),
        f"model {m.name} v{model.metadata.version} on {m.endpoint.name} of {spec.name}",
        tags=_model_tags(m),
    )
    endpoint_name = names.endpoint(m.endpoint.name)
    endpoint = LlmEndpoint.from_endpoint_name(stack, "Endpoint", endpoint_name)
    s = model.spec
    _, subnets, groups = _security(stack, spec)
    component = InferenceComponent(
        stack,
        "Model",
        endpoint=endpoint,
        inference_component_name=names.inference_component(m.name),
        image=ContainerImage.from_uri(_image(m)),
        model_data=ModelData(s.source.s3_uri),
        environment=m.environment,
        accelerators=s.resources.accelerators,
        memory_mib=s.resources.memory_mib,
        cpu_cores=s.resources.cpu_cores,
        copies=Counts(s.copies.min, s.copies.initial, s.copies.max),
        autoscaling=_autoscaling(m),
        rollout=ComponentRollout(s.rollout.batch_copies, _cached.seconds(s.rollout.wait_seconds)),
        rollback=_rollback(m, default_error_rate=None),
        startup_timeout=_cached.seconds(startup_timeout(m)),
        network_isolation=spec.spec.security.network_isolation,
        vpc_subnets=ec2.SubnetSelection(subnets=subnets) if subnets else None,
        security_groups=groups,
    )
    copies = _capacity_parameter(
        stack,
        COPY_COUNT_PARAMETER,
        "copies of the inference component",
        s.copies,
        floor=0,
        low=_scheduled_low(m, s.copies.min),
    )
    component.cfn_inference_component.add_property_override("RuntimeConfig.CopyCount", copies)
    for adapter in m.adapters:
        # The base's container loads its adapters, with the base's role (docs/adapters.md).
        grant_artifact_read(component.role, ModelData(models[adapter].model_spec.source.s3_uri))
    _acknowledge_environment(stack, spec)
    return stack


def _adapter_stack(app: cdk.App, spec: Environment, m: ResolvedModel, names: Names) -> cdk.Stack:
    """A LoRA adapter on its base's copies: one inference component naming the base's
    (docs/adapters.md). Its stack depends on the endpoint's and the base's stacks."""
    if m.base is None or m.runs_on is None:  # the rules refuse this before synth
        raise LlmdeployError(f"model {m.name}: adapter of an unknown base")
    model = m.spec
    stack = _stack(
        app,
        spec,
        names.model_stack(m.name),
        f"adapter {m.name} v{model.metadata.version} of {m.base.name} on {m.runs_on.name} "
        f"of {spec.name}",
        tags=_model_tags(m),
    )
    endpoint = LlmEndpoint.from_endpoint_name(stack, "Endpoint", names.endpoint(m.runs_on.name))
    base = InferenceComponent.from_inference_component_name(
        stack, "Base", names.inference_component(m.base.name), endpoint
    )
    InferenceComponentAdapter(
        stack,
        "Model",
        base=base,
        artifact=ModelData(model.spec.source.s3_uri),
        inference_component_name=names.inference_component(m.name),
    )
    _acknowledge_environment(stack, spec)
    return stack


def _dedicated_stack(app: cdk.App, spec: Environment, m: ResolvedModel, names: Names) -> cdk.Stack:
    model = m.spec
    ded = model.spec.dedicated
    stack = _stack(
        app,
        spec,
        names.model_stack(m.name),
        f"model {m.name} v{model.metadata.version} on a dedicated "
        f"{ded.instance_type} endpoint of {spec.name}",
        tags=_model_tags(m),
    )
    key, subnets, groups = _security(stack, spec)
    s = model.spec
    endpoint = DedicatedEndpoint(
        stack,
        "Endpoint",
        endpoint_name=names.endpoint(m.name),
        instance_type=InstanceType.of(ded.instance_type),
        instances=Counts(ded.instances.min, ded.instances.initial, ded.instances.max),
        image=ContainerImage.from_uri(_image(m)),
        model_data=ModelData(s.source.s3_uri),
        environment=m.environment,
        autoscaling=_autoscaling(m),
        # A dedicated endpoint always rolls back on errors: nothing else guards it.
        rollback=_rollback(m, default_error_rate=5),
        startup_timeout=_cached.seconds(startup_timeout(m)),
        encryption_key=key,
        vpc_subnets=ec2.SubnetSelection(subnets=subnets) if subnets else None,
        security_groups=groups,
        network_isolation=spec.spec.security.network_isolation,
    )
    _instance_count_parameter(
        endpoint.cfn_endpoint_config, ded.instances, low=_scheduled_low(m, ded.instances.min)
    )
    _acknowledge_environment(stack, spec)
    return stack


def _dashboards_stack(app: cdk.App, env: ResolvedEnvironment, names: Names) -> cdk.Stack:
    """The environment's dashboards (docs/dashboards.md): one per endpoint, shared or
    dedicated, and an overview. Apart from the endpoint stacks, so that a model added or
    removed changes its own stack and this one, never a stack that holds an endpoint."""
    spec = env.doc.spec
    region = spec.spec.region
    stack = _stack(app, spec, names.dashboards_stack(), f"dashboards of {spec.name}")
    shared = [
        (
            names.endpoint(ep.name),
            [
                names.inference_component(m.name)
                for m in (*env.models_on(ep.name), *env.adapters_on(ep.name))
            ],
        )
        for ep in spec.spec.endpoints
    ]
    dedicated = [m for m in env.models if m.dedicated]
    overview = [
        OverviewEndpoint(names.endpoint(ep.name), dashboard=names.dashboard(ep.name, region))
        for ep in spec.spec.endpoints
    ] + [
        OverviewEndpoint(
            names.endpoint(m.name), dashboard=names.dedicated_dashboard(m.name, region)
        )
        for m in dedicated
    ]
    fixed = [
        (
            names.overview_dashboard(region),
            overview_body(f"{spec.name}: endpoints", region, overview),
        )
    ] + [
        (names.dedicated_dashboard(m.name, region), dedicated_body(names.endpoint(m.name), region))
        for m in dedicated
    ]
    # What the shared endpoints' dashboards may take of the template: the limit, less the
    # fixed dashboards and each dashboard resource's own lines.
    room = (
        MAX_TEMPLATE_BODY
        - sum(len(json.dumps(body)) for _, body in fixed)
        - DASHBOARD_RESOURCE_BYTES * (len(fixed) + len(shared))
    )
    cap = fit_components(shared, region, room)
    for (endpoint_name, components), ep in zip(shared, spec.spec.endpoints, strict=True):
        LlmDashboard(
            stack,
            f"Endpoint-{ep.name}",
            dashboard_name=names.dashboard(ep.name, region),
            body=endpoint_body(endpoint_name, region, components, max_components=cap),
        )
    for m in dedicated:
        LlmDashboard(
            stack,
            f"Dedicated-{m.name}",
            dashboard_name=names.dedicated_dashboard(m.name, region),
            body=dict(fixed)[names.dedicated_dashboard(m.name, region)],
        )
    LlmDashboard(
        stack,
        "Overview",
        dashboard_name=names.overview_dashboard(region),
        body=fixed[0][1],
    )
    return stack


def _scheduled_low(m: ResolvedModel, low: int) -> int:
    """The fewest copies (a dedicated endpoint: instances) the model may run at some hour:
    its spec's min, or lower where a scheduled action allows it (docs/scheduling.md)."""
    autoscaling = m.model_spec.autoscaling
    schedule = autoscaling.schedule if autoscaling is not None else ()
    return min([low, *(action.min for action in schedule)])


def _capacity_parameter(
    stack: cdk.Stack, name: str, what: str, counts, *, floor: int, low: int | None = None
):
    """A Number parameter defaulting to the spec's initial, bounded by its range: the deploy
    engine passes what runs there (clamped), CloudFormation refuses anything outside.

    ``low`` lowers the range's bottom below ``counts.min`` where a schedule lets the model go
    lower: a deploy at night then keeps the copies the night's action left (zero), rather
    than raising them to the spec's min and waking the model until the next action."""
    return cdk.CfnParameter(
        stack,
        name,
        type="Number",
        default=max(floor, counts.initial),
        min_value=max(floor, counts.min if low is None else low),
        max_value=max(floor, counts.max),
        description=f"The {what} to deploy with: llmdeploy passes the running count "
        "(clamped into the range); the default is the spec's initial.",
    ).value_as_number


def _instance_count_parameter(config, counts, *, low: int | None = None) -> None:
    # SageMaker's InitialInstanceCount is at least 1 (botocore: ProductionVariant), even where
    # managed instance scaling may take the variant to zero.
    count = _capacity_parameter(
        cdk.Stack.of(config), INSTANCE_COUNT_PARAMETER, "instances", counts, floor=1, low=low
    )
    config.add_property_override("ProductionVariants.0.InitialInstanceCount", count)


def _model_tags(m: ResolvedModel) -> tuple[tuple[str, str], ...]:
    meta = m.spec.metadata
    return (
        ("llmdeploy:model", meta.name),
        ("llmdeploy:version", str(meta.version)),
        ("llmdeploy:owner", meta.owner),
    )


def _image(m: ResolvedModel) -> str:
    if m.image is None:  # the rules refuse this before synth; guard against misuse
        raise LlmdeployError(f"model {m.name}: no container image resolved")
    return m.image


def _autoscaling(m: ResolvedModel) -> Autoscaling | None:
    a = m.model_spec.autoscaling
    if a is None:
        return None
    return Autoscaling(
        target=a.target,
        metric=_METRIC[a.metric],
        scale_in_cooldown=_cached.seconds(a.scale_in_cooldown_seconds),
        scale_out_cooldown=_cached.seconds(a.scale_out_cooldown_seconds),
        schedule=tuple(
            ScheduledScaling(s.cron, s.min, s.max, timezone=s.timezone, name=s.name)
            for s in a.schedule
        ),
    )


def _rollback(m: ResolvedModel, *, default_error_rate: float | None) -> RollbackAlarms:
    on = m.model_spec.rollout.rollback_on
    error_rate = on.error_rate_percent if on.error_rate_percent is not None else default_error_rate
    latency = on.p95_latency_ms
    return RollbackAlarms(error_rate, _cached.millis(latency) if latency is not None else None)


def startup_timeout(m: ResolvedModel) -> int:
    """Seconds for the weights download and for the first health check, each: the catalog's
    one rule (`engines.startup_timeout_seconds`), which LMI's loading timeout matches."""
    return m.startup_timeout_seconds


def _acknowledge_environment(scope: Construct, spec: Environment) -> None:
    """Findings that follow from the environment's own choices, acknowledged with the reason
    (the constructs acknowledge their own intended wildcards; cdk-nag's AwsSolutions pack runs
    on every stack in the tests and fails them on anything else)."""
    security = spec.spec.security
    if security.vpc is None:
        reason = (
            "The environment sets no spec.security.vpc; its containers run with network "
            "isolation instead (no network access at all)."
            if security.network_isolation
            else "The environment sets no spec.security.vpc and turns network isolation off "
            "(networkIsolation: false, e.g. to download weights from the Hugging Face Hub): "
            "its containers reach the internet through SageMaker's own network."
        )
        cdk.Validations.of(scope).acknowledge(
            cdk.Acknowledgment(id="AwsSolutions-SM1", reason=reason)
        )
