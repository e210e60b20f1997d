"""What the endpoint constructs share: encryption and logs, the execution role, the
blue/green deployment config, and SageMaker metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy import grants
from llmdeploy.catalog.engines import (
    CANARY_MAX_PERCENT,
    LINEAR_STEP_PERCENT,
    MAX_ENV_VARS,
    TRAFFIC_SHIFTING_MIN_INSTANCES,
)
from llmdeploy.constructs.types import Counts, EndpointRollout, ModelData, RolloutStrategy

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)


def acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """Record that a policy-validation finding (cdk-nag's AwsSolutions pack, for one) is
    intended here, and why. Granular ids name the exact wildcard: `AwsSolutions-IAM5[...]`."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def log_group_name(endpoint_name: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


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


def execution_role(
    scope: Construct,
    endpoint_name: str,
    *,
    key: kms.IKey,
    log_group: logs.ILogGroup,
    in_vpc: bool,
) -> iam.Role:
    """Least privilege for the endpoint: its logs and metrics, its key, pulling images, and
    (in a VPC) its network interfaces; never AmazonSageMakerFullAccess. Each model's weights
    and image repository are granted to that model's own role (`model_role`). The role's name
    is CloudFormation's to choose: a fixed name would collide on re-creation."""
    role = iam.Role(
        scope,
        "ExecutionRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"llmdeploy: SageMaker endpoint {endpoint_name}",
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:*"],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],  # PutMetricData has no resource type; scoped by namespace
            conditions={
                "StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}
            },
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    if not Token.is_unresolved(key.key_arn):  # a key given by ARN: exactly one key
        grants.require_kms_key_arn(key.key_arn)
    key.grant_encrypt_decrypt(role)
    log_arn = f"<{Stack.of(scope).get_logical_id(log_group.node.default_child)}.Arn>:*"
    for finding, reason in (
        (
            "Resource::*",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData take no "
            "resource ARN (the metric namespace is conditioned); ENI actions in a VPC act on "
            "interfaces that do not exist yet",
        ),
        (
            f"Resource::{log_arn}",
            "the endpoint's log streams are created by SageMaker in this one log group",
        ),
        ("Action::kms:ReEncrypt*", "CDK's encrypt/decrypt grant on this endpoint's one key"),
        ("Action::kms:GenerateDataKey*", "CDK's encrypt/decrypt grant on this endpoint's one key"),
    ):
        acknowledge(role, f"AwsSolutions-IAM5[{finding}]", reason)
    if in_vpc:
        # ENI actions take no resource ARNs before the interface exists.
        role.add_to_policy(iam.PolicyStatement(actions=list(_ENI_ACTIONS), resources=["*"]))
    return role


def acknowledge_model_access(scope: Construct, data: ModelData) -> None:
    """The one wildcard of a model's grants: the objects of its weights folder. The finding's
    id names that resource, so it is built only from a folder `grants` accepted (never a
    bucket, a sibling prefix or a wildcard of the user's); the reason is fixed."""
    if data.s3_uri and not data.compressed and not Token.is_unresolved(data.s3_uri):
        weights = grants.require_s3_source(data.s3_uri)
        acknowledge(
            scope,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{weights.bucket}/"
            f"{weights.key}*]",
            "the model reads every object under its own weights folder, and only those",
        )


def model_access_statements(image_uri: str, data: ModelData) -> list[iam.PolicyStatement]:
    """Read the model's own S3 folder (or object) and pull its own image repository: exactly
    those. A value that would widen a grant (the bucket root, a prefix without its trailing /,
    a wildcard) is refused with ValueError (`llmdeploy.grants`)."""
    if data.s3_uri and not Token.is_unresolved(data.s3_uri):
        grants.require_s3_source(data.s3_uri)
    statements = []
    repo = image_repository_arn(image_uri)
    if repo:
        statements.append(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[repo],
            )
        )
    if data.s3_uri:
        bucket_arn = f"arn:{Aws.PARTITION}:s3:::{data.bucket}"
        prefix = data.key_prefix
        statements.append(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    f"{bucket_arn}/{prefix}" if data.compressed else f"{bucket_arn}/{prefix}*"
                ],
            )
        )
        statements.append(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket_arn],
                # A folder: its own keys (prefix/*); an object: its own key.
                conditions={"StringEquals": {"s3:prefix": [prefix]}}
                if data.compressed
                else {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            )
        )
    return statements


