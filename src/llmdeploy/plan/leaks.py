"""Rules: no credential and no CloudFormation dynamic reference in any string of a spec.

Every string of every spec file is checked (container variables, the owner, sources, images,
overrides under ``spec.environments``...), once per file whatever ``--env`` selects (a secret
is in the file, not in an environment). What the detector knows is in `llmdeploy.secrets`;
values are never echoed, only their first characters and length.

Why this matters, in the messages: SageMaker keeps a model's container environment in
plaintext (DescribeModel, the console, CloudTrail's CreateModel event), the owner becomes a
tag, and every value lands in the CloudFormation template and the deploy history. A
``{{resolve:...}}`` reference does not help: CloudFormation replaces it by the plaintext when
it deploys. Nor does the ARN of a secret in a container variable: SageMaker passes the ARN
itself, and llmdeploy's model role may not read the secret. Gated weights are staged to S3
and given as ``source.s3Uri``: then nothing secret reaches the container at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from llmdeploy import secrets
from llmdeploy.errors import Diagnostic, Written, clip
from llmdeploy.spec.loader import Portfolio
from llmdeploy.spec.source import FieldPath, SourceMap

PLAINTEXT_ENV = (
    "SageMaker passes container environment variables in plaintext: anyone who may call "
    "DescribeModel or open the console sees them, CloudTrail records them, and so do the "
    "CloudFormation template and the deploy history"
)
STAGE_WEIGHTS = (
    "gated weights: stage them to S3 and use source.s3Uri, so that no token reaches the container"
)


def _documents(portfolio: Portfolio, selected: Sequence[str]):
    """(source, plain data) of every loaded document: environments (the selected ones, when
    --env selects) and models as written, overrides included."""
    for env in portfolio.environments:
        if not selected or env.spec.name in selected:
            yield env.source, env.spec.model_dump(by_alias=True)
    for model in portfolio.models:
        yield model.source, model.data


def _strings(data: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            yield from _strings(value, (*path, i))


def _env_var(path: FieldPath) -> str | None:
    """The container variable's name when ``path`` is an extraEnv value (an override too)."""
    if len(path) >= 3 and path[-3:-1] == ("lmi", "extraEnv") and isinstance(path[-1], str):
        return path[-1]
    return None


def _where(path: FieldPath) -> str:
    if _env_var(path) is not None:
        return PLAINTEXT_ENV
    if path[-2:] == ("metadata", "owner"):
        return (
            "the owner becomes the llmdeploy:owner tag of the model's stacks and resources, "
            "which anyone who may list tags reads, and specs are committed and printed in CI logs"
        )
    return (
        "it is written into the CloudFormation template and the deploy history, and specs are "
        "committed and printed in CI logs"
    )


def no_secrets(portfolio: Portfolio, selected: Sequence[str]) -> Iterator[Diagnostic]:
    for source, data in _documents(portfolio, selected):
        for path, value in _strings(data):
            yield from _secret(source, path, value)


def _secret(source: SourceMap, path: FieldPath, value: str) -> Iterator[Diagnostic]:
    name = _env_var(path)
    rotate = "remove it and rotate the credential (the file's history keeps it)"
    fix = f"{rotate}; {STAGE_WEIGHTS}" if name is not None else rotate
    if secrets.dynamic_reference(value):
        return  # no-dynamic-references says why
    ref = secrets.reference(value)
    if ref is not None:
        if name is not None:
            yield source.diagnostic(
                path,
                f"{name} holds the ARN of {ref}: SageMaker passes the ARN to the container as "
                "this text and never fetches the secret, llmdeploy grants the model's role no "
                "right to read it, and a network-isolated container cannot reach the service",
                value=value,
                severity="warning",
                fix=f"remove it (the container gets nothing from it); {STAGE_WEIGHTS}",
            )
        return
    found = secrets.find(value)
    if found is not None:
        yield source.diagnostic(
            path,
            f"looks like {found.kind}: {_where(path)}",
            value=Written(secrets.mask(value)),
            fix=fix,
        )
    elif name is not None and secrets.secret_name(name) and not secrets.plainly_not_secret(value):
        yield source.diagnostic(
            path,
            f"{name} names a credential: {PLAINTEXT_ENV}",
            value=Written(secrets.mask(value)),
            fix=fix,
        )


def no_dynamic_references(portfolio: Portfolio, selected: Sequence[str]) -> Iterator[Diagnostic]:
    for source, data in _documents(portfolio, selected):
        for path, value in _strings(data):
            if not secrets.dynamic_reference(value):
                continue
            name = _env_var(path)
            if name is not None:
                message = (
                    "is a CloudFormation dynamic reference: CloudFormation would resolve it when "
                    f"it deploys and put the plaintext into {name}, and {PLAINTEXT_ENV}"
                )
                fix = f"remove it; {STAGE_WEIGHTS}"
            elif path[-2:] == ("metadata", "owner"):
                message = (
                    "is a CloudFormation dynamic reference: CloudFormation would put the "
                    "plaintext it resolves to into the llmdeploy:owner tag"
                )
                fix = "write the owning team's name"
            else:
                message = (
                    "is a CloudFormation dynamic reference: CloudFormation would replace it when "
                    "it deploys, so what validate checked would not be what runs (and a secret "
                    "would land in plaintext)"
                )
                fix = "write the value itself"
            yield source.diagnostic(path, message, value=clip(value), fix=fix)
