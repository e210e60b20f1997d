"""What every construct of this package stands on: the interfaces (`IEndpoint`,
`IInferenceEndpoint`, `IDedicatedEndpoint`, `IInferenceComponent`), the one endpoint base both
endpoint kinds build on (key, logs, role, alarms, the endpoint with its blue/green rollout),
the importers' resources, and the glue that runs llmdeploy's rules (`plan.checks`) as CDK
validations."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import jsii
from aws_cdk import (
    Annotations,
    Arn,
    ArnFormat,
    Aws,
    CfnResource,
    RemovalPolicy,
    Resource,
    Stack,
)
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IValidation

from llmdeploy.catalog.engines import (
    CANARY_MAX_PERCENT,
    LINEAR_STEP_PERCENT,
    TRAFFIC_SHIFTING_MIN_INSTANCES,
)
from llmdeploy.constructs import _nag, alarms, roles
from llmdeploy.constructs._tokens import is_unresolved
from llmdeploy.constructs.types import (
    BoundImage,
    Counts,
    EndpointRollout,
    InstanceType,
    RollbackAlarms,
    RolloutStrategy,
)
from llmdeploy.plan import checks
from llmdeploy.plan.checks import Finding

DEFAULT_VARIANT = "AllTraffic"
INVOKE_ACTIONS = ("sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker resource names


# --- interfaces --------------------------------------------------------------------------------


class _SageMakerMetrics:
    """The AWS/SageMaker metrics of an endpoint's variant or of an inference component: the
    one set of helpers, over the dimensions each names (`_dimensions`)."""

    def _dimensions(self) -> dict[str, str]:
        raise NotImplementedError

    def metric(self, metric_name: str, props: cw.MetricOptions | None = None) -> cw.Metric:
        """A metric of this endpoint variant or component in AWS/SageMaker (Sum per minute
        unless ``props`` says otherwise)."""
        return alarms.sagemaker_metric(metric_name, self._dimensions(), props)

    def metric_invocations(self, props: cw.MetricOptions | None = None) -> cw.Metric:
        """Requests, Sum per minute unless ``props`` says otherwise."""
        return self.metric("Invocations", props)

    def metric_invocation_5xx_errors(self, props: cw.MetricOptions | None = None) -> cw.Metric:
        """Requests answered with a 5XX status (the model or SageMaker failed)."""
        return self.metric("Invocation5XXErrors", props)

    def metric_invocation_4xx_errors(self, props: cw.MetricOptions | None = None) -> cw.Metric:
        """Requests answered with a 4XX status (the caller's mistake, or throttling)."""
        return self.metric("Invocation4XXErrors", props)

    def metric_model_latency(self, props: cw.MetricOptions | None = None) -> cw.Metric:
        """Microseconds, as SageMaker reports it; p95 unless ``props`` says otherwise."""
        return alarms.sagemaker_metric("ModelLatency", self._dimensions(), props, statistic="p95")


class IEndpoint(_SageMakerMetrics):
    """A SageMaker endpoint, owned by this app or imported: what callers need of it."""

    endpoint_name: str
    variant_name: str
    role: iam.IRole | None  # the execution role, where known
    instance_type: InstanceType | None  # where known

    @property
    def endpoint_arn(self) -> str:
        """arn:<partition>:sagemaker:<region>:<account>:endpoint/<name>."""
        return Stack.of(self).format_arn(  # type: ignore[arg-type]
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name.lower()
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` invoke the endpoint (and so any inference component on it)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(INVOKE_ACTIONS), resource_arns=[self.endpoint_arn]
        )

    def _dimensions(self) -> dict[str, str]:
        return {"EndpointName": self.endpoint_name, "VariantName": self.variant_name}


class IInferenceEndpoint(IEndpoint):
    """An endpoint whose instances host inference components (a shared pool): what an
    `InferenceComponent` is placed on. A `DedicatedEndpoint` is not one."""


class IDedicatedEndpoint(IEndpoint):
    """An endpoint that runs one model on whole instances: no inference component can be
    placed on it."""


class IInferenceComponent(_SageMakerMetrics):
    """An inference component, owned by this app or imported."""

    inference_component_name: str
    endpoint: IInferenceEndpoint

    @property
    def inference_component_arn(self) -> str:
        """arn:<partition>:sagemaker:<region>:<account>:inference-component/<name>."""
        return Stack.of(self).format_arn(  # type: ignore[arg-type]
            service="sagemaker",
            resource="inference-component",
            resource_name=self.inference_component_name.lower(),
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` invoke this model through its endpoint."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(INVOKE_ACTIONS),
            resource_arns=[self.endpoint.endpoint_arn, self.inference_component_arn],
        )

    def _dimensions(self) -> dict[str, str]:
        return {"InferenceComponentName": self.inference_component_name}

    def metric_no_capacity_invocation_failures(
        self, props: cw.MetricOptions | None = None
    ) -> cw.Metric:
        """Requests refused because no copy was running (scale to zero)."""
        return self.metric("NoCapacityInvocationFailures", props)

    def metric_concurrent_requests_per_copy(
        self, props: cw.MetricOptions | None = None
    ) -> cw.Metric:
        """The busiest copy's concurrent requests (Maximum unless ``props`` says otherwise)."""
        return alarms.sagemaker_metric(
            "ConcurrentRequestsPerCopy", self._dimensions(), props, statistic="Maximum"
        )


# --- importers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointAttributes:
    """An endpoint this app does not own. ``instance_type``, where given, lets llmdeploy check
    that a component placed on it fits."""

    endpoint_name: str
    variant_name: str = DEFAULT_VARIANT
    instance_type: InstanceType | str | None = None
    role: iam.IRole | None = None


def checked_name(name: str, what: str) -> str:
    """A literal SageMaker name as SageMaker allows it: a wildcard (`*`) would widen every
    grant made on it to every endpoint or component of the account."""
    if is_unresolved(name):
        return name
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{what} {name!r}: give the exact name (letters, digits and hyphens, at most 63; "
            "no wildcards: a grant on it would cover every one)"
        )
    return name


def generated_name(scope: Construct) -> str:
    """A stable name from the construct path, as SageMaker allows it (endpoints and
    inference components given no name of their own)."""
    from aws_cdk import Names

    return Names.unique_resource_name(
        scope, max_length=63, separator="-", allowed_special_characters="-"
    ).lower()


def name_from_arn(arn: str, resource: str, what: str) -> str:
    """The name in a SageMaker ARN of ``resource`` type (tokens: split at deploy time)."""
    if is_unresolved(arn):
        return Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME).resource_name or ""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sagemaker":
        raise ValueError(f"{what} ARN {arn!r}: give arn:<partition>:sagemaker:<region>:...")
    kind, _, name = parts[5].partition("/")
    if kind != resource:
        raise ValueError(f"{what} ARN {arn!r}: the resource is a {kind}, not an {resource}")
    return checked_name(name, what)


