"""CloudWatch dashboards: one per endpoint (its instances, and every model on a shared one),
and an overview of several endpoints. docs/dashboards.md has each metric with its source.

The bodies are built here as plain JSON, not with `cw.GraphWidget`: a graph of N models
repeats one metric with N dimension values, and CloudWatch's "." shorthand (the same value
as the line above) keeps each further line to ~40 bytes, so hundreds of models fit one
CloudFormation template (51,200 bytes). The bodies contain no tokens when the region is
given: the template holds one plain, deterministic string per dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from llmdeploy.constructs.base import DEFAULT_VARIANT

SAGEMAKER = "AWS/SageMaker"  # invocation metrics: EndpointName+VariantName, InferenceComponentName
INSTANCES = "/aws/sagemaker/Endpoints"  # per instance: EndpointName+VariantName
COMPONENTS = "/aws/sagemaker/InferenceComponents"  # per copy: InferenceComponentName

# CloudWatch: at most 500 metrics in one graph and 2,500 in one dashboard.
MAX_METRICS_PER_GRAPH = 500
MAX_METRICS_PER_DASHBOARD = 2500

_WIDTH, _HEIGHT, _COLUMNS = 8, 6, 24
_MINUTE = 60


@dataclass(frozen=True)
class _Graph:
    title: str
    namespace: str
    metric: str
    stat: str
    label: str = ""  # the left axis


# One line per model in each (the model's inference component as the dimension).
COMPONENT_GRAPHS = (
    _Graph("Invocations", SAGEMAKER, "Invocations", "Sum", "requests / minute"),
    _Graph("Model latency p50", SAGEMAKER, "ModelLatency", "p50", "microseconds"),
    _Graph("Model latency p95", SAGEMAKER, "ModelLatency", "p95", "microseconds"),
    _Graph("5XX errors", SAGEMAKER, "Invocation5XXErrors", "Sum", "requests / minute"),
    _Graph("4XX errors", SAGEMAKER, "Invocation4XXErrors", "Sum", "requests / minute"),
    _Graph(
        "Model errors (not 2XX)", SAGEMAKER, "InvocationModelErrors", "Sum", "requests / minute"
    ),
    _Graph(
        "Refused: no copy running", SAGEMAKER, "NoCapacityInvocationFailures", "Sum", "requests"
    ),
    _Graph(
        "Concurrent requests per copy",
        SAGEMAKER,
        "ConcurrentRequestsPerCopy",
        "Maximum",
        "requests",
    ),
    # One datapoint per copy and minute ("reported by each copy"): an estimate of the copies.
    _Graph("Copies (~ samples per minute)", COMPONENTS, "CPUUtilizationNormalized", "SampleCount"),
)
MAX_COMPONENTS = min(MAX_METRICS_PER_GRAPH, MAX_METRICS_PER_DASHBOARD // len(COMPONENT_GRAPHS) - 1)

# Of the endpoint's instances. The *Normalized metrics (0-100%, whatever the device count)
# exist only for endpoints that host inference components.
_SHARED_INSTANCE_GRAPHS = (
    (
        "Accelerators",
        ("GPUUtilizationNormalized", "GPUMemoryUtilizationNormalized", "GPUReservation"),
    ),
    ("Host", ("CPUUtilizationNormalized", "MemoryUtilization", "MemoryReservation")),
)
_DEDICATED_INSTANCE_GRAPHS = (
    ("Accelerators (100% per device)", ("GPUUtilization", "GPUMemoryUtilization")),
    ("Host", ("CPUUtilization", "MemoryUtilization")),
)


def _graph(
    title: str, region: str, metrics: list[list[Any]], *, stat: str, label: str = ""
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "stat": stat,
        "period": _MINUTE,
        "metrics": metrics,
    }
    if label:
        props["yAxis"] = {"left": {"label": label, "showUnits": False, "min": 0}}
    return {"type": "metric", "properties": props}


def _text(markdown: str) -> dict[str, Any]:
    return {"type": "text", "properties": {"markdown": markdown}}


def _endpoint_dims(endpoint_name: str, variant_name: str) -> list[str]:
    return ["EndpointName", endpoint_name, "VariantName", variant_name]


def _instances_graph(endpoint_name: str, variant_name: str, region: str) -> dict[str, Any]:
    # One CPUUtilization datapoint per instance and minute: an estimate of the instances.
    return _graph(
        "Instances (~ samples per minute)",
        region,
        [[INSTANCES, "CPUUtilization", *_endpoint_dims(endpoint_name, variant_name)]],
        stat="SampleCount",
    )


def _per_component(graph: _Graph, names: Sequence[str], region: str) -> dict[str, Any]:
    first, *rest = names
    lines = [[graph.namespace, graph.metric, "InferenceComponentName", first]]
    lines += [[".", ".", ".", name] for name in rest]
    return _graph(graph.title, region, lines, stat=graph.stat, label=graph.label)


def _layout(header: dict[str, Any], widgets: Sequence[dict[str, Any]]) -> str:
    """A full-width header, then the widgets three to a row; compact, deterministic JSON."""
    placed = [{**header, "x": 0, "y": 0, "width": _COLUMNS, "height": 2}]
    per_row = _COLUMNS // _WIDTH
    for i, widget in enumerate(widgets):
        row, column = divmod(i, per_row)
        placed.append(
            {
                **widget,
                "x": column * _WIDTH,
                "y": 2 + row * _HEIGHT,
                "width": _WIDTH,
                "height": _HEIGHT,
            }
        )
    return json.dumps({"widgets": placed}, separators=(",", ":"), ensure_ascii=False)


def endpoint_body(
    endpoint_name: str,
    region: str,
    component_names: Sequence[str],
    *,
    variant_name: str = DEFAULT_VARIANT,
    max_components: int = MAX_COMPONENTS,
) -> str:
    """A shared endpoint's dashboard: its instances, then one graph per metric with a line
    for each of the first ``max_components`` models (by name)."""
    names = sorted(component_names)
    shown = names[: max(0, min(max_components, MAX_COMPONENTS))]
    widgets = [_instances_graph(endpoint_name, variant_name, region)]
    dims = _endpoint_dims(endpoint_name, variant_name)
    for title, metrics in _SHARED_INSTANCE_GRAPHS:
        lines = [[INSTANCES, m, *dims] for m in metrics]
        widgets.append(_graph(title, region, lines, stat="Average", label="percent"))
    if shown:
        widgets += [_per_component(g, shown, region) for g in COMPONENT_GRAPHS]
    header = f"## Endpoint {endpoint_name}\n{len(names)} model(s) on it"
    if len(shown) < len(names):
        header += (
            f"; the graphs show {len(shown)} (by name): the others' metrics are under "
            f"{SAGEMAKER}, dimension InferenceComponentName (docs/dashboards.md, limits)"
        )
    return _layout(_text(header + "."), widgets)


def dedicated_body(endpoint_name: str, region: str, *, variant_name: str = DEFAULT_VARIANT) -> str:
    """A single-model endpoint's dashboard: its requests, latency, errors and instances."""
    dims = _endpoint_dims(endpoint_name, variant_name)
    widgets = [
        _graph(g.title, region, [[SAGEMAKER, g.metric, *dims]], stat=g.stat, label=g.label)
        for g in COMPONENT_GRAPHS[:6]  # the invocation metrics; the rest are per component
    ]
    widgets.append(_instances_graph(endpoint_name, variant_name, region))
    for title, metrics in _DEDICATED_INSTANCE_GRAPHS:
        lines = [[INSTANCES, m, *dims] for m in metrics]
        widgets.append(_graph(title, region, lines, stat="Average", label="percent"))
    return _layout(
        _text(f"## Endpoint {endpoint_name}\nOne model, on instances of its own."), widgets
    )


