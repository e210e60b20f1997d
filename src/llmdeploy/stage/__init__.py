"""`llmdeploy stage`: a model's weights from the Hugging Face Hub to its S3 prefix.

Three steps, as the other commands have: the target (which repository, which S3 prefix,
from the specs and the command line), the plan (the Hub's files at one commit, the ones LMI
needs, and for each whether S3 already holds it: same size and the same SHA-256, recorded
when it was uploaded), and the run (download into huggingface_hub's cache, check against
the Hub's checksum, upload). ``--dry-run`` stops after the plan. A second run finds every
object in place and transfers nothing; a run that stopped half way resumes file by file.

Where the weights go: the model's ``source.s3Uri`` in the environment (or ``--to``). Where
they come from: ``--from``, else the model's ``source.huggingFaceId`` in the environment
(beside ``s3Uri``: the endpoint loads S3, and stage fills it from the Hub), else in the spec
as written (an environment whose override nulls the Hub id).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmdeploy import grants
from llmdeploy.errors import LlmdeployError, SpecError, clip
from llmdeploy.spec.models import Environment
from llmdeploy.stage import files as selection
from llmdeploy.stage.hub import Hub, HubFile, Snapshot, Token
from llmdeploy.stage.progress import Progress
from llmdeploy.stage.store import (
    META_COMMIT,
    META_ETAG,
    META_REPO,
    META_SHA256,
    Remote,
    Store,
)

__all__ = ["Plan", "Result", "Session", "Target", "open_session", "plan", "run", "target"]

DEFAULT_REVISION = "main"
# As the spec's huggingFaceId (spec.models.Source).
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class Target:
    model: str
    environment: str
    region: str
    repo: str
    repo_from: str  # "--from", "source.huggingFaceId", "source.huggingFaceId of the base spec"
    destination: grants.S3Source  # a folder: key ends in "/"
    destination_from: str  # "--to" or "source.s3Uri"
    kms_key_arn: str | None
    # The environment's source loads from the destination already (s3Uri wins over a
    # huggingFaceId beside it: catalog.engines): no spec change to make.
    spec_loads_destination: bool
    spec_file: str
    env: Environment = field(repr=False, compare=False)


def _spec_errors(diagnostics: Sequence[Any]) -> None:
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        raise SpecError(errors)


def target(
    paths: Sequence[str | Path],
    environment: str,
    model: str,
    *,
    repo: str | None = None,
    to: str | None = None,
) -> Target:
    """What to copy where, for ``model`` in ``environment``. Only the two specs are read and
    checked on their own (not the rules across specs: a model whose environment isolates
    the network and names a Hub id is the one that needs staging)."""
    from llmdeploy.spec.diagnose import suggest
    from llmdeploy.spec.loader import load

    portfolio = load(paths)
    if not portfolio.files:
        raise LlmdeployError(
            "no spec files (*.yaml, *.yml) found; give the folders that hold them with "
            "--specs, e.g. --specs models/ --specs infra/"
        )
    env_doc = portfolio.environment(environment)
    if env_doc is None:
        _spec_errors(portfolio.diagnostics)
        known = portfolio.environment_names
        raise LlmdeployError(
            f"--env {clip(environment)}: no environment '{clip(environment)}' in the specs ("
            + (suggest(environment, known, "environments") if known else "no Environment spec")
            + ")"
        )
    doc = next((m for m in portfolio.models if m.spec.name == model), None)
    if doc is None:
        _spec_errors(portfolio.diagnostics)
        names = sorted(m.spec.name for m in portfolio.models)
        hint = suggest(model, names, "models")
        listed = f"models: {', '.join(names)}" if names else "no Model spec found"
        raise LlmdeployError(
            f"no model '{clip(model)}' in the specs ({listed})"
            + (f"; {hint}" if hint.startswith("did you mean") else "")
        )
    _spec_errors(
        [d for d in portfolio.diagnostics if d.file in (doc.source.file, env_doc.source.file)]
    )
    merged, _, problems = doc.for_environment(environment)
    _spec_errors(problems)
    assert merged is not None  # no problems: the merge validated
    source = merged.spec.source
    base_source = doc.model_spec.source

    if repo is not None:
        if not REPO_ID.fullmatch(repo) or len(repo) > 200:
            raise LlmdeployError(
                f"--from {clip(repo)}: not a Hugging Face model id; use <organisation>/<model>, "
                "e.g. meta-llama/Llama-3.1-8B-Instruct"
            )
        repo_id, repo_from = repo, "--from"
    elif source.hugging_face_id:
        repo_id, repo_from = source.hugging_face_id, "source.huggingFaceId"
    elif base_source.hugging_face_id:
        repo_id, repo_from = base_source.hugging_face_id, "source.huggingFaceId of the base spec"
    else:
        raise LlmdeployError(
            f"model '{model}' names no Hugging Face repository (no source.huggingFaceId in "
            f"{doc.source.file}): pass --from <organisation>/<model>"
        )

    uri, destination_from = (to, "--to") if to is not None else (source.s3_uri, "source.s3Uri")
    if uri is None:
        raise LlmdeployError(_no_destination(model, environment, repo_id, doc.source.file))
    parsed = grants.parse_s3_source(uri)
    if isinstance(parsed, grants.Problem):
        raise LlmdeployError(f"{destination_from} {clip(uri)} {parsed.message}: {parsed.fix}")
    if parsed.is_object:
        raise LlmdeployError(
            f"{destination_from} {clip(uri)} is one .tar.gz object; stage writes the files "
            f"uncompressed under a folder, as LMI loads them: use a folder ending in /, e.g. "
            f"s3://{parsed.bucket}/{model}/<version>/"
        )
    return Target(
        model=model,
        environment=environment,
        region=env_doc.environment_spec.region,
        repo=repo_id,
        repo_from=repo_from,
        destination=parsed,
        destination_from=destination_from,
        kms_key_arn=env_doc.environment_spec.security.kms_key_arn,
        spec_loads_destination=source.s3_uri == parsed.uri,
        spec_file=doc.source.file,
        env=env_doc.spec,
    )


def source_yaml(repo: str, s3_uri: str) -> str:
    """The spec lines that load the model from ``s3_uri`` (SageMaker reads S3 under network
    isolation) and keep the Hub id it is staged from."""
    return "\n".join(["spec:", "  source:", f"    huggingFaceId: {repo}", f"    s3Uri: {s3_uri}"])


def _no_destination(model: str, environment: str, repo: str, file: str) -> str:
    uri = "s3://<bucket>/" + model + "/<version>/"
    return (
        f"model '{model}' has no source.s3Uri in environment '{environment}' (the container "
        f"would download {repo} from the Hub), so stage does not know where to put the "
        f"weights. Add the S3 folder next to the Hub id in {file}:\n\n"
        + _indent(source_yaml(repo, uri))
        + "\n\n(the endpoint then loads s3Uri, and stage copies huggingFaceId there; under "
        f"spec.environments.{environment}.source for this environment only), or pass --to "
        f"{uri}"
    )


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@dataclass(frozen=True)
class Session:
    token: Token
    hub: Hub
    store: Store


def open_session(target: Target, *, token_secret: str | None = None) -> Session:
    """AWS in the environment's region (its account: refused otherwise), the Hub token
    (Secrets Manager's ``token_secret``, else the operator's environment) and the S3 folder."""
    from llmdeploy.deploy.aws import connect, require_account
    from llmdeploy.stage.hub import token_from_environment, token_from_secret

    aws = connect(target.env)
    require_account(aws, target.env)
    if token_secret is not None:
        token = token_from_secret(aws.client("secretsmanager"), token_secret, target.region)
    else:
        token = token_from_environment()
    store = Store(
        aws.client("s3"), target.destination.bucket, target.destination.key, target.kms_key_arn
    )
    return Session(token, Hub(token), store)


# --- plan ---------------------------------------------------------------------------------------

Action = Literal["upload", "skip"]


@dataclass(frozen=True)
class Item:
    file: HubFile
    key: str
    action: Action
    reason: str


@dataclass(frozen=True)
class Plan:
    target: Target
    snapshot: Snapshot
    token: Token
    items: tuple[Item, ...]
    left: tuple[tuple[str, str], ...]  # (path, why) of the files left on the Hub
    extra: tuple[str, ...]  # keys under the prefix that are no file of this commit

    @property
    def uploads(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.action == "upload")

    @property
    def upload_bytes(self) -> int:
        return sum(i.file.size for i in self.uploads)

    @property
    def needs_token(self) -> bool:
        return self.snapshot.gated and self.token.value is None and bool(self.uploads)


def compare(file: HubFile, remote: Remote | None) -> tuple[Action, str]:
    """Whether ``file`` must be uploaded over what S3 holds, and why."""
    if remote is None:
        return "upload", "not in S3"
    if remote.size != file.size:
        return "upload", f"size differs ({remote.size} bytes in S3, {file.size} on the Hub)"
    if remote.hub_etag is None or remote.sha256 is None:
        return "upload", "no SHA-256 recorded on the S3 object"
    if remote.hub_etag != file.etag or (file.sha256 and remote.sha256 != file.sha256):
        return "upload", "checksum differs from the Hub's"
    if remote.s3_sha256 is not None and remote.s3_sha256 != remote.sha256:
        return "upload", "S3's own SHA-256 differs from the recorded one"
    return "skip", "same size and SHA-256"


def plan(target: Target, session: Session, *, revision: str = DEFAULT_REVISION) -> Plan:
    """The Hub's files at ``revision`` that LMI needs, and for each whether S3 has it."""
    hub, store = session.hub, session.store
    snapshot = hub.snapshot(target.repo, revision)
    chosen = selection.select(f.path for f in snapshot.files)
    by_path = {f.path: f for f in snapshot.files}
    if not selection.has_weights(chosen.taken):
        raise LlmdeployError(
            f"{target.repo}@{snapshot.commit[:12]} has no safetensors or pytorch_model*.bin "
            "weights at its root: LMI could not load it (see docs/staging.md for the files "
            "stage takes)"
        )
    prefix = target.destination.key
    present = set(store.keys())
    items = []
    for path in chosen.taken:
        key = prefix + path
        remote = store.head(key) if key in present else None
        action, reason = compare(by_path[path], remote)
        items.append(Item(by_path[path], key, action, reason))
    wanted = {i.key for i in items}
    extra = tuple(sorted(k for k in present if k not in wanted))
    return Plan(target, snapshot, session.token, tuple(items), chosen.left, extra)


