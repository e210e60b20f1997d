"""Rules: no spec value widens a grant, and images come from registries the environment trusts.

- ``source.s3Uri`` names one folder below the bucket root (ending in ``/``) or one
  ``.tar.gz`` object: the model's role reads exactly that (`llmdeploy.grants`).
- ``container.image`` names one ECR repository in the environment's region, in a registry of
  AWS's Deep Learning Containers (the registries of the SageMaker SDK's DJL image tables) or
  one the environment lists in ``spec.security.imageRegistries``.
- ``spec.security.kmsKeyArn`` is one key's full ARN, in the environment's region and
  partition, and in its account unless ``spec.security.allowForeignKmsKey: true``.

The constructs refuse the same widening values on their own (ValueError); these rules say it
first, located, with the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from llmdeploy import grants
from llmdeploy.catalog import engines, images
from llmdeploy.errors import Diagnostic, clip
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel
from llmdeploy.spec.loader import EnvironmentDoc

# The image tables whose registries are AWS's Deep Learning Containers for the engines
# llmdeploy serves (djl-tensorrtllm: the TensorRT-LLM image of `rollingBatch: trtllm`).
DLC_TABLES = (*sorted({e.framework for e in engines.ENGINES.values()}), "djl-tensorrtllm")


@functools.cache
def dlc_registries() -> frozenset[str]:
    """``<account>.dkr.ecr.<region>.<domain>`` of every region of the DJL image tables."""
    out: set[str] = set()
    for framework in DLC_TABLES:
        for entry in images.table(framework)["versions"].values():
            for region, account in entry.get("registries", {}).items():
                out.add(f"{account}.dkr.ecr.{region}.{grants.ecr_domain(region)}")
    return frozenset(out)


def s3_source_scoped(
    m: ResolvedModel, env: ResolvedEnvironment, _: list[str]
) -> Iterator[Diagnostic]:
    uri = m.model_spec.source.s3_uri
    if uri is None:
        return
    parsed = grants.parse_s3_source(uri)
    if isinstance(parsed, grants.Problem):
        yield m.source.diagnostic(
            ("spec", "source", "s3Uri"), parsed.message, value=uri, fix=parsed.fix
        )


def image_registry_allowed(
    m: ResolvedModel, env: ResolvedEnvironment, _: list[str]
) -> Iterator[Diagnostic]:
    uri = m.model_spec.container.image
    if uri is None:
        return  # the catalog's image: a Deep Learning Container of the environment's region
    path = ("spec", "container", "image")
    parsed = grants.parse_image(uri)
    if isinstance(parsed, grants.Problem):
        yield m.source.diagnostic(path, parsed.message, value=uri, fix=parsed.fix)
        return
    security = env.doc.environment_spec.security
    region = env.doc.environment_spec.region
    if parsed.region != region:
        yield m.source.diagnostic(
            path,
            f"the image is in {parsed.region}, environment '{env.name}' in {region}: SageMaker "
            "pulls a model's image from ECR in the model's own region",
            value=uri,
            fix=f"copy the image to a repository in {region} and name it here",
        )
        return
    if parsed.registry in dlc_registries() or parsed.registry in security.image_registries:
        return
    yield m.source.diagnostic(
        path,
        f"registry {parsed.registry} is neither one of AWS's Deep Learning Containers "
        f"registries nor in spec.security.imageRegistries of environment '{env.name}': the "
        "model would run its code, with its weights and its role, from a registry nobody "
        "approved",
        value=uri,
        fix=f"add {parsed.registry} to spec.security.imageRegistries of environment "
        f"'{env.name}' if you trust it, or remove container.image to use the "
        f"{m.engine.name} Deep Learning Container",
    )


def kms_key_scoped(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    spec = doc.environment_spec
    arn = spec.security.kms_key_arn
    if arn is None:
        return
    path = ("spec", "security", "kmsKeyArn")
    parsed = grants.parse_kms_key_arn(arn)
    if isinstance(parsed, grants.Problem):
        yield doc.source.diagnostic(path, parsed.message, value=clip(arn), fix=parsed.fix)
        return
    partition = grants.partition_of(spec.region)
    if parsed.region != spec.region or parsed.partition != partition:
        yield doc.source.diagnostic(
            path,
            f"the key is in {parsed.region} ({parsed.partition}), the environment in "
            f"{spec.region} ({partition}): SageMaker encrypts an endpoint's volumes only with "
            "a key of its own region",
            value=arn,
            fix=f"use a key in {spec.region} (for a multi-Region key, its replica there: "
            f"arn:{partition}:kms:{spec.region}:{parsed.account}:key/{parsed.key_id})",
        )
    elif parsed.account != spec.account and not spec.security.allow_foreign_kms_key:
        yield doc.source.diagnostic(
            path,
            f"the key belongs to account {parsed.account}, not the environment's "
            f"{spec.account}: the endpoints' roles would be granted Encrypt and Decrypt on "
            "another account's key, and its owner decides who else may use it",
            value=arn,
            fix=f"use a key of account {spec.account}, or, if that account's key is intended, "
            "set spec.security.allowForeignKmsKey: true",
        )
