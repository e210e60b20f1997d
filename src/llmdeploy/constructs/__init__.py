"""CDK constructs for LLMs on SageMaker inference components, usable without YAML.

    from llmdeploy.constructs import LlmEndpoint, InferenceComponent, InstanceType

Shaped like aws-cdk-lib's L2s: `cdk.Resource`s behind interfaces (`IInferenceEndpoint`,
`IDedicatedEndpoint`, `IInferenceComponent`; `InferenceComponentAdapter` for LoRA adapters),
typed props with documented defaults and
`Duration`s, the L1 resources reachable (`node.default_child`, `cfn_endpoint`,
`cfn_inference_component`...), `from_*_name`/`_arn`/`_attributes` importers, `grant_invoke`,
`metric*` helpers taking `MetricOptions`, and llmdeploy's own rules run as CDK validations.
`llmdeploy synth` builds these same constructs from the YAML specs.
"""

from llmdeploy.constructs.adapter import InferenceComponentAdapter
from llmdeploy.constructs.base import (
    EndpointAttributes,
    IDedicatedEndpoint,
    IEndpoint,
    IInferenceComponent,
    IInferenceEndpoint,
)
from llmdeploy.constructs.dedicated import DedicatedEndpoint
from llmdeploy.constructs.endpoint import LlmEndpoint
from llmdeploy.constructs.inference_component import (
    InferenceComponent,
    InferenceComponentAttributes,
)
from llmdeploy.constructs.types import (
    Autoscaling,
    ComponentRollout,
    ContainerImage,
    Counts,
    EndpointRollout,
    InstanceType,
    LmiSettings,
    ModelData,
    RollbackAlarms,
    RolloutStrategy,
    RoutingStrategy,
    ScalingMetric,
    ScheduledScaling,
)

__all__ = [
    "Autoscaling",
    "ComponentRollout",
    "ContainerImage",
    "Counts",
    "DedicatedEndpoint",
    "EndpointAttributes",
    "EndpointRollout",
    "IDedicatedEndpoint",
    "IEndpoint",
    "IInferenceComponent",
    "IInferenceEndpoint",
    "InferenceComponent",
    "InferenceComponentAdapter",
    "InferenceComponentAttributes",
    "InstanceType",
    "LlmEndpoint",
    "LmiSettings",
    "ModelData",
    "RollbackAlarms",
    "RolloutStrategy",
    "RoutingStrategy",
    "ScalingMetric",
    "ScheduledScaling",
]
