"""`LlmEndpoint`: a SageMaker endpoint that hosts inference components (a shared pool)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy.constructs.base import (
    DEFAULT_VARIANT,
    EndpointAttributes,
    EndpointBase,
    IInferenceEndpoint,
    ImportedInferenceEndpoint,
    acknowledge_local_nvme,
    name_from_arn,
)
from llmdeploy.constructs.model import vpc_config
from llmdeploy.constructs.types import (
    Counts,
    EndpointRollout,
    InstanceType,
    RollbackAlarms,
    RoutingStrategy,
)

# The shared endpoint's own guard: roll an instance change back at 5% 5XX responses.
DEFAULT_ROLLBACK = RollbackAlarms(error_rate_percent=5)


class LlmEndpoint(EndpointBase, IInferenceEndpoint):
    """A real-time endpoint whose instances host inference components.

    Created: an endpoint config with `ExecutionRoleArn` and one production variant without a
    model (managed instance scaling from ``instances``; ``min`` may be 0), the endpoint with a
    blue/green deployment config rolled back on ``rollback`` alarms, an execution role with
    least privilege, a customer-managed KMS key (rotated) and an encrypted log group.

    :param instance_type: the instances of the pool: ``InstanceType.G6_12XLARGE``,
        ``InstanceType.of("ml.g6e.xlarge")`` or the name as a string.
    :param instances: managed instance scaling; ``Counts(min=0, ...)`` releases every
        instance when no copy runs. Default: 0 / 1 / 1.
    :param endpoint_name: physical name. Default: derived from the construct path (stable).
    :param routing: request routing. Default: least outstanding requests.
    :param rollout: blue/green rollout of instance changes. Default: all at once, 10 minutes
        of baking; a canary or linear rollout needs ``instances.min`` of 2 or more.
    :param rollback: the alarms that roll an instance change back. Default: 5% 5XX responses.
    :param encryption_key: default: a new customer-managed key with rotation. It encrypts the
        logs, and the instances' volumes where they are EBS (SageMaker refuses a key for
        instance types with local NVMe, which their hardware encrypts).
    :param vpc: run in this VPC (``vpc_subnets`` selects, default its private subnets; a
        security group allowing no inbound traffic is created unless ``security_groups``).
        ``vpc_subnets=SubnetSelection(subnets=[...])`` with ``security_groups`` also works
        without a VPC object. Default: no VPC.
    :param vpc_subnets: which subnets (of ``vpc``, or named ones). Default: private.
    :param security_groups: default: a new one allowing no inbound traffic (with ``vpc``).
    :param network_isolation: containers get no network access. Default: True.
    :param volume_size_gb: EBS volume per instance; only for types without local NVMe.
    :param log_retention: default: one month.
    :param variant_name: the production variant. Default: AllTraffic.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance_type: InstanceType | str,
        instances: Counts = Counts(0, 1, 1),
        endpoint_name: str | None = None,
        routing: RoutingStrategy = RoutingStrategy.LEAST_OUTSTANDING_REQUESTS,
        rollout: EndpointRollout | None = None,
        rollback: RollbackAlarms = DEFAULT_ROLLBACK,
        encryption_key: kms.IKey | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        network_isolation: bool = True,
        volume_size_gb: int | None = None,
        variant_name: str = DEFAULT_VARIANT,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(
            scope,
            id,
            endpoint_name=endpoint_name,
            instance_type=instance_type,
            volume_size_gb=volume_size_gb,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            encryption_key=encryption_key,
            log_retention=log_retention,
            variant_name=variant_name,
        )
        self.network_isolation = network_isolation
        self.instances = instances
        local_nvme = self.local_nvme
        self._config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # No EndpointConfigName: every property is create-only, so any change makes a new
            # config, which needs a new name; CloudFormation generates one.
            execution_role_arn=self.role.role_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=self.variant_name,
                    instance_type=self.instance_type.name,
                    initial_instance_count=instances.initial,
                    managed_instance_scaling=(
                        sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                            status="ENABLED",
                            min_instance_count=instances.min,
                            max_instance_count=instances.max,
                        )
                    ),
                    routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                        routing_strategy=routing.value
                    ),
                    volume_size_in_gb=None if local_nvme else volume_size_gb,
                )
            ],
            kms_key_id=None if local_nvme else self.encryption_key.key_arn,
            vpc_config=vpc_config(
                sagemaker.CfnEndpointConfig.VpcConfigProperty,
                self.subnets,
                self.security_groups,
            ),
            enable_network_isolation=network_isolation,
        )
        # The config must wait for the role's policy too, not only for the role it names.
        self._config.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        if local_nvme:
            acknowledge_local_nvme(self._config)
        self.rollback_alarms = tuple(self._rollback_alarms(rollback))
        self._endpoint_resource = self._endpoint(
            self._config, rollout or EndpointRollout(), self.rollback_alarms, instances
        )

    @property
    def cfn_endpoint(self) -> sagemaker.CfnEndpoint:
        """Escape hatch: the L1 endpoint (also `node.default_child`)."""
        return self._endpoint_resource

    @property
    def cfn_endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        """Escape hatch: the L1 endpoint config."""
        return self._config

    @staticmethod
    def from_endpoint_name(scope: Construct, id: str, endpoint_name: str) -> IInferenceEndpoint:
        """An endpoint with inference components this app does not own, by name."""
        return LlmEndpoint.from_endpoint_attributes(scope, id, EndpointAttributes(endpoint_name))

    @staticmethod
    def from_endpoint_arn(scope: Construct, id: str, endpoint_arn: str) -> IInferenceEndpoint:
        """An endpoint with inference components this app does not own, by ARN (its account
        and region are the ARN's)."""
        name = name_from_arn(endpoint_arn, "endpoint", "endpoint")
        return ImportedInferenceEndpoint(scope, id, EndpointAttributes(name), endpoint_arn)

    @staticmethod
    def from_endpoint_attributes(
        scope: Construct, id: str, attrs: EndpointAttributes
    ) -> IInferenceEndpoint:
        """An endpoint with inference components this app does not own: its name, and where
        known its variant, instance type (so components placed on it are checked to fit) and
        execution role."""
        return ImportedInferenceEndpoint(scope, id, attrs, None)