# --- run ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    plan: Plan
    uploaded: tuple[Item, ...] = field(default=())


def run(plan: Plan, session: Session, progress: Progress) -> Result:
    """Download, check and upload each file the plan uploads, one after the other."""
    hub, store = session.hub, session.store
    if plan.needs_token:
        raise hub.gated(plan.target.repo)
    snapshot = plan.snapshot
    done: list[Item] = []
    for item in plan.uploads:
        progress.begin(item.file.path, "download", item.file.size)
        local, sha256 = hub.download(snapshot, item.file, progress.advance)
        progress.end(item.file.path, "download")
        metadata = {
            META_SHA256: sha256,
            META_ETAG: item.file.etag,
            META_REPO: snapshot.repo,
            META_COMMIT: snapshot.commit,
        }
        progress.begin(item.file.path, "upload", item.file.size)
        store.upload(local, item.key, metadata, progress.advance)
        progress.end(item.file.path, "upload")
        remote = store.head(item.key)
        if (
            remote is None
            or remote.size != item.file.size
            or (remote.s3_sha256 is not None and remote.s3_sha256 != sha256)
        ):
            raise LlmdeployError(
                f"{store.uri(item.key)} does not hold what was uploaded (size or SHA-256 "
                "differs): run stage again; if it keeps failing, something else writes there"
            )
        done.append(item)
    return Result(plan, tuple(done))
