"""The Hugging Face Hub, through huggingface_hub: a repository's files at one commit, and
each file downloaded into huggingface_hub's own cache (``HF_HOME``, ``HF_HUB_CACHE``).

The token comes from the operator's environment (``HF_TOKEN``, or the token file that
``hf auth login`` writes) or from AWS Secrets Manager, never from a spec. It is passed to
huggingface_hub and nowhere else: every message that leaves this module goes through
`Token.scrub`, which removes the token's text and anything shaped like a credential.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmdeploy.errors import LlmdeployError, clip
from llmdeploy.secrets import redact

# Keys a JSON secret may keep the token under (Secrets Manager's console stores key/value
# pairs as a JSON object).
SECRET_KEYS = ("HF_TOKEN", "hf_token", "token", "HUGGING_FACE_HUB_TOKEN")
HF_TOKEN_ENV = "HF_TOKEN"


@dataclass(frozen=True)
class Token:
    """A Hub token and where it came from; ``repr`` never shows the value."""

    value: str | None = field(repr=False)
    source: str  # "HF_TOKEN", "the huggingface_hub token file", "secret NAME", "none"

    def scrub(self, text: str) -> str:
        if self.value:
            text = text.replace(self.value, "***")
        return redact(text)


def token_from_environment() -> Token:
    value = os.environ.get(HF_TOKEN_ENV, "").strip()
    if value:
        return Token(value, HF_TOKEN_ENV)
    from huggingface_hub import get_token

    try:
        value = (get_token() or "").strip()
    except Exception as exc:  # OIDC exchange or an unreadable file: huggingface_hub's own
        raise LlmdeployError(
            f"cannot read the Hugging Face token: {redact(clip(str(exc), 200))}"
        ) from None
    if value:
        return Token(value, "the huggingface_hub token file (hf auth login)")
    return Token(None, "none")


def token_from_secret(secretsmanager: Any, secret_id: str, region: str) -> Token:
    """The token kept in Secrets Manager as ``secret_id`` (a name or an ARN): the secret's
    whole text, or one of `SECRET_KEYS` of a JSON object."""
    from llmdeploy.deploy.aws import AWS_ERRORS, describe

    try:
        answer = secretsmanager.get_secret_value(SecretId=secret_id)
    except AWS_ERRORS as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise LlmdeployError(
                f"--token-secret {clip(secret_id)}: no such secret in {region} (Secrets "
                "Manager is read in the environment's region): give the secret's name or "
                "full ARN"
            ) from None
        raise LlmdeployError(
            f"--token-secret {clip(secret_id)}: cannot read the secret: {redact(describe(exc))}"
        ) from None
    text = answer.get("SecretString")
    if text is None and answer.get("SecretBinary") is not None:
        try:
            text = bytes(answer["SecretBinary"]).decode("utf-8")
        except UnicodeDecodeError:
            text = None
    text = (text or "").strip()
    source = f"secret {clip(secret_id)}"
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise LlmdeployError(
                f"--token-secret {clip(secret_id)}: the secret starts like JSON but is no JSON "
                'object: store the token alone, or as {"HF_TOKEN": "..."}'
            )
        found = next((k for k in SECRET_KEYS if isinstance(data.get(k), str) and data[k]), None)
        if found is None:
            names = ", ".join(sorted(redact(clip(str(k), 40)) for k in data)) or "none"
            raise LlmdeployError(
                f"--token-secret {clip(secret_id)}: the secret is a JSON object without a "
                f"token (its keys: {names}): keep the token under one of "
                f"{', '.join(SECRET_KEYS)}"
            )
        return Token(data[found].strip(), f"{source} (key {found})")
    if not text:
        raise LlmdeployError(
            f"--token-secret {clip(secret_id)}: the secret is empty or binary: store the "
            "token as its text"
        )
    return Token(text, source)


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    blob_id: str  # git's object id (sha1 of the blob)
    sha256: str | None  # LFS files: the content's SHA-256, as the Hub states it

    @property
    def etag(self) -> str:
        """What the Hub identifies the content by: the LFS SHA-256, else the git blob id."""
        return self.sha256 or self.blob_id


@dataclass(frozen=True)
class Snapshot:
    repo: str
    revision: str
    commit: str
    gated: bool
    files: tuple[HubFile, ...]


@dataclass(frozen=True)
class Digest:
    sha256: str
    git_sha1: str


def digest(path: Path) -> Digest:
    """SHA-256 and git's blob id of a file, read once."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    git = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            sha256.update(chunk)
            git.update(chunk)
    return Digest(sha256.hexdigest(), git.hexdigest())


def _bar_class(advance: Callable[[int], None]) -> type:
    """A stand-in for tqdm that hands huggingface_hub's byte counts to ``advance``."""

    class Bar:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

        def update(self, n: float | None = 1) -> None:
            if n:
                advance(int(n))

        def __getattr__(self, name: str) -> Callable[..., None]:
            return lambda *args, **kwargs: None  # close, refresh, set_description...

    return Bar


