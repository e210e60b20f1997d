"""SageMaker inference components for the local moto server (docs/local-server.md).

moto 5.2 has no inference-component API, and its CloudFormation skips
AWS::SageMaker::InferenceComponent. `patch()` adds both, in-process, on top of moto's own
SageMaker backend, so that what CloudFormation creates is what the API describes:

- the six API operations (Create, Describe, List, Update, UpdateRuntimeConfig, Delete), with
  SageMaker's error messages; moto's serializer shapes every response by botocore's model;
- tags (ListTags / AddTags / DeleteTags on the component's ARN);
- the CloudFormation resource (create, in-place update, delete; Ref is the ARN).

Everything is instant: a component is InService as soon as it is created or updated, and its
current copy count equals the desired one. No container runs and nothing is placed on
instances, so no capacity is checked either. An adapter component (BaseInferenceComponentName:
a LoRA adapter on its base's copies) is checked against its base and has no copy count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker import models as sm
from moto.sagemaker import responses as sm_responses
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.utils import arn_formatter


def _arn(name: str, account_id: str, region_name: str) -> str:
    return arn_formatter("inference-component", name, account_id, region_name)


def _copy_count(value: Any) -> int:
    """A copy count as SageMaker takes it: an integer >= 0. From CloudFormation it may be a
    string (a `Ref` to a Number parameter, or a parameter's Default, arrives as text)."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            message=f"Value '{value}' at 'runtimeConfig.copyCount' failed to satisfy "
            "constraint: Member must be an integer"
        ) from None
    if count < 0:
        raise ValidationError(
            message=f"Value '{count}' at 'runtimeConfig.copyCount' failed to satisfy "
            "constraint: Member must have value greater than or equal to 0"
        )
    return count


def _specification_summary(spec: dict[str, Any]) -> dict[str, Any]:
    """Describe's Specification: as created, except that a container's Image is reported as
    the image deployed (DescribeInferenceComponent has DeployedImage, never Image)."""
    out = dict(spec)
    container = spec.get("Container")
    if container:
        out["Container"] = {k: v for k, v in container.items() if k != "Image"}
        if container.get("Image"):
            out["Container"]["DeployedImage"] = {
                "SpecifiedImage": container["Image"],
                "ResolvedImage": container["Image"],
                "ResolutionTime": utcnow(),
            }
    return out


