"""One model's SageMaker Runtime target, found from the specs alone, and the calls to it.

The names are synthesis's (`llmdeploy.plan.names`): a model on a shared endpoint is invoked
on ``<prefix>-<endpoint>`` with ``InferenceComponentName=<prefix>-<model>``; a dedicated
model on its own endpoint ``<prefix>-<model>``, without a component. No CloudFormation call
is needed. ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` (read by botocore) points the client at a
local runtime such as tests/fake_runtime.py.

Every call is timed with `time.perf_counter` on the calling thread: the start just before the
request is signed and sent, each streamed token when botocore hands over the PayloadPart that
completes its line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llmdeploy.errors import LlmdeployError
from llmdeploy.plan import Checked, ResolvedEnvironment
from llmdeploy.plan.names import Names
from llmdeploy.serve import formats
from llmdeploy.serve.formats import Format, FormatError, LineDecoder, Prompt
from llmdeploy.spec.diagnose import suggest
from llmdeploy.spec.models import Slo

# Error codes (and HTTP 429) that mean "too many requests", counted apart from errors.
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ThrottledException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)

DEFAULT_READ_TIMEOUT_SECONDS = 300.0  # a long answer streams for minutes


@dataclass(frozen=True)
class Target:
    """Where one model of one environment answers, and how it speaks."""

    environment: str
    model: str
    region: str
    endpoint: str
    component: str | None  # None: a dedicated endpoint
    request_format: str
    slo: Slo | None

    def describe(self) -> str:
        where = f"endpoint {self.endpoint}"
        if self.component:
            where += f", inference component {self.component}"
        return f"{where} ({self.region})"

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "model": self.model,
            "region": self.region,
            "endpoint": self.endpoint,
            "inference_component": self.component,
            "request_format": self.request_format,
        }


def resolve(checked: Checked, environment: str, model: str) -> Target:
    """The target of ``model`` in ``environment``; a located error when either is unknown."""
    env = next((e for e in checked.environments if e.name == environment), None)
    if env is None:
        known = [e.name for e in checked.environments]
        hint = suggest(environment, known, "environments")
        raise LlmdeployError(f"--env {environment}: no such environment ({hint})")
    return target_in(env, model)


def target_in(env: ResolvedEnvironment, model: str) -> Target:
    """The target of ``model`` in a resolved environment."""
    environment = env.name
    found = next((m for m in env.models if m.name == model), None)
    if found is None:
        known = [m.name for m in env.models]
        hint = suggest(model, known, "models") if known else "it has no models"
        raise LlmdeployError(f"model '{model}' is not in environment '{environment}' ({hint})")
    names = Names(env.doc.spec.stack_prefix)
    spec = found.model_spec
    if found.dedicated:
        endpoint, component = names.endpoint(model), None
    elif spec.endpoint is not None:
        endpoint, component = names.endpoint(spec.endpoint), names.inference_component(model)
    elif found.runs_on is not None:  # a LoRA adapter: its own component on its base's endpoint
        endpoint = names.endpoint(found.runs_on.name)
        component = names.inference_component(model)
    else:  # the rules refuse a model with neither; resolution is best effort
        raise LlmdeployError(f"model '{model}' names neither an endpoint nor dedicated hardware")
    return Target(
        environment=environment,
        model=model,
        region=env.doc.environment_spec.region,
        endpoint=endpoint,
        component=component,
        request_format=spec.request_format,
        slo=spec.slo,
    )


class InvokeError(LlmdeployError):
    """A request that failed: ``kind`` is AWS's error code (or connection, timeout, format),
    ``throttle`` whether it means too many requests."""

    def __init__(self, message: str, kind: str, throttle: bool = False):
        super().__init__(message)
        self.kind = kind
        self.throttle = throttle


@dataclass
class Reply:
    """One answer and its timing; times are seconds from the request's start."""

    text: str
    tokens: int  # token events streamed, or the server's count, or 0 when unknown
    e2e_s: float
    ttft_s: float | None = None  # streamed answers only
    token_times_s: list[float] = field(default_factory=list)

    @property
    def tpot_s(self) -> float | None:
        """Mean time between tokens after the first (None with fewer than 2)."""
        t = self.token_times_s
        return (t[-1] - t[0]) / (len(t) - 1) if len(t) >= 2 else None