class Hub:
    """One repository's files on the Hub (``HF_ENDPOINT``, read by huggingface_hub)."""

    def __init__(self, token: Token):
        from huggingface_hub import constants

        self.token = token
        self.endpoint = constants.ENDPOINT.rstrip("/")

    def page(self, repo: str) -> str:
        return f"{self.endpoint}/{repo}"

    def snapshot(self, repo: str, revision: str) -> Snapshot:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=self.endpoint, token=self.token.value or False)
        try:
            info = api.model_info(repo, revision=revision, files_metadata=True)
        except Exception as exc:
            raise self.explain(exc, repo, revision) from None
        if not info.sha:
            raise LlmdeployError(
                f"{self.endpoint} gave no commit for {repo}@{revision}: is HF_ENDPOINT a "
                "Hugging Face Hub?"
            )
        files = tuple(
            HubFile(
                s.rfilename,
                s.lfs.size if s.lfs else (s.size or 0),
                s.blob_id or "",
                s.lfs.sha256 if s.lfs else None,
            )
            for s in info.siblings or ()
        )
        return Snapshot(repo, revision, info.sha, bool(info.gated), files)

    def download(
        self, snapshot: Snapshot, file: HubFile, advance: Callable[[int], None]
    ) -> tuple[Path, str]:
        """The file in huggingface_hub's cache (downloaded unless already there), checked
        against the Hub's SHA-256 (LFS files) or git blob id, and its SHA-256."""
        from huggingface_hub import hf_hub_download

        try:
            local = hf_hub_download(
                snapshot.repo,
                file.path,
                revision=snapshot.commit,
                token=self.token.value or False,
                endpoint=self.endpoint,
                tqdm_class=_bar_class(advance),
            )
        except Exception as exc:
            raise self.explain(exc, snapshot.repo, snapshot.commit) from None
        path = Path(local)
        found = digest(path)
        if file.sha256 is not None:
            wrong = found.sha256 != file.sha256
        else:
            wrong = bool(file.blob_id) and found.git_sha1 != file.blob_id
        if wrong or path.stat().st_size != file.size:
            raise LlmdeployError(
                f"{file.path} from {snapshot.repo}@{snapshot.commit[:12]} does not match the "
                f"checksum the Hub gives for it: nothing of it was uploaded. Delete the cached "
                f"copy ({path.resolve()}) and run stage again"
            )
        return path, found.sha256

    def gated(self, repo: str) -> LlmdeployError:
        """A gated repository, and no token."""
        return LlmdeployError(
            f"{repo} is gated: accept its license on the Hub ({self.page(repo)}) with your "
            "account, then set HF_TOKEN to a token of that account (or pass --token-secret "
            "NAME_OR_ARN, a Secrets Manager secret holding it)"
        )

    def explain(self, exc: Exception, repo: str, revision: str) -> Exception:
        """huggingface_hub's (and its HTTP client's) exceptions as the user's to fix; anything
        else is returned as it is (a bug)."""
        from huggingface_hub import errors

        token = self.token
        how = "set HF_TOKEN (or pass --token-secret NAME_OR_ARN)"
        if isinstance(exc, errors.GatedRepoError):
            if token.value is None:
                return self.gated(repo)
            return LlmdeployError(
                f"{repo} is gated and the token (from {token.source}) has no access to it: "
                f"accept the license at {self.page(repo)} with the account the token belongs "
                "to (some authors approve requests by hand: wait for their answer)"
            )
        if isinstance(exc, errors.RevisionNotFoundError):
            return LlmdeployError(
                f"{repo} has no revision '{clip(revision)}': give --revision a branch, a tag "
                "or a commit sha"
            )
        if isinstance(exc, errors.RepositoryNotFoundError):
            holder = (
                f"the token (from {token.source}) cannot see it"
                if token.value
                else f"you are not logged in: {how}"
            )
            return LlmdeployError(
                f"no model repository '{repo}' on {self.endpoint}, or it is private and "
                f"{holder}. Check the model's source.huggingFaceId (or --from)"
            )
        if isinstance(exc, errors.HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else "?"
            if status == 401 and token.value:
                return LlmdeployError(
                    f"the Hub refused the token (from {token.source}): it is invalid or "
                    f"expired. Create one at {self.endpoint}/settings/tokens"
                )
            first = token.scrub(str(exc)).strip().splitlines()[0] if str(exc) else ""
            return LlmdeployError(
                f"the Hugging Face Hub answered HTTP {status} for {repo}: {clip(first, 200)}"
            )
        module = type(exc).__module__
        if isinstance(exc, OSError) or module.startswith(("httpx", "httpcore", "requests")):
            text = token.scrub(" ".join(str(exc).split()))
            return LlmdeployError(
                f"cannot download {repo} from {self.endpoint}: {clip(text, 300)} (check the "
                "network, HF_ENDPOINT and the free space of the Hugging Face cache)"
            )
        return exc