def image_repository_arn(image_uri: str) -> str | None:
    """The ARN of the image's one ECR repository (None: not an ECR image, or a CDK token: no
    pull right to grant). A wildcard or a malformed ECR image is refused with ValueError."""
    # <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>(:<tag>|@sha256:<digest>)
    if Token.is_unresolved(image_uri):
        return None
    host = image_uri.partition("/")[0]
    if ".dkr.ecr." not in host and not any(c in image_uri for c in "*?$"):
        return None
    image = grants.require_image(image_uri)
    partition = "aws-cn" if image.partition == "aws-cn" else Aws.PARTITION
    return f"arn:{partition}:ecr:{image.region}:{image.account}:repository/{image.repository}"


def vpc_config(
    prop_type: type,
    subnets: Sequence[ec2.ISubnet],
    security_groups: Sequence[ec2.ISecurityGroup],
):
    """``prop_type`` is the L1's own VpcConfigProperty (CfnEndpointConfig's or CfnModel's)."""
    if not subnets:
        return None
    return prop_type(
        subnets=[s.subnet_id for s in subnets],
        security_group_ids=[g.security_group_id for g in security_groups],
    )


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


def sagemaker_metric(
    metric_name: str,
    dimensions: Mapping[str, str],
    *,
    statistic: str = "Sum",
    period: Duration | None = None,
) -> cw.Metric:
    return cw.Metric(
        namespace=SAGEMAKER_NAMESPACE,
        metric_name=metric_name,
        dimensions_map=dict(dimensions),
        statistic=statistic,
        period=period or Duration.minutes(1),
    )


def error_rate_alarm(
    scope: Construct,
    id: str,
    *,
    alarm_name: str,
    dimensions: Mapping[str, str],
    threshold_percent: float,
) -> cw.Alarm:
    """5XX errors as a percentage of invocations, two bad minutes out of three."""
    rate = cw.MathExpression(
        expression="IF(invocations > 0, 100 * errors / invocations, 0)",
        using_metrics={
            "errors": sagemaker_metric("Invocation5XXErrors", dimensions),
            "invocations": sagemaker_metric("Invocations", dimensions),
        },
        period=Duration.minutes(1),
        label="5XX error rate (%)",
    )
    return cw.Alarm(
        scope,
        id,
        alarm_name=alarm_name,
        metric=rate,
        threshold=threshold_percent,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        alarm_description=f"Rolls back a deployment when 5XX errors reach {threshold_percent}% "
        "of invocations",
    )


def latency_alarm(
    scope: Construct,
    id: str,
    *,
    alarm_name: str,
    dimensions: Mapping[str, str],
    p95_ms: int,
) -> cw.Alarm:
    """p95 ModelLatency (reported in microseconds) above the limit, two minutes out of three."""
    return cw.Alarm(
        scope,
        id,
        alarm_name=alarm_name,
        metric=sagemaker_metric("ModelLatency", dimensions, statistic="p95"),
        threshold=p95_ms * 1000,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        alarm_description=f"Rolls back a deployment when p95 model latency exceeds {p95_ms} ms",
    )


