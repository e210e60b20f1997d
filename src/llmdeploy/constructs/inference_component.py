"""`InferenceComponent`: one model on a shared endpoint, with its copies, autoscaling
(including scale to zero and back) and a rolling update guarded by alarms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Resource
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy.catalog import engines
from llmdeploy.constructs import alarms, roles
from llmdeploy.constructs.base import (
    EndpointBase,
    IDedicatedEndpoint,
    IInferenceComponent,
    IInferenceEndpoint,
    add_rules,
    checked_name,
    generated_name,
    image_region,
    name_from_arn,
    network,
)
from llmdeploy.constructs.model import container_settings, sagemaker_model
from llmdeploy.constructs.types import (
    Autoscaling,
    ComponentRollout,
    ContainerImage,
    Counts,
    LmiSettings,
    ModelData,
    RollbackAlarms,
    add_schedule,
    schedule_checks,
    schedule_spelling,
)
from llmdeploy.plan import checks
from llmdeploy.plan import schedule as schedules

_METRICS = appscaling.PredefinedMetric
_PREDEFINED = {
    "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution": (
        _METRICS.SAGEMAKER_INFERENCE_COMPONENT_CONCURRENT_REQUESTS_PER_COPY_HIGH_RESOLUTION
    ),
    "SageMakerInferenceComponentInvocationsPerCopy": (
        _METRICS.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY
    ),
}
# How the rules (`plan.checks`) name this construct's props.
SPELLING = {
    "accelerators": "accelerators",
    "memory_mib": "memory_mib",
    "cpu_cores": "cpu_cores",
    "tensor_parallel_degree": "lmi.tensor_parallel_degree",
    "quantization": "lmi.quantization",
    "copies_min": "copies.min",
    "copies_max": "copies.max",
    "engine": "image",
    "engine_choice": "an image of engine",
    "image": "image",
    "endpoint": "endpoint",
    "add_autoscaling": "pass autoscaling=Autoscaling(target=4)",
}


@dataclass(frozen=True)
class InferenceComponentAttributes:
    """An inference component this app does not own, and the endpoint it runs on."""

    inference_component_name: str
    endpoint: IInferenceEndpoint


class _ImportedComponent(Resource, IInferenceComponent):
    def __init__(self, scope, id, attrs: InferenceComponentAttributes, arn: str | None):
        super().__init__(scope, id, environment_from_arn=arn)
        self.inference_component_name = checked_name(
            attrs.inference_component_name, "inference component name"
        )
        self.endpoint = attrs.endpoint
        self._arn = arn

    @property
    def inference_component_arn(self) -> str:
        return self._arn or IInferenceComponent.inference_component_arn.fget(self)  # type: ignore[attr-defined]


class InferenceComponent(Resource, IInferenceComponent):
    """A model served by copies on an `LlmEndpoint` (or an imported `IInferenceEndpoint`).

    Created: a SageMaker Model (image, weights, environment; weights in an S3 prefix are
    copied uncompressed) with its own execution role, which may read exactly this model's
    weights, pull exactly its image repository and write its logs; the inference component
    on it (compute per copy, startup timeouts, copy count, rolling update by copies that rolls
    back on ``rollback`` alarms); with ``autoscaling`` a scalable target on DesiredCopyCount
    and target tracking, its ``schedule`` as scheduled actions on that target, and when
    ``copies.min`` (or a scheduled action's min) is 0 the wake-from-zero step policy and its
    NoCapacityInvocationFailures alarm, which fires on the first refused request.

    At synth, llmdeploy's rules check the props as `llmdeploy validate` checks a spec (a copy
    fits the endpoint's instances, tensor parallelism matches the accelerators, scale to zero
    has autoscaling, the engine fits the hardware, the image is in the stack's region, the
    endpoint hosts components): a broken rule fails `cdk synth` with its id and the fix.

    :param endpoint: where the copies run: an `LlmEndpoint` or `LlmEndpoint.from_*`.
    :param image: the serving container: ``ContainerImage.djl_lmi()`` (the catalog's image
        for the stack's region), ``ContainerImage.djl_neuronx()``, ``ContainerImage.from_uri``.
    :param accelerators: GPUs or NeuronCores per copy.
    :param memory_mib: host memory reserved per copy (SageMaker requires it).
    :param copies: ``Counts(min, initial, max)``; min 0 lets the model scale to zero.
    :param inference_component_name: default: derived from the construct path (stable).
    :param model_data: ``ModelData.from_s3_uri`` or ``from_bucket``. Default: none (the
        container downloads its weights).
    :param lmi: DJL-LMI settings, compiled to the container's environment as the YAML path
        does (tensor parallelism defaults to ``accelerators``). Default: none.
    :param environment: raw container variables on top of ``lmi``'s (at most 16 in all).
    :param cpu_cores: reserved per copy. Default: not reserved.
    :param autoscaling: default: none (the copy count stays at ``copies.initial``).
    :param rollout: the rolling update of copies. Default: 1 copy at a time, 2 minutes
        between batches (compiled as SageMaker's 5-50% share of ``copies.max``; a rollback
        moves the same share, docs/rollouts.md).
    :param rollback: alarms that roll an update back. Default: none.
    :param startup_timeout: for the weights' download and the container's first health check
        each (large models load slowly). Default: 30 minutes.
    :param network_isolation, vpc, vpc_subnets, security_groups: for the SageMaker Model.
        Default: isolated, no VPC.
    :param role: the Model's execution role. Default: a new one with the grants above.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: IInferenceEndpoint,
        image: ContainerImage,
        accelerators: int,
        memory_mib: int,
        copies: Counts,
        inference_component_name: str | None = None,
        model_data: ModelData = ModelData(),
        lmi: LmiSettings | None = None,
        environment: Mapping[str, str] | None = None,
        cpu_cores: float | None = None,
        autoscaling: Autoscaling | None = None,
        rollout: ComponentRollout | None = None,
        rollback: RollbackAlarms = RollbackAlarms(),
        startup_timeout: Duration | None = None,
        network_isolation: bool = True,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        role: iam.IRole | None = None,
    ) -> None:
        rollout = rollout or ComponentRollout()
        _, most = engines.rolling_batch_limits(copies.max)
        if not 1 <= rollout.batch_copies <= most:
            raise ValueError(
                f"rollout batch_copies={rollout.batch_copies}: SageMaker replaces at most 50% "
                f"of the copies per batch, {most} of copies.max {copies.max}. Set batch_copies "
                f"between 1 and {most}, or raise copies.max to {2 * rollout.batch_copies}."
            )
        if inference_component_name is not None:
            checked_name(inference_component_name, "inference_component_name")
        super().__init__(scope, id, physical_name=inference_component_name)
        self.endpoint = endpoint
        self.copies = copies
        self.inference_component_name = inference_component_name or generated_name(self)
        name = self.inference_component_name
        subnets, groups = network(self, vpc, vpc_subnets, security_groups)
        # Each model has its own execution role, which its SageMaker Model uses to pull the
        # image and read the weights. Grants of models sharing an endpoint never collide, and
        # the endpoint role's 10 KB of inline policy never caps how many models it hosts.
        self.role = role or roles.model_role(self, name, in_vpc=bool(subnets))
        bound, env, timeout = container_settings(
            self,
            image,
            lmi,
            environment,
            model_data,
            devices=accelerators,
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
            subnets=subnets,
            security_groups=groups,
        )
        self.rollback_alarms = tuple(
            alarms.rollback_alarms(
                self,
                name,
                {"InferenceComponentName": name},
                error_rate_percent=rollback.error_rate_percent,
                p95_latency_ms=rollback.p95_latency_ms,
            )
        )
        self._component = self._build(
            endpoint, accelerators, memory_mib, cpu_cores, copies, rollout, timeout
        )
        if isinstance(endpoint, EndpointBase):
            self._component.node.add_dependency(endpoint.node.default_child)

        self.scalable_target: appscaling.ScalableTarget | None = None
        self.wake_alarm: cw.Alarm | None = None
        if autoscaling is not None:
            self._autoscale(autoscaling)
        self._add_rules(
            endpoint, bound, lmi or LmiSettings(), accelerators, memory_mib, cpu_cores, autoscaling
        )

    def _build(self, endpoint, accelerators, memory_mib, cpu_cores, copies, rollout, timeout):
        ic = sagemaker.CfnInferenceComponent
        # A share, not a copy count: in SageMaker's 5-50% whatever count autoscaling has set.
        batch_percent = engines.rolling_batch_percent(rollout.batch_copies, copies.max)
        batch = ic.InferenceComponentCapacitySizeProperty(
            type="CAPACITY_PERCENT", value=batch_percent
        )
        batches = min(max(1, copies.max), -(-100 // batch_percent))
        wait = rollout.wait_seconds
        return ic(
            self,
            "Resource",
            endpoint_name=endpoint.endpoint_name,
            variant_name=endpoint.variant_name,
            inference_component_name=self.inference_component_name,
            specification=ic.InferenceComponentSpecificationProperty(
                model_name=self._model.attr_model_name,
                startup_parameters=ic.InferenceComponentStartupParametersProperty(
                    model_data_download_timeout_in_seconds=timeout,
                    container_startup_health_check_timeout_in_seconds=timeout,
                ),
                compute_resource_requirements=ic.InferenceComponentComputeResourceRequirementsProperty(
                    number_of_accelerator_devices_required=accelerators,
                    number_of_cpu_cores_required=cpu_cores,
                    min_memory_required_in_mb=memory_mib,
                ),
            ),
            runtime_config=ic.InferenceComponentRuntimeConfigProperty(copy_count=copies.initial),
            deployment_config=ic.InferenceComponentDeploymentConfigProperty(
                rolling_update_policy=ic.InferenceComponentRollingUpdatePolicyProperty(
                    maximum_batch_size=batch,
                    rollback_maximum_batch_size=batch,
                    wait_interval_in_seconds=wait,
                    # Each batch loads weights (up to the startup timeout) and bakes.
                    maximum_execution_timeout_in_seconds=min(
                        28_800, max(600, (timeout + wait) * batches)
                    ),
                ),
                auto_rollback_configuration=ic.AutoRollbackConfigurationProperty(
                    alarms=[ic.AlarmProperty(alarm_name=a.alarm_name) for a in self.rollback_alarms]
                )
                if self.rollback_alarms
                else None,
            ),
        )

    def _add_rules(self, endpoint, bound, lmi, accelerators, memory_mib, cpu_cores, autoscaling):
        """llmdeploy's rules on these props, run when the app synthesizes."""
        instance = (
            endpoint.instance_type.catalog if getattr(endpoint, "instance_type", None) else None
        )
        copies = self.copies

        def rules():
            if not isinstance(endpoint, IInferenceEndpoint):
                kind = (
                    "a dedicated endpoint"
                    if isinstance(endpoint, IDedicatedEndpoint)
                    else (f"{type(endpoint).__name__}")
                )
                yield checks.Finding(
                    "inference-component-on-shared-endpoint",
                    "endpoint",
                    f"{kind} hosts no inference components: SageMaker refuses one there",
                    endpoint.endpoint_name,
                    "place the component on an LlmEndpoint (or LlmEndpoint.from_endpoint_name)",
                )
            yield from checks.copy_fits_instance(instance, accelerators, memory_mib, cpu_cores)
            yield from checks.tp_matches_accelerators(
                lmi.tensor_parallel_degree, accelerators, instance
            )
            yield from checks.scale_to_zero_needs_autoscaling(
                copies.min, copies.initial, copies.max, autoscaling is not None
            )
            if autoscaling is not None:
                yield from schedule_checks(autoscaling, upper=copies.max, lower=0)
            if bound.engine is not None:
                yield from checks.engine_matches_hardware(bound.engine, instance)
            yield from checks.fp8_needs_hardware(lmi.quantization, instance)
            yield from image_region(self, bound)

        add_rules(self, rules, schedule_spelling(SPELLING, autoscaling))

    def _autoscale(self, scaling: Autoscaling) -> None:
        target = appscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{self.inference_component_name}",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            min_capacity=self.copies.min,
            max_capacity=self.copies.max,
            role=roles.autoscaling_role(self),
        )
        target.node.add_dependency(self._component)
        target.scale_to_track_metric(
            "TargetTracking",
            target_value=scaling.target,
            predefined_metric=_PREDEFINED[scaling.metric.value],
            scale_in_cooldown=scaling.scale_in_cooldown,
            scale_out_cooldown=scaling.scale_out_cooldown,
        )
        self.scalable_target = target
        add_schedule(target, scaling)
        if self.copies.min > 0 and not schedules.reaches_zero(scaling.schedule):
            return
        # Target tracking cannot leave zero copies (a per-copy metric has no value at zero):
        # a request refused for lack of capacity raises this alarm, which adds one copy. A
        # schedule that lets the copies go to zero at night needs it as much as copies.min 0.
        wake = appscaling.StepScalingAction(
            self,
            "WakeFromZero",
            scaling_target=target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.seconds(60),
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )
        wake.add_adjustment(adjustment=1, lower_bound=0)
        self.wake_alarm = cw.Alarm(
            self,
            "WakeAlarm",
            alarm_name=f"{self.inference_component_name}-wake-from-zero",
            metric=self.metric_no_capacity_invocation_failures(),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="A request found no copy: scale the model up from zero",
        )
        self.wake_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(wake))

    @property
    def cfn_inference_component(self) -> sagemaker.CfnInferenceComponent:
        """Escape hatch: the L1 inference component (also `node.default_child`)."""
        return self._component

    @property
    def cfn_model(self) -> sagemaker.CfnModel:
        """Escape hatch: the L1 SageMaker Model the copies run."""
        return self._model

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        """Apply ``policy`` to the inference component and its SageMaker Model."""
        self._component.apply_removal_policy(policy)
        self._model.apply_removal_policy(policy)

    @staticmethod
    def from_inference_component_name(
        scope: Construct, id: str, inference_component_name: str, endpoint: IInferenceEndpoint
    ) -> IInferenceComponent:
        """A component this app does not own, on ``endpoint``, by name."""
        return _ImportedComponent(
            scope, id, InferenceComponentAttributes(inference_component_name, endpoint), None
        )

    @staticmethod
    def from_inference_component_arn(
        scope: Construct, id: str, inference_component_arn: str, endpoint: IInferenceEndpoint
    ) -> IInferenceComponent:
        """A component this app does not own, on ``endpoint``, by ARN."""
        name = name_from_arn(inference_component_arn, "inference-component", "inference component")
        return _ImportedComponent(
            scope,
            id,
            InferenceComponentAttributes(name, endpoint),
            inference_component_arn,
        )

    @staticmethod
    def from_inference_component_attributes(
        scope: Construct, id: str, attrs: InferenceComponentAttributes
    ) -> IInferenceComponent:
        """A component this app does not own, by its attributes."""
        return _ImportedComponent(scope, id, attrs, None)
