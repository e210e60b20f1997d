"""AWS access through the standard credential chain, in the environment's region.

Profiles, environment variables, SSO and instance roles all work as for the AWS CLI;
`AWS_ENDPOINT_URL` (read by botocore) points every client at a local emulator such as a moto
server. Before anything changes, `require_account` checks that the credentials belong to the
environment's account.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError

from llmdeploy.errors import LlmdeployError
from llmdeploy.spec.models import Environment

_RETRIES = Config(retries={"max_attempts": 8, "mode": "adaptive"})
# What an AWS call can raise that is not our bug: AWS's (or an emulator's) answer, the
# network, or a response botocore cannot parse (ResponseParserError is no BotoCoreError).
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str


@dataclass
class Aws:
    """Clients for one environment (region), shared by the engine's worker threads."""

    session: boto3.Session
    region: str
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        # Sessions are not thread-safe; clients are. Create each once, under a lock.
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, region_name=self.region, config=_RETRIES
                )
            return self._clients[service]


def connect(env: Environment, *, profile: str | None = None) -> Aws:
    try:
        session = boto3.Session(profile_name=profile, region_name=env.spec.region)
    except BotoCoreError as exc:
        raise LlmdeployError(f"AWS configuration: {exc}") from exc
    return Aws(session, env.spec.region)


class NoCredentials(LlmdeployError):
    """No AWS credentials in the chain: what needs no AWS (history in a local folder, the
    specs' side of `status`) still works."""


def identity(aws: Aws) -> Identity:
    try:
        who = aws.client("sts").get_caller_identity()
    except NoCredentialsError as exc:
        raise NoCredentials(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
        ) from exc
    except AWS_ERRORS as exc:
        raise LlmdeployError(f"cannot identify the AWS caller: {describe(exc)}") from exc
    return Identity(who["Account"], who["Arn"])


def require_account(aws: Aws, env: Environment) -> Identity:
    """The caller, if its account is the environment's; refuses otherwise."""
    who = identity(aws)
    if who.account != env.spec.account:
        raise LlmdeployError(
            f"the AWS credentials are for account {who.account} ({who.arn}) but environment "
            f"'{env.name}' is account {env.spec.account}: refusing to change anything. Use "
            "credentials for that account (e.g. AWS_PROFILE=...)"
        )
    return who


def describe(exc: Exception) -> str:
    """An AWS error as one line: code and message, never a traceback or an HTML page."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        text = f"{err.get('Code', 'Error')}: {err.get('Message', str(exc))}"
    else:
        text = str(exc)
    if "<html" in text.lower() or "<!doctype" in text.lower():
        code = re.search(r"\b([45]\d\d)\b", text)
        return (
            f"the service answered with an HTML error page (HTTP {code.group(1) if code else '?'})"
        )
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."