def autoscaling_role(scope: Construct) -> iam.IRole:
    """Application Auto Scaling's service-linked role for SageMaker: AWS-managed with exactly
    the rights scaling needs (created by the service on first use), instead of a new role."""
    return iam.Role.from_role_arn(
        scope,
        "AutoscalingRole",
        f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/aws-service-role/"
        "sagemaker.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    )


def check_endpoint_props(
    instance_type,
    volume_size_gb: int | None,
    subnets: Sequence[ec2.ISubnet],
    security_groups: Sequence[ec2.ISecurityGroup],
) -> None:
    """Refuse, at synth time, what SageMaker would refuse at deploy time."""
    if volume_size_gb is not None and instance_type.has_local_nvme:
        raise ValueError(
            f"volume_size_gb: {instance_type} has local NVMe storage; SageMaker refuses "
            "VolumeSizeInGB for it. Remove volume_size_gb."
        )
    if bool(subnets) != bool(security_groups):
        raise ValueError("vpc_subnets and security_groups go together: give both or neither")


def rollback_alarms(
    scope: Construct,
    name: str,
    dimensions: Mapping[str, str],
    *,
    error_rate_percent: float | None,
    p95_latency_ms: int | None,
) -> list[cw.Alarm]:
    """The alarms a deployment rolls back on, named after ``name``: 5XX rate and p95."""
    alarms = []
    if error_rate_percent is not None:
        alarms.append(
            error_rate_alarm(
                scope,
                "ErrorRateAlarm",
                alarm_name=f"{name}-5xx-rate",
                dimensions=dimensions,
                threshold_percent=error_rate_percent,
            )
        )
    if p95_latency_ms is not None:
        alarms.append(
            latency_alarm(
                scope,
                "LatencyAlarm",
                alarm_name=f"{name}-p95-latency",
                dimensions=dimensions,
                p95_ms=p95_latency_ms,
            )
        )
    return alarms


def model_role(scope: Construct, component_name: str, *, in_vpc: bool) -> iam.Role:
    """A model's own execution role: its logs and metrics, pulling images, and (in a VPC) its
    network interfaces; `sagemaker_model` adds its weights and repository."""
    # The name is in the log group's ARN (and the acknowledgement naming it): a SageMaker
    # name, so that it can hold no wildcard.
    if not Token.is_unresolved(component_name):
        grants.require_sagemaker_name(component_name, "inference component name")
    role = iam.Role(
        scope,
        "ExecutionRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"llmdeploy: SageMaker model of inference component {component_name}",
    )
    group = (
        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
        f"/aws/sagemaker/InferenceComponents/{component_name}"
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            resources=[group, f"{group}:*"],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={
                "StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}
            },
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    if in_vpc:
        role.add_to_policy(iam.PolicyStatement(actions=list(_ENI_ACTIONS), resources=["*"]))
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken and cloudwatch:PutMetricData take no resource ARN "
        "(the metric namespace is conditioned); ENI actions in a VPC act on interfaces "
        "that do not exist yet",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:"
        f"<AWS::AccountId>:log-group:/aws/sagemaker/InferenceComponents/"
        f"{component_name}:*]",
        "the log streams of this component's own log group, created by SageMaker",
    )
    return role


def sagemaker_model(
    scope: Construct,
    role: iam.IRole,
    image_uri: str,
    model_data: ModelData,
    environment: Mapping[str, str],
    *,
    network_isolation: bool,
    subnets: Sequence[ec2.ISubnet],
    security_groups: Sequence[ec2.ISecurityGroup],
) -> sagemaker.CfnModel:
    """The SageMaker Model of a container and its weights: an S3 prefix copied uncompressed
    to /opt/ml/model, a .tar.gz unpacked there, or nothing (the container fetches them).
    ``role`` (the model's own) is granted exactly this image repository and these weights,
    and the Model waits for those grants, not only for the role."""
    if len(environment) > MAX_ENV_VARS:
        raise ValueError(
            f"environment has {len(environment)} variables; SageMaker allows {MAX_ENV_VARS}"
        )
    for statement in model_access_statements(image_uri, model_data):
        role.add_to_principal_policy(statement)
    acknowledge_model_access(role, model_data)
    data_source = None
    if model_data.s3_uri and not model_data.compressed:
        data_source = sagemaker.CfnModel.ModelDataSourceProperty(
            s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                s3_uri=model_data.s3_uri, s3_data_type="S3Prefix", compression_type="None"
            )
        )
    model = sagemaker.CfnModel(
        scope,
        "Model",
        execution_role_arn=role.role_arn,
        primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
            image=image_uri,
            environment=dict(environment) or None,
            model_data_source=data_source,
            model_data_url=model_data.s3_uri if model_data.compressed else None,
        ),
        enable_network_isolation=network_isolation,
        vpc_config=vpc_config(sagemaker.CfnModel.VpcConfigProperty, subnets, security_groups),
    )
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is not None:
        model.node.add_dependency(policy)
    return model
