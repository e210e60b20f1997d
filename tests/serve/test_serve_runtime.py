"""Names from the specs alone, the calls to SageMaker Runtime, and AWS failures in words."""

from __future__ import annotations

import socket

import pytest
from serve_support import SPECS, fake_fixture, write_specs  # noqa: F401 - the fixture

from llmdeploy.errors import LlmdeployError
from llmdeploy.plan import check
from llmdeploy.serve.formats import Prompt
from llmdeploy.serve.runtime import InvokeError, Runtime, Target, resolve


def _target(tmp_path, **kw) -> Target:
    write_specs(tmp_path, **kw)
    return resolve(check([tmp_path / "models", tmp_path / "infra"], ["prod"]), "prod", "m1")


def test_a_shared_endpoint_model_is_its_component_on_the_endpoint():
    target = resolve(check(SPECS, ["dev"]), "dev", "inline-completion")
    assert (target.endpoint, target.component) == (
        "llmdeploy-dev-codegen-g6",
        "llmdeploy-dev-inline-completion",
    )
    assert target.region == "us-west-2"
    assert target.request_format == "text-generation"


def test_a_dedicated_model_has_its_own_endpoint_and_no_component(tmp_path):
    target = _target(tmp_path, dedicated=True)
    assert (target.endpoint, target.component) == ("llmdeploy-prod-m1", None)


def test_an_unknown_model_suggests_the_close_one():
    with pytest.raises(LlmdeployError, match="did you mean 'inline-completion'"):
        resolve(check(SPECS, ["dev"]), "dev", "inline-completon")


def test_requests_carry_the_component_header_only_for_shared_endpoints(fake, tmp_path):
    shared = Runtime(_target(tmp_path / "a"))
    dedicated = Runtime(_target(tmp_path / "b", dedicated=True))
    shared.complete(Prompt("hi"), max_tokens=4)
    dedicated.stream(Prompt("hi"), max_tokens=4)
    first, second = fake.seen.requests
    assert (first["endpoint"], first["component"], first["operation"]) == (
        "llmdeploy-prod-pool",
        "llmdeploy-prod-m1",
        "invocations",
    )
    assert (second["endpoint"], second["component"], second["operation"]) == (
        "llmdeploy-prod-m1",
        None,
        "invocations-response-stream",
    )
    assert first["body"] == {"inputs": "hi", "parameters": {"max_new_tokens": 4}}


def test_chat_completions_stream_and_answer(fake, tmp_path):
    runtime = Runtime(_target(tmp_path, request_format="chat-completions"))
    streamed = runtime.stream(Prompt("hi", "sys"), max_tokens=3)
    whole = runtime.complete(Prompt("hi"), max_tokens=3)
    assert streamed.text == whole.text == "the quick brown"
    assert streamed.tokens == whole.tokens == 3
    assert fake.seen.requests[0]["body"]["messages"][0] == {"role": "system", "content": "sys"}


def test_streamed_tokens_are_timed_as_they_arrive(fake, tmp_path):
    fake.settings.ttft_ms, fake.settings.tpot_ms, fake.settings.tokens = 60, 20, 5
    runtime = Runtime(_target(tmp_path))
    runtime.stream(Prompt("warm"), max_tokens=1)
    reply = runtime.stream(Prompt("hi"), max_tokens=5)
    assert reply.tokens == 5
    assert 0.060 <= reply.ttft_s < 0.090  # the truth, and a round trip on a busy machine
    assert reply.tpot_s == pytest.approx(0.020, abs=0.002)
    assert reply.e2e_s >= reply.token_times_s[-1]


def test_an_endpoint_that_does_not_exist_is_named_with_the_way_to_check(fake, tmp_path):
    fake.known = {"something-else"}
    with pytest.raises(InvokeError) as info:
        Runtime(_target(tmp_path)).complete(Prompt("hi"), max_tokens=4)
    message = str(info.value)
    assert info.value.kind == "ValidationError"
    assert "InvokeEndpoint on endpoint llmdeploy-prod-pool" in message
    assert "inference component llmdeploy-prod-m1" in message
    assert "not found" in message
    assert "llmdeploy status --env prod" in message


@pytest.mark.parametrize(
    ("failure", "kind", "throttle", "words"),
    [
        ("throttle", "ThrottlingException", True, "lower the concurrency"),
        ("model", "ModelError", False, "CloudWatch log stream"),
    ],
)
def test_throttles_and_model_errors_are_told_apart(fake, tmp_path, failure, kind, throttle, words):
    fake.draw_failure = lambda: failure
    runtime = Runtime(_target(tmp_path), retries=False)
    with pytest.raises(InvokeError) as info:
        runtime.stream(Prompt("hi"), max_tokens=4)
    assert (info.value.kind, info.value.throttle) == (kind, throttle)
    assert words in str(info.value)


def test_no_server_is_a_connection_error_naming_the_override(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    runtime = Runtime(_target(tmp_path), retries=False)
    with pytest.raises(InvokeError) as info:
        runtime.complete(Prompt("hi"), max_tokens=4)
    assert info.value.kind == "connection"
    assert "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME" in str(info.value)


def test_no_credentials_is_said_in_words(fake, tmp_path, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(InvokeError, match="no AWS credentials found"):
        Runtime(_target(tmp_path)).complete(Prompt("hi"), max_tokens=4)
