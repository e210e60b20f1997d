"""SageMaker's CloudWatch metrics and the alarms deployments roll back on."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from llmdeploy.constructs import _cached

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# What `cw.MetricOptions` may carry (aws-cdk-lib 2.x): passed through to `Metric.with_`.
_OPTION_FIELDS = (
    "account",
    "color",
    "dimensions_map",
    "label",
    "period",
    "region",
    "statistic",
    "unit",
    "stack_account",
    "stack_region",
)


def sagemaker_metric(
    metric_name: str,
    dimensions: Mapping[str, str],
    props: cw.MetricOptions | None = None,
    *,
    statistic: str = "Sum",
) -> cw.Metric:
    """A metric in AWS/SageMaker with ``dimensions``, one-minute ``statistic`` by default;
    ``props`` (aws-cdk-lib's MetricOptions) changes any of it, as L2 metrics do."""
    metric = cw.Metric(
        namespace=SAGEMAKER_NAMESPACE,
        metric_name=metric_name,
        dimensions_map=dict(dimensions),
        statistic=statistic,
        period=_cached.minutes(1),
    )
    if props is None:
        return metric
    if not isinstance(props, cw.MetricOptions):
        raise TypeError(f"metric options: give aws_cloudwatch.MetricOptions, not {props!r}")
    given = {f: getattr(props, f, None) for f in _OPTION_FIELDS}
    given = {f: v for f, v in given.items() if v is not None}
    return metric.with_(**given) if given else metric


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
        period=_cached.minutes(1),
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
