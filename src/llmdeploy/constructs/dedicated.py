"""`DedicatedEndpoint`: one model on an endpoint of its own (no inference components)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy.catalog.engines import ENGINES
from llmdeploy.constructs import roles
from llmdeploy.constructs.base import (
    DEFAULT_VARIANT,
    EndpointAttributes,
    EndpointBase,
    IDedicatedEndpoint,
    ImportedDedicatedEndpoint,
    acknowledge_local_nvme,
    add_rules,
    image_region,
    name_from_arn,
)
from llmdeploy.constructs.model import container_settings, sagemaker_model
from llmdeploy.constructs.types import (
    Autoscaling,
    BoundImage,
    ContainerImage,
    Counts,
    EndpointRollout,
    InstanceType,
    LmiSettings,
    ModelData,
    RollbackAlarms,
    ScalingMetric,
    add_schedule,
    schedule_checks,
    schedule_spelling,
)
from llmdeploy.plan import checks

# The variant-level twins of the inference-component metrics.
_METRICS = appscaling.PredefinedMetric
_VARIANT_METRIC = {
    ScalingMetric.CONCURRENT_REQUESTS_PER_COPY: (
        _METRICS.SAGEMAKER_VARIANT_CONCURRENT_REQUESTS_PER_MODEL_HIGH_RESOLUTION
    ),
    ScalingMetric.INVOCATIONS_PER_COPY: _METRICS.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
}
# A dedicated endpoint always rolls back on errors: there is nothing else guarding it.
DEFAULT_ROLLBACK = RollbackAlarms(error_rate_percent=5)
SPELLING = {
    "tensor_parallel_degree": "lmi.tensor_parallel_degree",
    "quantization": "lmi.quantization",
    "engine": "image",
    "engine_choice": "an image of engine",
    "image": "image",
}


class DedicatedEndpoint(EndpointBase, IDedicatedEndpoint):
    """A single-model endpoint: the model takes whole instances (the hybrid case, e.g. a
    70B model on its own P5en instances).

    Created: a SageMaker Model (image, weights, environment, network isolation), an endpoint
    config with one variant of that model, the endpoint with a blue/green deployment rolled
    back on ``rollback`` alarms (default: 5% 5XX responses), instance-count autoscaling with
    ``autoscaling`` (its ``schedule`` as scheduled actions on the instance count, never below
    1 instance), and the same security defaults as `LlmEndpoint` (least-privilege role,
    customer-managed key, encrypted logs). Dedicated endpoints cannot scale to zero
    instances: ``instances.min`` must be at least 1; ``instances.max`` above ``min`` needs
    ``autoscaling`` (nothing else would ever add an instance). The rollout is all at once by
    default; a canary or linear one needs ``instances.min`` of 2 or more (docs/rollouts.md).

    :param instance_type: the model's instances: ``InstanceType.P5EN_48XLARGE``,
        ``InstanceType.of(...)`` or the name.
    :param image: the serving container: ``ContainerImage.djl_lmi()`` (the catalog's image
        for the stack's region), ``ContainerImage.from_uri(...)``.
    :param instances: ``Counts(min, initial, max)``; min at least 1. Default: 1 / 1 / 1.
    :param endpoint_name: physical name. Default: derived from the construct path (stable).
    :param model_data: ``ModelData.from_s3_uri`` or ``from_bucket``. Default: none.
    :param autoscaling: target tracking on the instance count. Default: none.
    :param rollback: alarms that roll a deployment back. Default: 5% 5XX responses.
    :param rollout: blue/green rollout. Default: all at once, 10 minutes of baking.
    :param encryption_key, vpc, vpc_subnets, security_groups, network_isolation,
        volume_size_gb, variant_name, log_retention: as for `LlmEndpoint`.
    :param lmi: DJL-LMI settings, compiled to the container's environment (tensor
        parallelism defaults to the instance's devices). ``environment`` adds raw variables.
    :param startup_timeout: for the weights' download and the container's first health check
        each. Default: 30 minutes.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance_type: InstanceType | str,
        image: ContainerImage,
        instances: Counts = Counts(1, 1, 1),
        endpoint_name: str | None = None,
        model_data: ModelData = ModelData(),
        lmi: LmiSettings | None = None,
        environment: Mapping[str, str] | None = None,
        autoscaling: Autoscaling | None = None,
        rollback: RollbackAlarms = DEFAULT_ROLLBACK,
        rollout: EndpointRollout | None = None,
        startup_timeout: Duration | None = None,
        encryption_key: kms.IKey | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        network_isolation: bool = True,
        volume_size_gb: int | None = None,
        variant_name: str = DEFAULT_VARIANT,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
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
        info = self.instance_type.catalog
        bound, env, timeout = container_settings(
            self,
            image,
            lmi,
            environment,
            model_data,
            devices=info.devices if info else 1,
            startup_timeout=startup_timeout,
        )
        self.image_uri = bound.uri
        self._model = sagemaker_model(
            self,
            self.role,
            bound.uri,
            model_data,
            env,
            network_isolation=network_isolation,
            subnets=self.subnets,
            security_groups=self.security_groups,
        )
        self._config = self._endpoint_config(instances, timeout, volume_size_gb)
        self.rollback_alarms = tuple(self._rollback_alarms(rollback))
        self._endpoint_resource = self._endpoint(
            self._config, rollout or EndpointRollout(), self.rollback_alarms, instances
        )
        self.scalable_target: appscaling.ScalableTarget | None = None
        if autoscaling is not None:
            self._autoscale(autoscaling, instances)
        self._add_rules(bound, lmi, autoscaling, instances)

    def _endpoint_config(
        self, instances: Counts, timeout: int, volume_size_gb: int | None
    ) -> sagemaker.CfnEndpointConfig:
        local_nvme = self.local_nvme
        config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=self.variant_name,
                    model_name=self._model.attr_model_name,
                    instance_type=self.instance_type.name,
                    initial_instance_count=instances.initial,
                    initial_variant_weight=1.0,
                    model_data_download_timeout_in_seconds=timeout,
                    container_startup_health_check_timeout_in_seconds=timeout,
                    volume_size_in_gb=None if local_nvme else volume_size_gb,
                )
            ],
            kms_key_id=None if local_nvme else self.encryption_key.key_arn,
        )
        if local_nvme:
            acknowledge_local_nvme(config)
        return config

    def _add_rules(
        self,
        bound: BoundImage,
        lmi: LmiSettings | None,
        autoscaling: Autoscaling | None,
        instances: Counts,
    ) -> None:
        """llmdeploy's rules on these props, run when the app synthesizes."""
        info = self.instance_type.catalog
        engine = bound.engine or (ENGINES["djl-lmi"] if lmi is not None else None)
        settings = lmi or LmiSettings()

        def rules():
            yield from checks.tp_matches_accelerators(settings.tensor_parallel_degree, None, info)
            if engine is not None:
                yield from checks.engine_matches_hardware(engine, info)
            yield from checks.fp8_needs_hardware(settings.quantization, info)
            yield from image_region(self, bound)
            if autoscaling is not None:
                yield from schedule_checks(autoscaling, upper=instances.max, lower=1)

        add_rules(self, rules, schedule_spelling(SPELLING, autoscaling))

    def _autoscale(self, autoscaling: Autoscaling, instances: Counts) -> None:
        target = appscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{self.variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=instances.min,
            max_capacity=instances.max,
            role=roles.autoscaling_role(self),
        )
        target.node.add_dependency(self._endpoint_resource)
        target.scale_to_track_metric(
            "TargetTracking",
            target_value=autoscaling.target,
            predefined_metric=_VARIANT_METRIC[autoscaling.metric],
            scale_in_cooldown=autoscaling.scale_in_cooldown,
            scale_out_cooldown=autoscaling.scale_out_cooldown,
        )
        add_schedule(target, autoscaling)
        self.scalable_target = target

    @property
    def cfn_endpoint(self) -> sagemaker.CfnEndpoint:
        """Escape hatch: the L1 endpoint (also `node.default_child`)."""
        return self._endpoint_resource

    @property
    def cfn_endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        """Escape hatch: the L1 endpoint config."""
        return self._config

    @property
    def cfn_model(self) -> sagemaker.CfnModel:
        """Escape hatch: the L1 SageMaker Model."""
        return self._model

    @staticmethod
    def from_endpoint_name(scope: Construct, id: str, endpoint_name: str) -> IDedicatedEndpoint:
        """A single-model endpoint this app does not own, by name."""
        return ImportedDedicatedEndpoint(scope, id, EndpointAttributes(endpoint_name), None)

    @staticmethod
    def from_endpoint_arn(scope: Construct, id: str, endpoint_arn: str) -> IDedicatedEndpoint:
        """A single-model endpoint this app does not own, by ARN."""
        name = name_from_arn(endpoint_arn, "endpoint", "endpoint")
        return ImportedDedicatedEndpoint(scope, id, EndpointAttributes(name), endpoint_arn)

    @staticmethod
    def from_endpoint_attributes(
        scope: Construct, id: str, attrs: EndpointAttributes
    ) -> IDedicatedEndpoint:
        """A single-model endpoint this app does not own, by its attributes."""
        return ImportedDedicatedEndpoint(scope, id, attrs, None)
