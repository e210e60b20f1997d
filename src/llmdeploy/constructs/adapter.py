"""`InferenceComponentAdapter`: a LoRA adapter served by the copies of a base inference
component (docs/adapters.md)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Resource
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy import grants
from llmdeploy.constructs import roles
from llmdeploy.constructs._tokens import is_unresolved
from llmdeploy.constructs.base import (
    IInferenceComponent,
    IInferenceEndpoint,
    checked_name,
    generated_name,
)
from llmdeploy.constructs.inference_component import InferenceComponent
from llmdeploy.constructs.types import ModelData


class InferenceComponentAdapter(Resource, IInferenceComponent):
    """A LoRA adapter on the copies of a base `InferenceComponent`: an inference component
    with ``BaseInferenceComponentName`` and the adapter's weights as its artifact, which
    SageMaker loads into every copy of the base. It takes no compute, copies, autoscaling or
    container settings of its own: the base's serve it (SageMaker refuses
    ComputeResourceRequirements on an adapter). Invoke it by its own
    ``inference_component_name`` on the base's endpoint.

    The base's container must serve LoRA: give the base ``LmiSettings(enable_lora=True)``
    (or ``max_loras``/``max_lora_rank``), with the vllm or lmi-dist rolling batch.

    :param base: the base model's component: an `InferenceComponent` of this app, or one
        imported with ``InferenceComponent.from_inference_component_name``.
    :param artifact: the adapter's weights: ``ModelData.from_s3_uri`` of a single .tar.gz
        (what SageMaker's API reference asks of ArtifactUrl) holding adapter_config.json and
        the adapter's weights at its root.
    :param inference_component_name: default: derived from the construct path (stable).
    :param grant_base_read: let the base's execution role read ``artifact``. The base's
        container loads the adapter (which role SageMaker uses for the download is not
        documented; the base's is the one that reads model weights). Default: true where the
        base is an `InferenceComponent` of this app (an imported base's role is not known:
        grant it yourself).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        base: IInferenceComponent,
        artifact: ModelData,
        inference_component_name: str | None = None,
        grant_base_read: bool = True,
    ) -> None:
        if not isinstance(artifact, ModelData) or not artifact.s3_uri:
            raise ValueError(
                f"artifact {artifact!r}: give ModelData.from_s3_uri('s3://<bucket>/<prefix>/"
                "adapter.tar.gz'): SageMaker fetches an adapter's weights from S3 itself"
            )
        if not is_unresolved(artifact.s3_uri):
            grants.require_s3_source(artifact.s3_uri)  # no wildcard widens the base's grant
        if inference_component_name is not None:
            checked_name(inference_component_name, "inference_component_name")
        if isinstance(base, InferenceComponentAdapter):
            raise ValueError(
                f"base {base.inference_component_name!r} is an adapter itself: give the "
                "component that holds the base model"
            )
        super().__init__(scope, id, physical_name=inference_component_name)
        self.base = base
        self.endpoint: IInferenceEndpoint = base.endpoint
        self.artifact = artifact
        self.inference_component_name = inference_component_name or generated_name(self)
        ic = sagemaker.CfnInferenceComponent
        self._component = ic(
            self,
            "Resource",
            endpoint_name=self.endpoint.endpoint_name,
            inference_component_name=self.inference_component_name,
            specification=ic.InferenceComponentSpecificationProperty(
                base_inference_component_name=base.inference_component_name,
                container=ic.InferenceComponentContainerSpecificationProperty(
                    artifact_url=artifact.s3_uri
                ),
            ),
        )
        owned = isinstance(base, InferenceComponent)
        if owned:
            # Created after the base, deleted before it.
            self._component.node.add_dependency(base.cfn_inference_component)
            if grant_base_read:
                grant_artifact_read(base.role, artifact)

    @property
    def cfn_inference_component(self) -> sagemaker.CfnInferenceComponent:
        """Escape hatch: the L1 inference component (also `node.default_child`)."""
        return self._component

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        """Apply ``policy`` to the adapter's inference component."""
        self._component.apply_removal_policy(policy)

    @staticmethod
    def from_inference_component_name(
        scope: Construct, id: str, inference_component_name: str, endpoint: IInferenceEndpoint
    ) -> IInferenceComponent:
        """An adapter this app does not own, on its base's ``endpoint``, by name (as any
        inference component: to grant, invoke and watch it)."""
        return InferenceComponent.from_inference_component_name(
            scope, id, inference_component_name, endpoint
        )


def grant_artifact_read(role: iam.IRole, artifact: ModelData) -> None:
    """Let ``role`` read an adapter's weights: that one object (or folder), nothing more
    (`llmdeploy.grants` refuses what would widen it)."""
    for statement in roles.model_access_statements("", artifact):
        role.add_to_principal_policy(statement)
    roles.acknowledge_model_access(role, artifact)