class FakeInferenceComponent(CloudFormationModel):
    # moto's model metaclass files every model under the service its module path names.
    __module__ = "moto.sagemaker.inference_components"

    def __init__(
        self,
        backend: sm.SageMakerModelBackend,
        name: str,
        endpoint: sm.FakeEndpoint,
        variant_name: str,
        specification: dict[str, Any],
        copy_count: int | None,
        tags: list[dict[str, str]],
    ):
        self.name = name
        self.arn = _arn(name, backend.account_id, backend.region_name)
        self.endpoint_name = endpoint.endpoint_name
        self.endpoint_arn = endpoint.arn
        self.variant_name = variant_name
        self.specification = specification
        self.copy_count = copy_count  # desired = current: scaling is instant
        self.deployment_config: dict[str, Any] | None = None
        self.tags = tags
        self.status = "InService"
        self.creation_time = self.last_modified_time = utcnow()

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "InferenceComponentName": self.name,
            "InferenceComponentArn": self.arn,
            "EndpointName": self.endpoint_name,
            "EndpointArn": self.endpoint_arn,
            "VariantName": self.variant_name,
            "Specification": _specification_summary(self.specification),
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "InferenceComponentStatus": self.status,
        }
        if self.copy_count is not None:
            out["RuntimeConfig"] = {
                "DesiredCopyCount": self.copy_count,
                "CurrentCopyCount": self.copy_count,
            }
        if self.deployment_config:
            out["LastDeploymentConfig"] = self.deployment_config
        return out

    def summary(self) -> dict[str, Any]:
        keys = (
            "InferenceComponentName",
            "InferenceComponentArn",
            "EndpointName",
            "EndpointArn",
            "VariantName",
            "InferenceComponentStatus",
            "CreationTime",
            "LastModifiedTime",
        )
        d = self.describe()
        return {k: d[k] for k in keys}

    # --- CloudFormation ------------------------------------------------------------------------
    # Properties and return values as in the resource's schema (cfn-lint's copy of it): Ref is
    # the ARN (the primary identifier); the read-only properties are the GetAtt attributes.

    _ATTRIBUTES: ClassVar[dict[str, Callable[[FakeInferenceComponent], Any]]] = {
        "InferenceComponentArn": lambda c: c.arn,
        "InferenceComponentStatus": lambda c: c.status,
        "CreationTime": lambda c: c.creation_time.isoformat(),
        "LastModifiedTime": lambda c: c.last_modified_time.isoformat(),
        "RuntimeConfig.DesiredCopyCount": lambda c: c.copy_count,
        "RuntimeConfig.CurrentCopyCount": lambda c: c.copy_count,
    }

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::InferenceComponent"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "InferenceComponentName"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls._ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self._ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return self._ATTRIBUTES[attribute_name](self)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FakeInferenceComponent:
        props = cloudformation_json["Properties"]
        runtime = props.get("RuntimeConfig") or {}
        return sm.sagemaker_backends[account_id][region_name].create_inference_component(
            name=resource_name,
            endpoint_name=props["EndpointName"],
            variant_name=props.get("VariantName"),
            specification=props.get("Specification") or {},
            copy_count=runtime.get("CopyCount"),
            tags=props.get("Tags") or [],
        )

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: FakeInferenceComponent,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> FakeInferenceComponent:
        backend = sm.sagemaker_backends[account_id][region_name]
        props = cloudformation_json["Properties"]
        # moto passes a fresh random name when the template names none: keep the old one.
        name = props.get("InferenceComponentName", original_resource.name)
        moved = (
            name != original_resource.name
            or props["EndpointName"] != original_resource.endpoint_name
            or props.get("VariantName", original_resource.variant_name)
            != original_resource.variant_name
        )
        if moved:  # UpdateInferenceComponent cannot rename or move a component: replace it
            backend.delete_inference_component(original_resource.name)
            return cls.create_from_cloudformation_json(
                name, cloudformation_json, account_id, region_name
            )
        # What CloudFormation's handler sends: the template's whole desired state, so the
        # template's CopyCount replaces whatever autoscaling set.
        runtime = props.get("RuntimeConfig") or {}
        backend.update_inference_component(
            name,
            specification=props.get("Specification"),
            copy_count=runtime.get("CopyCount"),
            deployment_config=props.get("DeploymentConfig"),
        )
        original_resource.tags = props.get("Tags") or []
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> None:
        # resource_name is the physical id, the ARN. A component already gone is deleted.
        backend = sm.sagemaker_backends[account_id][region_name]
        name = resource_name.split("/")[-1]
        if name in _components(backend):
            backend.delete_inference_component(name)


# --- the backend (methods added to moto's SageMakerModelBackend) ------------------------------


def _components(backend: sm.SageMakerModelBackend) -> dict[str, FakeInferenceComponent]:
    # Kept in the backend's own __dict__, which moto's reset (/moto-api/reset) empties.
    return backend.__dict__.setdefault("inference_components", {})


