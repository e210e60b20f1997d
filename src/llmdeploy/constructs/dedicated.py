"""`DedicatedEndpoint`: one model on an endpoint of its own (no inference components)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Names
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy.constructs import _common
from llmdeploy.constructs.endpoint import DEFAULT_VARIANT, IEndpoint
from llmdeploy.constructs.types import (
    Autoscaling,
    Counts,
    EndpointRollout,
    InstanceType,
    ModelData,
    RollbackAlarms,
    RolloutStrategy,
    ScalingMetric,
)

# The variant-level twins of the inference-component metrics.
_METRICS = appscaling.PredefinedMetric
_VARIANT_METRIC = {
    ScalingMetric.CONCURRENT_REQUESTS_PER_COPY: (
        _METRICS.SAGEMAKER_VARIANT_CONCURRENT_REQUESTS_PER_MODEL_HIGH_RESOLUTION
    ),
    ScalingMetric.INVOCATIONS_PER_COPY: _METRICS.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
}


class DedicatedEndpoint(IEndpoint):
    """A single-model endpoint: the model takes whole instances (the hybrid case, e.g. a
    70B model on its own P5en instances).

    Created: a SageMaker Model (image, weights, environment, network isolation), an endpoint
    config with one variant of that model, the endpoint with a blue/green deployment rolled
    back on ``rollback`` alarms (and a 5XX-rate alarm), instance-count autoscaling with
    ``autoscaling``, and the same security defaults as `LlmEndpoint` (least-privilege role,
    customer-managed key, encrypted logs). Dedicated endpoints cannot scale to zero
    instances: ``instances.min`` must be at least 1; ``instances.max`` above ``min`` needs
    ``autoscaling`` (nothing else would ever add an instance). The rollout is all at once by
    default; a canary or linear one needs ``instances.min`` of 2 or more (docs/rollouts.md).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance_type: InstanceType,
        image_uri: str,
        instances: Counts = Counts(1, 1, 1),
        endpoint_name: str | None = None,
        model_data: ModelData = ModelData(),
        environment: Mapping[str, str] | None = None,
        autoscaling: Autoscaling | None = None,
        rollback: RollbackAlarms = RollbackAlarms(),
        rollout: EndpointRollout = EndpointRollout(RolloutStrategy.ALL_AT_ONCE, 10, 600),
        startup_timeout_seconds: int = 1800,
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
        if instances.min < 1:
            raise ValueError(
                "a dedicated endpoint keeps instances.min >= 1; only endpoints "
                "with inference components scale to zero"
            )
        if instances.max > instances.min and autoscaling is None:
            raise ValueError(
                f"instances {instances.min}..{instances.max} without autoscaling: a scalable "
                "target with no scaling policy never changes the instance count. Give "
                f"autoscaling=Autoscaling(target=...), or instances with max = min "
                f"(Counts({instances.initial}, {instances.initial}, {instances.initial}))."
            )
        environment = dict(environment or {})
        self.endpoint_name = (
            endpoint_name
            or Names.unique_resource_name(
                self, max_length=63, separator="-", allowed_special_characters="-"
            ).lower()
        )
        self.variant_name = variant_name
        local_nvme = instance_type.has_local_nvme
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
        self._model = _common.sagemaker_model(
            self,
            self.role,
            image_uri,
            model_data,
            environment,
            network_isolation=network_isolation,
            subnets=vpc_subnets,
            security_groups=security_groups,
        )
        self._config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=variant_name,
                    model_name=self._model.attr_model_name,
                    instance_type=instance_type.name,
                    initial_instance_count=instances.initial,
                    initial_variant_weight=1.0,
                    model_data_download_timeout_in_seconds=startup_timeout_seconds,
                    container_startup_health_check_timeout_in_seconds=startup_timeout_seconds,
                    volume_size_in_gb=None if local_nvme else volume_size_gb,
                )
            ],
            kms_key_id=None if local_nvme else self.encryption_key.key_arn,
        )
        if local_nvme:
            _common.acknowledge(
                self._config,
                "AwsSolutions-SM3",
                # A reason fixed in code, never built from spec text.
                "the instance type has local NVMe storage, encrypted by the instance's "
                "hardware; SageMaker refuses KmsKeyId for it",
            )
        dims = {"EndpointName": self.endpoint_name, "VariantName": variant_name}
        # A dedicated endpoint always rolls back on errors: there is nothing else guarding it.
        alarms = _common.rollback_alarms(
            self,
            self.endpoint_name,
            dims,
            error_rate_percent=rollback.error_rate_percent or error_rate_alarm_percent,
            p95_latency_ms=rollback.p95_latency_ms,
        )
        self.rollback_alarms = tuple(alarms)
        self._endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self._config.attr_endpoint_config_name,
            deployment_config=_common.blue_green(rollout, alarms, instances),
        )
        self.scalable_target: appscaling.ScalableTarget | None = None
        if autoscaling is not None:
            target = appscaling.ScalableTarget(
                self,
                "Scaling",
                service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
                resource_id=f"endpoint/{self.endpoint_name}/variant/{variant_name}",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=instances.min,
                max_capacity=instances.max,
                role=_common.autoscaling_role(self),
            )
            target.node.add_dependency(self._endpoint)
            target.scale_to_track_metric(
                "TargetTracking",
                target_value=autoscaling.target,
                predefined_metric=_VARIANT_METRIC[autoscaling.metric],
                scale_in_cooldown=Duration.seconds(autoscaling.scale_in_cooldown_seconds),
                scale_out_cooldown=Duration.seconds(autoscaling.scale_out_cooldown_seconds),
            )
            self.scalable_target = target

    @property
    def cfn_endpoint(self) -> sagemaker.CfnEndpoint:
        return self._endpoint

    @property
    def cfn_endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        return self._config

    @property
    def cfn_model(self) -> sagemaker.CfnModel:
        return self._model