class ImportedEndpoint(Resource):
    """The resource behind `LlmEndpoint.from_*` and `DedicatedEndpoint.from_*`."""

    def __init__(self, scope: Construct, id: str, attrs: EndpointAttributes, arn: str | None):
        super().__init__(scope, id, environment_from_arn=arn)
        self.endpoint_name = checked_name(attrs.endpoint_name, "endpoint name")
        self.variant_name = checked_name(attrs.variant_name, "variant name")
        self.role = attrs.role
        self.instance_type = (
            InstanceType.of(attrs.instance_type) if attrs.instance_type is not None else None
        )
        self._arn = arn

    @property
    def endpoint_arn(self) -> str:
        return self._arn or IEndpoint.endpoint_arn.fget(self)  # type: ignore[attr-defined]


class ImportedInferenceEndpoint(ImportedEndpoint, IInferenceEndpoint):
    pass


class ImportedDedicatedEndpoint(ImportedEndpoint, IDedicatedEndpoint):
    pass


# --- validations ----------------------------------------------------------------------------------


@jsii.implements(IValidation)
class _Rules:
    """llmdeploy's rules as a CDK validation: errors fail `cdk synth` (and `llmdeploy synth`)
    with the rule id, the message and the fix; warnings become CDK warnings."""

    def __init__(self, scope: Construct, checks: Callable[[], Iterable[Finding]], spelling):
        self.scope, self.checks, self.spelling = scope, checks, spelling

    def validate(self) -> list[str]:
        errors = []
        for f in self.checks():
            message, fix = f.render(self.spelling, lambda k, v: f"{self.spelling.get(k, k)}={v!r}")
            prop = self.spelling.get(f.field, f.field)
            text = f"[{f.rule}] {prop}={f.value!r}: {message} (fix: {fix})"
            if f.severity == "warning":
                Annotations.of(self.scope).add_warning_v2(f"llmdeploy:{f.rule}", text)
            else:
                errors.append(text)
        return errors


def image_region(scope: Construct, bound: BoundImage) -> Iterable[Finding]:
    """image-in-region, where the image and the stack's region are both known at synth."""
    region = Stack.of(scope).region
    if is_unresolved(bound.uri) or is_unresolved(region):
        return ()
    return checks.image_in_region(bound.uri, region)


def acknowledge_local_nvme(config: Construct) -> None:
    _nag.acknowledge(
        config,
        (
            "AwsSolutions-SM3",
            # A reason fixed in code, never built from spec text.
            "the instance type has local NVMe storage, encrypted by the instance's hardware; "
            "SageMaker refuses KmsKeyId for it",
        ),
    )


