"""The SageMaker Model of a container and its weights, granted exactly what it reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from llmdeploy.catalog.engines import (
    ENGINES,
    LMI_MODEL_LOADING_TIMEOUT,
    MAX_ENV_VARS,
    STARTUP_TIMEOUT_MAX,
    STARTUP_TIMEOUT_MIN,
)
from llmdeploy.constructs import _cached, roles
from llmdeploy.constructs.types import BoundImage, ContainerImage, LmiSettings, ModelData
from llmdeploy.plan.resolve import container_environment

STARTUP_DEFAULT = LMI_MODEL_LOADING_TIMEOUT  # 30 minutes


def vpc_config(
    prop_type: type,
    subnets: Sequence[ec2.ISubnet],
    security_groups: Sequence[ec2.ISecurityGroup],
):
    """``prop_type`` is the L1's own VpcConfigProperty (CfnEndpointConfig's or CfnModel's)."""
    if not subnets:
        return None
    return prop_type(
        subnets=[s.subnet_id for s in subnets],
        security_group_ids=[g.security_group_id for g in security_groups],
    )


def sagemaker_model(
    scope: Construct,
    role: iam.IRole,
    image_uri: str,
    model_data: ModelData,
    environment: Mapping[str, str],
    *,
    network_isolation: bool,
    subnets: Sequence[ec2.ISubnet],
    security_groups: Sequence[ec2.ISecurityGroup],
) -> sagemaker.CfnModel:
    """The SageMaker Model of a container and its weights: an S3 prefix copied uncompressed
    to /opt/ml/model, a .tar.gz unpacked there, or nothing (the container fetches them).
    ``role`` (the model's own) is granted exactly this image repository and these weights,
    and the Model waits for those grants, not only for the role."""
    if len(environment) > MAX_ENV_VARS:
        raise ValueError(
            f"environment has {len(environment)} variables; SageMaker allows {MAX_ENV_VARS}"
        )
    for statement in roles.model_access_statements(image_uri, model_data):
        role.add_to_principal_policy(statement)
    roles.acknowledge_model_access(role, model_data)
    data_source = None
    if model_data.s3_uri and not model_data.compressed:
        data_source = sagemaker.CfnModel.ModelDataSourceProperty(
            s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                s3_uri=model_data.s3_uri, s3_data_type="S3Prefix", compression_type="None"
            )
        )
    model = sagemaker.CfnModel(
        scope,
        "Model",
        execution_role_arn=role.role_arn,
        primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
            image=image_uri,
            environment=dict(environment) or None,
            model_data_source=data_source,
            model_data_url=model_data.s3_uri if model_data.compressed else None,
        ),
        enable_network_isolation=network_isolation,
        vpc_config=vpc_config(sagemaker.CfnModel.VpcConfigProperty, subnets, security_groups),
    )
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is not None:
        model.node.add_dependency(policy)
    return model


def container_settings(
    scope: Construct,
    image: ContainerImage,
    lmi: LmiSettings | None,
    environment: Mapping[str, str] | None,
    model_data: ModelData,
    *,
    devices: int,
    startup_timeout: Duration | None,
) -> tuple[BoundImage, dict[str, str], int]:
    """The image for the stack's region, the container's environment (``lmi`` compiled by
    the YAML path's own translation, then ``environment`` on top) and the startup timeout in
    seconds (default 30 minutes, LMI's own loading timeout)."""
    if not isinstance(image, ContainerImage):
        raise TypeError(
            f"image: give ContainerImage.djl_lmi(...), djl_neuronx(...) or from_uri(...), "
            f"not {image!r}"
        )
    if lmi is not None and not isinstance(lmi, LmiSettings):
        raise TypeError(f"lmi: give LmiSettings(...), not {lmi!r}")
    if startup_timeout is None:
        timeout = STARTUP_DEFAULT
    elif isinstance(startup_timeout, Duration):
        timeout = int(_cached.to_seconds(startup_timeout))
    else:
        raise TypeError(f"startup_timeout: give a Duration, not {startup_timeout!r}")
    if not STARTUP_TIMEOUT_MIN <= timeout <= STARTUP_TIMEOUT_MAX:
        raise ValueError(
            f"startup_timeout {timeout} s: SageMaker takes {STARTUP_TIMEOUT_MIN} to "
            f"{STARTUP_TIMEOUT_MAX} seconds"
        )
    bound = image.bind(scope)
    env: dict[str, str] = {}
    if lmi is not None:
        env = container_environment(
            lmi,
            bound.engine or ENGINES["djl-lmi"],
            devices,
            weights_in_s3=bool(model_data.s3_uri),
            startup_timeout_seconds=timeout,
        )
    env.update(environment or {})
    return bound, env, timeout
