"""CDK constructs for LLMs on SageMaker inference components, usable without YAML.

    from llmdeploy.constructs import LlmEndpoint, InferenceComponent, InstanceType

Shaped like AWS CDK L2s: typed props with documented defaults, the L1 resources private but
reachable (`cfn_endpoint`, `cfn_inference_component`…), `from_*` importers, `grant_invoke`
and `metric_*` helpers. `llmdeploy synth` builds these same constructs from the YAML specs.
"""

from llmdeploy.constructs.dedicated import DedicatedEndpoint
from llmdeploy.constructs.endpoint import IEndpoint, LlmEndpoint
from llmdeploy.constructs.inference_component import InferenceComponent
from llmdeploy.constructs.types import (
    Autoscaling,
    Counts,
    EndpointRollout,
    InstanceType,
    ModelData,
    RollbackAlarms,
    RolloutStrategy,
    RoutingStrategy,
    ScalingMetric,
)

__all__ = [
    "Autoscaling",
    "Counts",
    "DedicatedEndpoint",
    "EndpointRollout",
    "IEndpoint",
    "InferenceComponent",
    "InstanceType",
    "LlmEndpoint",
    "ModelData",
    "RollbackAlarms",
    "RolloutStrategy",
    "RoutingStrategy",
    "ScalingMetric",
]