def _get(backend: sm.SageMakerModelBackend, name: str) -> FakeInferenceComponent:
    try:
        return _components(backend)[name]
    except KeyError:
        arn = _arn(name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Could not find inference component "{arn}".') from None


def create_inference_component(
    self: sm.SageMakerModelBackend,
    name: str,
    endpoint_name: str,
    variant_name: str | None,
    specification: dict[str, Any],
    copy_count: Any,
    tags: list[dict[str, str]],
) -> FakeInferenceComponent:
    if name in _components(self):
        arn = _arn(name, self.account_id, self.region_name)
        raise ValidationError(
            message=f'Cannot create already existing inference component "{arn}".'
        )
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = sm.FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f'Could not find endpoint "{arn}".')
    variants = [v["VariantName"] for v in endpoint.production_variants]
    if variant_name is None:
        variant_name = variants[0]
    elif variant_name not in variants:
        raise ValidationError(
            message=f'The variant name "{variant_name}" is not present within endpoint '
            f'"{endpoint_name}".'
        )
    _check_adapter(self, endpoint_name, specification)
    model = specification.get("ModelName")
    if model and model not in self._models:
        arn = arn_formatter("model", model, self.account_id, self.region_name)
        raise ValidationError(message=f'Could not find model "{arn}".')
    component = FakeInferenceComponent(
        self,
        name,
        endpoint,
        variant_name,
        specification,
        None if copy_count is None else _copy_count(copy_count),
        tags,
    )
    _components(self)[name] = component
    return component


def _check_adapter(
    backend: sm.SageMakerModelBackend, endpoint_name: str, specification: dict[str, Any]
) -> None:
    """An adapter component (BaseInferenceComponentName) as botocore's model describes it:
    the base exists ("Before you can create an adapter inference component, you must have an
    existing inference component that contains the foundation model"), it is on the same
    endpoint and holds a model, the adapter's artifacts are in Container.ArtifactUrl, and it
    takes no ComputeResourceRequirements ("Omit this parameter ... for an adapter"). The
    messages are this emulation's own: SageMaker's exact words are not documented."""
    base_name = specification.get("BaseInferenceComponentName")
    if not base_name:
        return
    base = _get(backend, base_name)
    if base.endpoint_name != endpoint_name:
        raise ValidationError(
            message=f'The base inference component "{base_name}" is hosted on endpoint '
            f'"{base.endpoint_name}", not "{endpoint_name}".'
        )
    if base.specification.get("BaseInferenceComponentName"):
        raise ValidationError(
            message=f'The base inference component "{base_name}" is an adapter itself.'
        )
    if specification.get("ComputeResourceRequirements"):
        raise ValidationError(
            message="ComputeResourceRequirements must be omitted for an adapter inference "
            "component: it uses the compute resources of its base."
        )
    if not (specification.get("Container") or {}).get("ArtifactUrl"):
        raise ValidationError(
            message="An adapter inference component needs Container.ArtifactUrl: the S3 "
            "location of the adapter's artifacts."
        )


def describe_inference_component(self: sm.SageMakerModelBackend, name: str) -> dict[str, Any]:
    return _get(self, name).describe()