@dataclass(frozen=True)
class OverviewEndpoint:
    """One endpoint in an overview: its SageMaker name, and ``dashboard`` (its own dashboard,
    named in the overview's header)."""

    endpoint_name: str
    variant_name: str = DEFAULT_VARIANT
    dashboard: str | None = None


def overview_body(title: str, region: str, endpoints: Sequence[OverviewEndpoint]) -> str:
    """A line per endpoint: requests, 5XX errors, p95 model latency, instances, and its
    instances' CPU and memory (the metrics every endpoint kind has)."""
    graphs = (
        ("Invocations", SAGEMAKER, "Invocations", "Sum", "requests / minute"),
        ("5XX errors", SAGEMAKER, "Invocation5XXErrors", "Sum", "requests / minute"),
        ("Model latency p95", SAGEMAKER, "ModelLatency", "p95", "microseconds"),
        ("Instances (~ samples per minute)", INSTANCES, "CPUUtilization", "SampleCount", ""),
        ("Host memory", INSTANCES, "MemoryUtilization", "Average", "percent"),
    )
    widgets = [
        _graph(
            name,
            region,
            [[ns, metric, *_endpoint_dims(e.endpoint_name, e.variant_name)] for e in endpoints],
            stat=stat,
            label=label,
        )
        for name, ns, metric, stat, label in graphs
        if endpoints
    ]
    listed = "\n".join(
        f"- {e.endpoint_name}" + (f": dashboard {e.dashboard}" if e.dashboard else "")
        for e in endpoints
    )
    header = f"## {title}\n" + (listed or "No endpoints.")
    return _layout(_text(header), widgets)


class LlmDashboard(Construct):
    """A CloudWatch dashboard with a body from `endpoint_body`, `dedicated_body` or
    `overview_body`, under a stable name (a dashboard name is unique in an account, across
    regions).

    :param dashboard_name: 1-255 of A-Z, a-z, 0-9, - and _.
    :param body: the dashboard body (JSON).
    """

    def __init__(self, scope: Construct, id: str, *, dashboard_name: str, body: str) -> None:
        super().__init__(scope, id)
        if not 1 <= len(dashboard_name) <= 255 or not all(
            c.isascii() and (c.isalnum() or c in "-_") for c in dashboard_name
        ):
            raise ValueError(
                f"dashboard_name {dashboard_name!r}: CloudWatch allows 1-255 characters of "
                "A-Z, a-z, 0-9, - and _"
            )
        self.dashboard_name = dashboard_name
        self._dashboard = cw.CfnDashboard(
            self, "Resource", dashboard_name=dashboard_name, dashboard_body=body
        )

    @property
    def cfn_dashboard(self) -> cw.CfnDashboard:
        """Escape hatch: the L1 dashboard."""
        return self._dashboard

    @property
    def dashboard_arn(self) -> str:
        # Dashboards are global: no region in the ARN.
        return Stack.of(self).format_arn(
            service="cloudwatch", region="", resource="dashboard", resource_name=self.dashboard_name
        )


def fit_components(
    bodies: Sequence[tuple[str, Sequence[str]]], region: str, budget_bytes: int
) -> int:
    """The most models per shared endpoint whose dashboards, with the given ``bodies``
    (endpoint name, its models), take at most ``budget_bytes`` as template strings."""

    def size(cap: int) -> int:
        return sum(
            len(json.dumps(endpoint_body(e, region, names, max_components=cap)))
            for e, names in bodies
        )

    cap = max((len(names) for _, names in bodies), default=0)
    cap = min(cap, MAX_COMPONENTS)
    while cap > 0 and size(cap) > budget_bytes:
        cap -= max(1, cap // 10)
    return max(cap, 0)