def add_rules(
    scope: Construct, checks: Callable[[], Iterable[Finding]], spelling: Mapping[str, str]
) -> None:
    """Run ``checks`` (of `plan.checks`) when the app synthesizes, spelled as props."""
    scope.node.add_validation(_Rules(scope, checks, spelling))


# --- the endpoint base --------------------------------------------------------------------------


class EndpointBase(Resource):
    """Key, logs and execution role, then (`_endpoint`) the endpoint with its blue/green
    rollout: what `LlmEndpoint` and `DedicatedEndpoint` share. The subclass builds its config
    (and for a dedicated endpoint, its model) in between."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str | None,
        instance_type: InstanceType | str,
        volume_size_gb: int | None,
        vpc: ec2.IVpc | None,
        vpc_subnets: ec2.SubnetSelection | None,
        security_groups: Sequence[ec2.ISecurityGroup],
        encryption_key: kms.IKey | None,
        log_retention: logs.RetentionDays,
        variant_name: str,
    ) -> None:
        instance_type = InstanceType.of(instance_type)
        if endpoint_name is not None:
            checked_name(endpoint_name, "endpoint_name")
        checked_name(variant_name, "variant_name")
        check_endpoint_props(instance_type, volume_size_gb, vpc, vpc_subnets, security_groups)
        super().__init__(scope, id, physical_name=endpoint_name)
        self.endpoint_name = endpoint_name or generated_name(self)
        self.variant_name = variant_name
        self.instance_type = instance_type
        self.encryption_key, self.log_group = encryption_and_logs(
            self, self.endpoint_name, encryption_key, log_retention
        )
        self.subnets, self.security_groups = network(self, vpc, vpc_subnets, security_groups)
        self.role = roles.execution_role(
            self,
            self.endpoint_name,
            key=self.encryption_key,
            log_group=self.log_group,
            in_vpc=bool(self.subnets),
        )
        self.local_nvme = instance_type.has_local_nvme

    def _endpoint(
        self,
        config: sagemaker.CfnEndpointConfig,
        rollout: EndpointRollout,
        rollback: Sequence[cw.IAlarm],
        instances: Counts,
    ) -> sagemaker.CfnEndpoint:
        endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=config.attr_endpoint_config_name,
            deployment_config=blue_green(rollout, rollback, instances),
        )
        self.node.default_child = endpoint
        return endpoint

    def _rollback_alarms(self, rollback: RollbackAlarms) -> list[cw.Alarm]:
        return alarms.rollback_alarms(
            self,
            self.endpoint_name,
            {"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            error_rate_percent=rollback.error_rate_percent,
            p95_latency_ms=rollback.p95_latency_ms,
        )

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        """Apply ``policy`` to the endpoint, its config and (dedicated) its model. The key and
        the log group keep RETAIN: they hold or protect data."""
        for child in self.node.children:
            if isinstance(child, CfnResource) and child.cfn_resource_type in _REMOVABLE:
                child.apply_removal_policy(policy)


_REMOVABLE = frozenset(
    {
        "AWS::SageMaker::Endpoint",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Model",
        "AWS::SageMaker::InferenceComponent",
    }
)


def network(
    scope: Construct,
    vpc: ec2.IVpc | None,
    selection: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup],
) -> tuple[tuple[ec2.ISubnet, ...], tuple[ec2.ISecurityGroup, ...]]:
    """The subnets and security groups to run in: ``vpc`` with ``selection`` (default: its
    private subnets), or the subnets ``selection`` names; with a VPC and no group, a new one
    that allows no inbound traffic."""
    if vpc is not None:
        # jsii flattens the SubnetSelection struct into keyword arguments.
        fields = ("availability_zones", "one_per_az", "subnet_filters", "subnet_group_name")
        chosen = selection or ec2.SubnetSelection()
        given = {f: getattr(chosen, f) for f in (*fields, "subnets", "subnet_type")}
        subnets = tuple(
            vpc.select_subnets(**{f: v for f, v in given.items() if v is not None}).subnets
        )
    elif selection is not None and selection.subnets:
        subnets = tuple(selection.subnets)
    else:
        return (), ()
    groups = tuple(security_groups)
    if not groups and vpc is not None:
        groups = (
            ec2.SecurityGroup(
                scope,
                "SecurityGroup",
                vpc=vpc,
                description="llmdeploy: SageMaker containers (no inbound traffic)",
                allow_all_outbound=True,
            ),
        )
    return subnets, groups


def encryption_and_logs(
    scope: Construct, endpoint_name: str, key: kms.IKey | None, retention: logs.RetentionDays
) -> tuple[kms.IKey, logs.LogGroup]:
    """The customer-managed key (created, rotated, unless given) and the endpoint's log group,
    created by us so that it expires, encrypted by the key we create (SageMaker would do
    neither). With a key of the user's, the group keeps CloudWatch's own encryption."""
    imported = key is not None
    if key is None:
        key = kms.Key(
            scope,
            "Key",
            description=f"llmdeploy: SageMaker endpoint {endpoint_name} (volumes, logs)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        group_arn = (
            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
            f"{log_group_name(endpoint_name)}"
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}},
            )
        )
    group = logs.LogGroup(
        scope,
        "Logs",
        log_group_name=log_group_name(endpoint_name),
        # Only a key we create grants CloudWatch Logs its use; an imported key's policy is
        # not ours to extend, and a log group it cannot use fails to create.
        encryption_key=None if imported else key,
        retention=retention,
        removal_policy=RemovalPolicy.RETAIN,
    )
    return key, group


def log_group_name(endpoint_name: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


def blue_green(
    rollout: EndpointRollout, alarms: Sequence[cw.IAlarm], instances: Counts | None = None
) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    """Blue/green for endpoint (instance) changes, rolled back by ``alarms``.

    A canary is at most 50% of the fleet and a linear step 10-50% (SageMaker's
    TrafficRoutingConfig): a fleet of ``instances`` that can be a single instance has neither,
    so they are refused there (docs/rollouts.md)."""
    shifting = rollout.strategy in (RolloutStrategy.CANARY, RolloutStrategy.LINEAR)
    need = TRAFFIC_SHIFTING_MIN_INSTANCES
    if shifting and instances is not None and instances.min < need:
        raise ValueError(
            f"rollout {rollout.strategy.value} with instances.min {instances.min}: a canary "
            f"(at most 50% of the fleet) or a linear step (10-50%) of a fleet that can be one "
            f"instance does not exist. Use RolloutStrategy.ALL_AT_ONCE, or instances.min >= "
            f"{need}."
        )
    if rollout.strategy is RolloutStrategy.LINEAR and not (
        LINEAR_STEP_PERCENT[0] <= rollout.traffic_percent <= LINEAR_STEP_PERCENT[1]
    ):
        raise ValueError(
            f"a linear step of {rollout.traffic_percent}%: SageMaker's linear steps are "
            "{}% to {}% of the fleet. Set traffic_percent in that range.".format(
                *LINEAR_STEP_PERCENT
            )
        )
    if rollout.strategy is RolloutStrategy.CANARY and rollout.traffic_percent > CANARY_MAX_PERCENT:
        raise ValueError(
            f"a canary of {rollout.traffic_percent}%: SageMaker's canary is at most "
            f"{CANARY_MAX_PERCENT}% of the fleet. Set traffic_percent to {CANARY_MAX_PERCENT} "
            "or less."
        )
    size = sagemaker.CfnEndpoint.CapacitySizeProperty(
        type="CAPACITY_PERCENT", value=rollout.traffic_percent
    )
    steps = 1
    if rollout.strategy is RolloutStrategy.LINEAR:
        steps = -(-100 // rollout.traffic_percent)
    routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
        type=rollout.strategy.value,
        wait_interval_in_seconds=rollout.wait_seconds,
        canary_size=size if rollout.strategy is RolloutStrategy.CANARY else None,
        linear_step_size=size if rollout.strategy is RolloutStrategy.LINEAR else None,
    )
    # SageMaker: the timeout must exceed every wait; leave half an hour to bring instances up.
    timeout = min(28_800, max(600, rollout.wait_seconds * (steps + 1) + 1800))
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing,
            maximum_execution_timeout_in_seconds=timeout,
        ),
        auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
            alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=a.alarm_name) for a in alarms]
        )
        if alarms
        else None,
    )


def check_endpoint_props(
    instance_type: InstanceType,
    volume_size_gb: int | None,
    vpc: ec2.IVpc | None,
    selection: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup],
) -> None:
    """Refuse, before anything is built, what SageMaker would refuse at deploy time."""
    if volume_size_gb is not None and instance_type.has_local_nvme:
        raise ValueError(
            f"volume_size_gb: {instance_type} has local NVMe storage; SageMaker refuses "
            "VolumeSizeInGB for it. Remove volume_size_gb."
        )
    named = vpc is not None or (selection is not None and bool(selection.subnets))
    if security_groups and not named:
        raise ValueError("security_groups need a vpc (or vpc_subnets naming subnets)")
    if vpc is None and selection is not None and selection.subnets and not security_groups:
        raise ValueError(
            "vpc_subnets naming subnets without a vpc need security_groups: give both, or "
            "give vpc= and let the construct create a security group"
        )