def list_inference_components(
    self: sm.SageMakerModelBackend,
    endpoint_name: str | None = None,
    variant_name: str | None = None,
    name_contains: str | None = None,
    status: str | None = None,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> list[FakeInferenceComponent]:
    found = [
        c
        for c in _components(self).values()
        if (endpoint_name is None or c.endpoint_name == endpoint_name)
        and (variant_name is None or c.variant_name == variant_name)
        and (name_contains is None or name_contains in c.name)
        and (status is None or c.status == status)
    ]
    key = {"Name": lambda c: c.name, "Status": lambda c: c.status}.get(
        sort_by or "CreationTime", lambda c: c.creation_time
    )
    return sorted(found, key=key, reverse=sort_order != "Ascending")  # SageMaker: Descending


def update_inference_component(
    self: sm.SageMakerModelBackend,
    name: str,
    specification: dict[str, Any] | None = None,
    copy_count: Any = None,
    deployment_config: dict[str, Any] | None = None,
) -> FakeInferenceComponent:
    component = _get(self, name)
    count = None if copy_count is None else _copy_count(copy_count)  # validate before changing
    if specification is not None:
        model = specification.get("ModelName")
        if model and model not in self._models:
            arn = arn_formatter("model", model, self.account_id, self.region_name)
            raise ValidationError(message=f'Could not find model "{arn}".')
        component.specification = specification
    if count is not None:
        component.copy_count = count
    if deployment_config is not None:
        component.deployment_config = deployment_config
    component.last_modified_time = utcnow()
    return component


def delete_inference_component(self: sm.SageMakerModelBackend, name: str) -> None:
    _get(self, name)
    del _components(self)[name]


# --- the API (methods added to moto's SageMakerResponse) --------------------------------------


def _create(self: sm_responses.SageMakerResponse) -> ActionResult:
    component = self.sagemaker_backend.create_inference_component(
        name=self._get_param("InferenceComponentName"),
        endpoint_name=self._get_param("EndpointName"),
        variant_name=self._get_param("VariantName"),
        specification=self._get_param("Specification") or {},
        copy_count=(self._get_param("RuntimeConfig") or {}).get("CopyCount"),
        tags=self._get_param("Tags") or [],
    )
    return ActionResult({"InferenceComponentArn": component.arn})


def _describe(self: sm_responses.SageMakerResponse) -> ActionResult:
    name = self._get_param("InferenceComponentName")
    return ActionResult(self.sagemaker_backend.describe_inference_component(name))


def _list(self: sm_responses.SageMakerResponse) -> ActionResult:
    found = self.sagemaker_backend.list_inference_components(
        endpoint_name=self._get_param("EndpointNameEquals"),
        variant_name=self._get_param("VariantNameEquals"),
        name_contains=self._get_param("NameContains"),
        status=self._get_param("StatusEquals"),
        sort_by=self._get_param("SortBy"),
        sort_order=self._get_param("SortOrder"),
    )
    # NextToken: the index of the next page's first component.
    start = int(self._get_param("NextToken") or 0)
    size = self._get_param("MaxResults") or 10
    page = found[start : start + size]
    result: dict[str, Any] = {"InferenceComponents": [c.summary() for c in page]}
    if start + size < len(found):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def _update(self: sm_responses.SageMakerResponse) -> ActionResult:
    component = self.sagemaker_backend.update_inference_component(
        self._get_param("InferenceComponentName"),
        specification=self._get_param("Specification"),
        copy_count=(self._get_param("RuntimeConfig") or {}).get("CopyCount"),
        deployment_config=self._get_param("DeploymentConfig"),
    )
    return ActionResult({"InferenceComponentArn": component.arn})


def _update_runtime_config(self: sm_responses.SageMakerResponse) -> ActionResult:
    desired = self._get_param("DesiredRuntimeConfig") or {}
    component = self.sagemaker_backend.update_inference_component(
        self._get_param("InferenceComponentName"),
        copy_count=_copy_count(desired.get("CopyCount")),
    )
    return ActionResult({"InferenceComponentArn": component.arn})


def _delete(self: sm_responses.SageMakerResponse) -> EmptyResult:
    self.sagemaker_backend.delete_inference_component(self._get_param("InferenceComponentName"))
    return EmptyResult()


def patch() -> None:
    """Add inference components to moto's SageMaker backend, API and CloudFormation."""
    from moto.cloudformation import parsing

    backend = sm.SageMakerModelBackend
    backend.create_inference_component = create_inference_component
    backend.describe_inference_component = describe_inference_component
    backend.list_inference_components = list_inference_components
    backend.update_inference_component = update_inference_component
    backend.delete_inference_component = delete_inference_component

    api = sm_responses.SageMakerResponse
    api.create_inference_component = _create
    api.describe_inference_component = _describe
    api.list_inference_components = _list
    api.update_inference_component = _update
    api.update_inference_component_runtime_config = _update_runtime_config
    api.delete_inference_component = _delete

    # Tags: moto finds a tagged resource by the type in its ARN; teach it this one.
    resource_from_arn = backend._get_resource_from_arn

    def _get_resource_from_arn(self: sm.SageMakerModelBackend, arn: str) -> Any:
        if arn.split(":")[-1].startswith("inference-component/"):
            return _get(self, arn.split("/")[-1])
        return resource_from_arn(self, arn)

    backend._get_resource_from_arn = _get_resource_from_arn

    # moto's CloudFormation finds resource types among CloudFormationModel's subclasses and
    # caches the lookup: defining the class registered it, clearing the caches makes it seen.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
