"""`InferenceComponent`: one model on a shared endpoint, with its copies, autoscaling
(including scale to zero and back) and a rolling update guarded by alarms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Names, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy.catalog import engines
from llmdeploy.constructs import _common
from llmdeploy.constructs.endpoint import IEndpoint
from llmdeploy.constructs.types import Autoscaling, Counts, ModelData, RollbackAlarms

_METRICS = appscaling.PredefinedMetric
_PREDEFINED = {
    "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution": (
        _METRICS.SAGEMAKER_INFERENCE_COMPONENT_CONCURRENT_REQUESTS_PER_COPY_HIGH_RESOLUTION
    ),
    "SageMakerInferenceComponentInvocationsPerCopy": (
        _METRICS.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY
    ),
}


class InferenceComponent(Construct):
    """A model served by copies on an `LlmEndpoint` (or an imported endpoint).

    Created: a SageMaker Model (image, weights, environment; weights in an S3 prefix are
    copied uncompressed) with its own execution role, which may read exactly this model's
    weights, pull exactly its image repository and write its logs; the inference component
    on it (compute per copy, startup timeouts, copy count, rolling update by copies that rolls
    back on ``rollback`` alarms); with ``autoscaling`` a scalable target on DesiredCopyCount
    and target tracking, and when ``copies.min`` is 0 the wake-from-zero step policy and its
    NoCapacityInvocationFailures alarm, which fires on the first refused request.

    :param endpoint: where the copies run.
    :param image_uri: the serving container (e.g. a DJL-LMI image).
    :param accelerators: GPUs or Neuron devices per copy.
    :param memory_mib: host memory reserved per copy (SageMaker requires it).
    :param copies: ``Counts(min, initial, max)``; min 0 lets the model scale to zero.
    :param inference_component_name: default: derived from the construct path (stable).
    :param model_data: default: none (the container downloads its weights).
    :param environment: container variables (at most 16).
    :param cpu_cores: reserved per copy. Default: not reserved.
    :param autoscaling: default: none (the copy count stays at ``copies.initial``).
    :param rollout_batch_copies, rollout_wait_seconds: the rolling update. Default: 1 copy,
        2 minutes between batches. SageMaker's batch is 5% to 50% of the live copy count, which
        autoscaling moves: the batch is compiled as the share of ``copies.max`` that is
        ``rollout_batch_copies`` copies (50% for a one-copy model: one copy), at most half of
        ``copies.max``; a rollback moves the same share (not SageMaker's default 100%, which
        would need room for every old copy at once). docs/rollouts.md has the sources.
    :param rollback: alarms that roll an update back. Default: none.
    :param startup_timeout_seconds: for the weights download and the container's first
        health check each (large models load slowly). Default: 1800 s.
    :param network_isolation, vpc_subnets, security_groups: for the SageMaker Model.
        Default: isolated, no VPC.
    :param role: the Model's execution role. Default: a new one with the grants above.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: IEndpoint,
        image_uri: str,
        accelerators: int,
        memory_mib: int,
        copies: Counts,
        inference_component_name: str | None = None,
        model_data: ModelData = ModelData(),
        environment: Mapping[str, str] | None = None,
        cpu_cores: float | None = None,
        autoscaling: Autoscaling | None = None,
        rollout_batch_copies: int = 1,
        rollout_wait_seconds: int = 120,
        rollback: RollbackAlarms = RollbackAlarms(),
        startup_timeout_seconds: int = 1800,
        network_isolation: bool = True,
        vpc_subnets: Sequence[ec2.ISubnet] = (),
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, id)
        environment = dict(environment or {})
        if not 60 <= startup_timeout_seconds <= 3600:
            raise ValueError("startup_timeout_seconds must be between 60 and 3600")
        _, most = engines.rolling_batch_limits(copies.max)
        if not 1 <= rollout_batch_copies <= most:
            raise ValueError(
                f"rollout_batch_copies={rollout_batch_copies}: SageMaker replaces at most 50% of "
                f"the copies per batch, {most} of copies.max {copies.max}. Set "
                f"rollout_batch_copies between 1 and {most}, or raise copies.max to "
                f"{2 * rollout_batch_copies}."
            )
        self.endpoint = endpoint
        self.copies = copies
        self.inference_component_name = (
            inference_component_name
            or Names.unique_resource_name(
                self, max_length=63, separator="-", allowed_special_characters="-"
            ).lower()
        )
        name = self.inference_component_name
        # Each model has its own execution role, which its SageMaker Model uses to pull the
        # image and read the weights. Grants of models sharing an endpoint never collide, and
        # the endpoint role's 10 KB of inline policy never caps how many models it hosts.
        self.role = role or _common.model_role(self, name, in_vpc=bool(vpc_subnets))
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

        dims = {"InferenceComponentName": name}
        alarms = _common.rollback_alarms(
            self,
            name,
            dims,
            error_rate_percent=rollback.error_rate_percent,
            p95_latency_ms=rollback.p95_latency_ms,
        )
        self.rollback_alarms = tuple(alarms)
        ic = sagemaker.CfnInferenceComponent
        # A share, not a copy count: in SageMaker's 5-50% whatever count autoscaling has set.
        batch_percent = engines.rolling_batch_percent(rollout_batch_copies, copies.max)
        batch = ic.InferenceComponentCapacitySizeProperty(
            type="CAPACITY_PERCENT", value=batch_percent
        )
        batches = min(max(1, copies.max), -(-100 // batch_percent))
        self._component = ic(
            self,
            "Resource",
            endpoint_name=endpoint.endpoint_name,
            variant_name=endpoint.variant_name,
            inference_component_name=name,
            specification=ic.InferenceComponentSpecificationProperty(
                model_name=self._model.attr_model_name,
                startup_parameters=ic.InferenceComponentStartupParametersProperty(
                    model_data_download_timeout_in_seconds=startup_timeout_seconds,
                    container_startup_health_check_timeout_in_seconds=startup_timeout_seconds,
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
                    wait_interval_in_seconds=rollout_wait_seconds,
                    # Each batch loads weights (up to the startup timeout) and bakes.
                    maximum_execution_timeout_in_seconds=min(
                        28_800,
                        max(600, (startup_timeout_seconds + rollout_wait_seconds) * batches),
                    ),
                ),
                auto_rollback_configuration=ic.AutoRollbackConfigurationProperty(
                    alarms=[ic.AlarmProperty(alarm_name=a.alarm_name) for a in alarms]
                )
                if alarms
                else None,
            ),
        )
        if isinstance(endpoint, Construct) and hasattr(endpoint, "cfn_endpoint"):
            self._component.node.add_dependency(endpoint.cfn_endpoint)

        self.scalable_target: appscaling.ScalableTarget | None = None
        self.wake_alarm: cw.Alarm | None = None
        if autoscaling is not None:
            self._autoscale(autoscaling)

    def _autoscale(self, scaling: Autoscaling) -> None:
        target = appscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{self.inference_component_name}",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            min_capacity=self.copies.min,
            max_capacity=self.copies.max,
            role=_common.autoscaling_role(self),
        )
        target.node.add_dependency(self._component)
        target.scale_to_track_metric(
            "TargetTracking",
            target_value=scaling.target,
            predefined_metric=_PREDEFINED[scaling.metric.value],
            scale_in_cooldown=Duration.seconds(scaling.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(scaling.scale_out_cooldown_seconds),
        )
        self.scalable_target = target
        if self.copies.min > 0:
            return
        # Target tracking cannot leave zero copies (a per-copy metric has no value at zero):
        # a request refused for lack of capacity raises this alarm, which adds one copy.
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
        """Escape hatch: the L1 inference component."""
        return self._component

    @property
    def cfn_model(self) -> sagemaker.CfnModel | None:
        """Escape hatch: the L1 model (only for weights in an S3 prefix)."""
        return self._model

    @property
    def inference_component_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="sagemaker",
            resource="inference-component",
            resource_name=self.inference_component_name.lower(),
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` invoke this model through its endpoint."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
            resource_arns=[self.endpoint.endpoint_arn, self.inference_component_arn],
        )

    def metric(
        self, metric_name: str, *, statistic: str = "Sum", period: Duration | None = None
    ) -> cw.Metric:
        """A metric of this inference component in AWS/SageMaker."""
        return _common.sagemaker_metric(
            metric_name,
            {"InferenceComponentName": self.inference_component_name},
            statistic=statistic,
            period=period,
        )

    def metric_invocations(self, **kw) -> cw.Metric:
        return self.metric("Invocations", **kw)

    def metric_invocation_5xx_errors(self, **kw) -> cw.Metric:
        return self.metric("Invocation5XXErrors", **kw)

    def metric_model_latency(self, *, statistic: str = "p95", **kw) -> cw.Metric:
        """Microseconds, as SageMaker reports it."""
        return self.metric("ModelLatency", statistic=statistic, **kw)

    def metric_no_capacity_invocation_failures(self, **kw) -> cw.Metric:
        """Requests refused because no copy was running (scale to zero)."""
        return self.metric("NoCapacityInvocationFailures", **kw)

    def metric_concurrent_requests_per_copy(self, *, statistic: str = "Maximum", **kw) -> cw.Metric:
        return self.metric("ConcurrentRequestsPerCopy", statistic=statistic, **kw)
