"""Container image URIs, read from the SageMaker Python SDK's own image tables.

The SDK ships one JSON file per framework (`sagemaker/core/image_uri_config/djl-lmi.json`…)
mapping version → registry account per region and tag. `sagemaker.core.image_uris.retrieve`
reads the same files, but importing the SDK costs ~2 s; `validate` and `plan` must start fast,
so we read the files straight from the installed distribution (no import, no network). A test
checks that our answer equals `image_uris.retrieve`'s.
"""

from __future__ import annotations

import functools
import json
from importlib import metadata
from typing import Any

from llmdeploy.errors import LlmdeployError

_TABLE_DIR = "sagemaker/core/image_uri_config"


@functools.cache
def table(framework: str) -> dict[str, Any]:
    try:
        dist = metadata.distribution("sagemaker-core")
    except metadata.PackageNotFoundError as exc:
        raise LlmdeployError(
            "the sagemaker-core package is not installed; it holds the DJL image tables "
            "(pip install sagemaker), or set container.image explicitly"
        ) from exc
    path = dist.locate_file(f"{_TABLE_DIR}/{framework}.json")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise LlmdeployError(
            f"the installed sagemaker-core has no image table for {framework!r} ({path})"
        ) from exc


def versions(framework: str) -> list[str]:
    """Versions the SDK knows, newest first."""
    return sorted(table(framework)["versions"], key=version_key, reverse=True)


def regions(framework: str, version: str) -> list[str]:
    return sorted(table(framework)["versions"].get(version, {}).get("registries", {}))


def uri(framework: str, version: str, region: str) -> str | None:
    """The ECR image URI, or None where the SDK lists no image for that version and region."""
    entry = table(framework)["versions"].get(version)
    if entry is None:
        return None
    account = entry["registries"].get(region)
    if account is None:
        return None
    domain = _ecr_domain(region)
    if domain is None:
        return None
    return f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{entry['tag_prefix']}"


def _ecr_domain(region: str) -> str | None:
    # botocore's partition data gives these suffixes; the isolated partitions (us-iso*, eu-isoe)
    # have their own domains that llmdeploy does not support.
    if region.startswith("cn-"):
        return "amazonaws.com.cn"
    if "-iso" in region:
        return None
    return "amazonaws.com"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))
