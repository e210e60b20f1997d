"""The IAM the constructs create: each endpoint's and each model's execution role with least
privilege (never AmazonSageMakerFullAccess), what a model may read and pull, and Application
Auto Scaling's service-linked role."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from llmdeploy import grants
from llmdeploy.constructs import _cached, _nag
from llmdeploy.constructs._tokens import is_unresolved
from llmdeploy.constructs.types import ModelData

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
    if not is_unresolved(key.key_arn):  # a key given by ARN: exactly one key
        grants.require_kms_key_arn(key.key_arn)
    key.grant_encrypt_decrypt(role)
    log_arn = f"<{Stack.of(scope).get_logical_id(log_group.node.default_child)}.Arn>:*"
    _nag.acknowledge(
        role,
        *(
            (f"AwsSolutions-IAM5[{finding}]", reason)
            for finding, reason in (
                (
                    "Resource::*",
                    "ecr:GetAuthorizationToken and cloudwatch:PutMetricData take no "
                    "resource ARN (the metric namespace is conditioned); ENI actions in a "
                    "VPC act on interfaces that do not exist yet",
                ),
                (
                    f"Resource::{log_arn}",
                    "the endpoint's log streams are created by SageMaker in this one log group",
                ),
                (
                    "Action::kms:ReEncrypt*",
                    "CDK's encrypt/decrypt grant on this endpoint's one key",
                ),
                (
                    "Action::kms:GenerateDataKey*",
                    "CDK's encrypt/decrypt grant on this endpoint's one key",
                ),
            )
        ),
    )
    if in_vpc:
        # ENI actions take no resource ARNs before the interface exists.
        role.add_to_policy(iam.PolicyStatement(actions=list(_ENI_ACTIONS), resources=["*"]))
    return role


def model_role(scope: Construct, component_name: str, *, in_vpc: bool) -> iam.Role:
    """A model's own execution role: its logs and metrics, pulling images, and (in a VPC) its
    network interfaces; `sagemaker_model` adds its weights and repository."""
    # The name is in the log group's ARN (and the acknowledgement naming it): a SageMaker
    # name, so that it can hold no wildcard.
    if not is_unresolved(component_name):
        grants.require_sagemaker_name(component_name, "inference component name")
    role = iam.Role(
        scope,
        "ExecutionRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"llmdeploy: SageMaker model of inference component {component_name}",
    )
    group = (
        f"arn:{_cached.partition()}:logs:{_cached.region()}:{_cached.account_id()}:log-group:"
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
    _nag.acknowledge(
        role,
        (
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData take no resource ARN "
            "(the metric namespace is conditioned); ENI actions in a VPC act on interfaces "
            "that do not exist yet",
        ),
        (
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:"
            f"<AWS::AccountId>:log-group:/aws/sagemaker/InferenceComponents/"
            f"{component_name}:*]",
            "the log streams of this component's own log group, created by SageMaker",
        ),
    )
    return role


def acknowledge_model_access(scope: Construct, data: ModelData) -> None:
    """The one wildcard of a model's grants: the objects of its weights folder. The finding's
    id names that resource, so it is built only from a folder `grants` accepted (never a
    bucket, a sibling prefix or a wildcard of the user's); the reason is fixed."""
    if data.s3_uri and not data.compressed and not is_unresolved(data.s3_uri):
        weights = grants.require_s3_source(data.s3_uri)
        _nag.acknowledge(
            scope,
            (
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{weights.bucket}/"
                f"{weights.key}*]",
                "the model reads every object under its own weights folder, and only those",
            ),
        )


def model_access_statements(image_uri: str, data: ModelData) -> list[iam.PolicyStatement]:
    """Read the model's own S3 folder (or object) and pull its own image repository: exactly
    those. A value that would widen a grant (the bucket root, a prefix without its trailing /,
    a wildcard) is refused with ValueError (`llmdeploy.grants`)."""
    if data.s3_uri and not is_unresolved(data.s3_uri):
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
        bucket_arn = f"arn:{_cached.partition()}:s3:::{data.bucket}"
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
    if is_unresolved(image_uri):
        return None
    host = image_uri.partition("/")[0]
    if ".dkr.ecr." not in host and not any(c in image_uri for c in "*?$"):
        return None
    image = grants.require_image(image_uri)
    partition = "aws-cn" if image.partition == "aws-cn" else _cached.partition()
    return f"arn:{partition}:ecr:{image.region}:{image.account}:repository/{image.repository}"


def autoscaling_role(scope: Construct) -> iam.IRole:
    """Application Auto Scaling's service-linked role for SageMaker: AWS-managed with exactly
    the rights scaling needs (created by the service on first use), instead of a new role."""
    return iam.Role.from_role_arn(
        scope,
        "AutoscalingRole",
        f"arn:{_cached.partition()}:iam::{_cached.account_id()}:role/aws-service-role/"
        "sagemaker.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    )
