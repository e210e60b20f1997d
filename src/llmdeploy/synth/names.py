"""The names synthesis gives, without importing CDK: the deploy engine, `history` and
`status` need them, and `import aws_cdk` costs seconds (a Node.js process for jsii).

Physical names derive from the environment's stack prefix and the spec names only, never
from a version: bumping a model's version never replaces anything by name.
"""

from __future__ import annotations

from dataclasses import dataclass

# Capacity as stack parameters: the deploy engine passes what runs (llmdeploy.deploy.capacity),
# so that an update never resets what autoscaling set. Their names are a contract with it.
COPY_COUNT_PARAMETER = "CopyCount"
INSTANCE_COUNT_PARAMETER = "InstanceCount"


@dataclass(frozen=True)
class Names:
    """Physical and stack names of one environment, from its prefix and the spec names."""

    prefix: str

    def endpoint(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def inference_component(self, model: str) -> str:
        return f"{self.prefix}-{model}"

    def endpoint_stack(self, name: str) -> str:
        return f"{self.prefix}-endpoint-{name}"

    def model_stack(self, model: str) -> str:
        return f"{self.prefix}-model-{model}"