class Runtime:
    """A thread-safe client for one target. ``retries=False`` (bench) sends each request
    once, so that throttling is counted instead of hidden behind botocore's retries."""

    def __init__(
        self,
        target: Target,
        *,
        pool: int = 10,
        retries: bool = True,
        read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS,
    ):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        self.target = target
        self.format: Format = formats.get(target.request_format)
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 3 if retries else 1},
            max_pool_connections=pool,
            connect_timeout=10,
            read_timeout=read_timeout_seconds,
            tcp_keepalive=True,
        )
        try:
            session = boto3.Session(region_name=target.region)
            self.client = session.client("sagemaker-runtime", config=config)
        except BotoCoreError as exc:
            raise LlmdeployError(f"AWS configuration: {exc}") from exc

    def _args(self, body: dict) -> dict:
        args = {
            "EndpointName": self.target.endpoint,
            "Body": json.dumps(body).encode(),
            "ContentType": "application/json",
        }
        if self.target.component:
            args["InferenceComponentName"] = self.target.component
        return args

    def complete(self, prompt: Prompt, *, max_tokens: int) -> Reply:
        """One whole answer (InvokeEndpoint)."""
        body = self.format.request(prompt, max_tokens=max_tokens, stream=False)
        start = time.perf_counter()
        try:
            response = self.client.invoke_endpoint(**self._args(body))
            raw = response["Body"].read()
        except Exception as exc:
            raise self._error("InvokeEndpoint", exc) from exc
        e2e = time.perf_counter() - start
        try:
            data = json.loads(raw)
        except ValueError:
            raise InvokeError(
                f"{self.target.describe()}: the answer is not JSON: {raw[:200]!r}", "format"
            ) from None
        try:
            answer = self.format.answer(data)
        except FormatError as exc:
            raise InvokeError(f"{self.target.describe()}: {exc}", "format") from None
        return Reply(answer.text, answer.tokens or 0, e2e)

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """One streamed answer (InvokeEndpointWithResponseStream), each token timestamped as
        its PayloadPart arrives; ``on_text`` gets each token's text at once."""
        fmt = self.format
        body = fmt.request(prompt, max_tokens=max_tokens, stream=True)
        decoder = LineDecoder()
        parts: list[str] = []
        times: list[float] = []
        start = time.perf_counter()
        try:
            response = self.client.invoke_endpoint_with_response_stream(**self._args(body))
            for event in response["Body"]:
                now = time.perf_counter()
                part = event.get("PayloadPart")
                if part is None:
                    continue
                for line in decoder.feed(part.get("Bytes", b"")):
                    text = fmt.stream_text(line)
                    if text is None:
                        continue
                    times.append(now - start)
                    parts.append(text)
                    if on_text is not None:
                        on_text(text)
            for line in decoder.close():
                text = fmt.stream_text(line)
                if text is not None:
                    times.append(time.perf_counter() - start)
                    parts.append(text)
                    if on_text is not None:
                        on_text(text)
        except FormatError as exc:
            raise InvokeError(f"{self.target.describe()}: {exc}", "format") from None
        except Exception as exc:
            raise self._error("InvokeEndpointWithResponseStream", exc) from exc
        e2e = time.perf_counter() - start
        return Reply("".join(parts), len(times), e2e, times[0] if times else None, times)

    def _error(self, operation: str, exc: Exception) -> Exception:
        """An AWS or network failure as a located InvokeError; anything else is a bug."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        from llmdeploy.deploy.aws import describe

        where = f"{operation} on {self.target.describe()}"
        if isinstance(exc, NoCredentialsError):
            return InvokeError(
                f"{where}: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY, or run `aws sso login`",
                "NoCredentials",
            )
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code") or "Error"
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            throttle = code in THROTTLE_CODES or status == 429
            return InvokeError(
                f"{where}: {describe(exc)}; {_advice(code, throttle, self.target)}",
                code,
                throttle,
            )
        if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
            return InvokeError(
                f"{where}: cannot connect ({describe(exc)}); check the network and the "
                "region, or AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME if you set it",
                "connection",
            )
        if isinstance(exc, ReadTimeoutError):
            return InvokeError(
                f"{where}: no answer in time ({describe(exc)}); ask for fewer tokens "
                "(--max-tokens) or check that the model is healthy",
                "timeout",
            )
        if isinstance(exc, BotoCoreError):
            return InvokeError(f"{where}: {describe(exc)}", type(exc).__name__)
        return exc


def _advice(code: str, throttle: bool, target: Target) -> str:
    if throttle:
        return "too many requests at once: lower the concurrency, or add copies"
    if code == "ValidationError":
        return (
            f"is '{target.model}' deployed in '{target.environment}'? "
            f"`llmdeploy status --env {target.environment}` shows what runs"
        )
    if code == "ModelError":
        return "the container answered with an error: its CloudWatch log stream says why"
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        return "the credentials may not call sagemaker:InvokeEndpoint on this endpoint"
    if code in ("ModelNotReadyException", "ServiceUnavailable", "InternalFailure"):
        return "try again in a moment"
    return "see the message above"
