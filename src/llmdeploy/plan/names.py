"""The names an environment's stacks and resources get: planned here, with the rest of what
the specs resolve to, so that synthesis, the deploy engine, `history`, `status` and `invoke`
agree on them without importing CDK (`import aws_cdk` costs seconds: a Node.js process).

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

    # CloudWatch dashboards are global to an account (not regional): two environments with
    # one prefix in two regions of an account would share a name, so the region is part of it.
    # Each is named after the stack it shows, which rules.stack-names-unique keeps apart.

    def dashboards_stack(self) -> str:
        """The environment's dashboards: one per endpoint and an overview."""
        return f"{self.prefix}-dashboards"

    def dashboard(self, endpoint: str, region: str) -> str:
        """A shared endpoint's dashboard."""
        return f"{self.endpoint_stack(endpoint)}-{region}"

    def dedicated_dashboard(self, model: str, region: str) -> str:
        """A dedicated model's endpoint's dashboard."""
        return f"{self.model_stack(model)}-{region}"

    def overview_dashboard(self, region: str) -> str:
        return f"{self.prefix}-overview-{region}"
