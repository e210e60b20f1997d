"""`LlmEndpoint`: a SageMaker endpoint that hosts inference components (a shared pool)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Names, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy.constructs import _common
from llmdeploy.constructs.types import Counts, EndpointRollout, InstanceType, RoutingStrategy

DEFAULT_VARIANT = "AllTraffic"


class IEndpoint(Construct):
    """An endpoint, owned by this app or imported: what inference components and callers
    need of it."""

    endpoint_name: str
    variant_name: str
    role: iam.IRole | None  # the execution role, where known

    @property
    def endpoint_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name.lower()
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` invoke the endpoint (and so any inference component on it)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
            resource_arns=[self.endpoint_arn],
        )

    def metric(
        self, metric_name: str, *, statistic: str = "Sum", period: Duration | None = None
    ) -> cw.Metric:
        """A metric of the endpoint's variant in AWS/SageMaker."""
        return _common.sagemaker_metric(
            metric_name,
            {"EndpointName": self.endpoint_name, "VariantName": self.variant_name},
            statistic=statistic,
            period=period,
        )

    def metric_invocations(self, **kw) -> cw.Metric:
        return self.metric("Invocations", **kw)

    def metric_invocation_5xx_errors(self, **kw) -> cw.Metric:
        return self.metric("Invocation5XXErrors", **kw)

    def metric_invocation_4xx_errors(self, **kw) -> cw.Metric:
        return self.metric("Invocation4XXErrors", **kw)

    def metric_model_latency(self, *, statistic: str = "p95", **kw) -> cw.Metric:
        """Microseconds, as SageMaker reports it."""
        return self.metric("ModelLatency", statistic=statistic, **kw)


class _ImportedEndpoint(IEndpoint):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str,
        variant_name: str,
        role: iam.IRole | None,
    ):
        super().__init__(scope, id)
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.role = role


class LlmEndpoint(IEndpoint):
    """A real-time endpoint whose instances host inference components.

    Created: an endpoint config with `ExecutionRoleArn` and one production variant without a
    model (managed instance scaling from ``instances``; ``min`` may be 0), the endpoint with a
    blue/green deployment config rolled back on a 5XX-rate alarm, an execution role with least
    privilege, a customer-managed KMS key (rotated) and an encrypted log group.

    :param instance_type: the instances of the pool, e.g. ``InstanceType.P4D_24XLARGE``.
    :param instances: managed instance scaling; ``Counts(min=0, ...)`` releases every
        instance when no copy runs. Default: 0 / 1 / 1.
    :param endpoint_name: physical name. Default: derived from the construct path (stable).
    :param routing: request routing. Default: least outstanding requests.
    :param rollout: blue/green rollout of instance changes. Default: all at once, 10 minutes
        of baking; a canary or linear rollout needs ``instances.min`` of 2 or more.
    :param encryption_key: default: a new customer-managed key with rotation. It encrypts the
        logs, and the instances' volumes where they are EBS (SageMaker refuses a key for
        instance types with local NVMe, which their hardware encrypts).
    :param vpc_subnets, security_groups: default: no VPC.
    :param network_isolation: containers get no network access. Default: True.
    :param volume_size_gb: EBS volume per instance; only for types without local NVMe.
    :param log_retention: default: one month.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance_type: InstanceType,
        instances: Counts = Counts(0, 1, 1),
        endpoint_name: str | None = None,
        routing: RoutingStrategy = RoutingStrategy.LEAST_OUTSTANDING_REQUESTS,
        rollout: EndpointRollout = EndpointRollout(),
        encryption_key: kms.IKey | None = None,
        vpc_subnets: Sequence[ec2.ISubnet] = (),
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        network_isolation: bool = True,
        volume_size_gb: int | None = None,
        variant_name: str = DEFAULT_VARIANT,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        error_rate_alarm_percent: float = 5,
    ) -> None:
        super().__init__(scope, id)
        _common.check_endpoint_props(instance_type, volume_size_gb, vpc_subnets, security_groups)
        self.endpoint_name = (
            endpoint_name
            or Names.unique_resource_name(
                self, max_length=63, separator="-", allowed_special_characters="-"
            ).lower()
        )
        self.variant_name = variant_name
        self.instance_type = instance_type
        self.network_isolation = network_isolation
        self.encryption_key, self.log_group = _common.encryption_and_logs(
            self, self.endpoint_name, encryption_key, log_retention
        )
        self.role = _common.execution_role(
            self,
            self.endpoint_name,
            key=self.encryption_key,
            log_group=self.log_group,
            in_vpc=bool(vpc_subnets),
        )
        self.vpc_subnets = tuple(vpc_subnets)
        self.security_groups = tuple(security_groups)
        local_nvme = instance_type.has_local_nvme
        self._config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # No EndpointConfigName: every property is create-only, so any change makes a new
            # config, which needs a new name; CloudFormation generates one.
            execution_role_arn=self.role.role_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=variant_name,
                    instance_type=instance_type.name,
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
            vpc_config=_common.vpc_config(
                sagemaker.CfnEndpointConfig.VpcConfigProperty,
                self.vpc_subnets,
                self.security_groups,
            ),
            enable_network_isolation=network_isolation,
        )
        # The config must wait for the role's policy too, not only for the role it names.
        self._config.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        if local_nvme:
            _common.acknowledge(
                self._config,
                "AwsSolutions-SM3",
                # A reason fixed in code, never built from spec text.
                "the instance type has local NVMe storage, encrypted by the instance's "
                "hardware; SageMaker refuses KmsKeyId for it",
            )
        self.rollback_alarm = _common.error_rate_alarm(
            self,
            "ErrorRateAlarm",
            alarm_name=f"{self.endpoint_name}-5xx-rate",
            dimensions={"EndpointName": self.endpoint_name, "VariantName": variant_name},
            threshold_percent=error_rate_alarm_percent,
        )
        self._endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self._config.attr_endpoint_config_name,
            deployment_config=_common.blue_green(rollout, [self.rollback_alarm], instances),
        )

    @property
    def cfn_endpoint(self) -> sagemaker.CfnEndpoint:
        """Escape hatch: the L1 endpoint."""
        return self._endpoint

    @property
    def cfn_endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        """Escape hatch: the L1 endpoint config."""
        return self._config

    @staticmethod
    def from_endpoint_name(
        scope: Construct,
        id: str,
        endpoint_name: str,
        *,
        variant_name: str = DEFAULT_VARIANT,
        role: iam.IRole | None = None,
    ) -> IEndpoint:
        """An endpoint this app does not own (another team's stack, or our own endpoint
        stack seen from a model stack): name it, and optionally its execution role."""
        return _ImportedEndpoint(
            scope, id, endpoint_name=endpoint_name, variant_name=variant_name, role=role
        )
