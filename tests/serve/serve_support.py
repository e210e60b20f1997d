"""A fake SageMaker Runtime (tests/fake_runtime.py) in this process, and the environment that
points boto3 at it with dummy credentials: no network beyond 127.0.0.1, no AWS."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import fake_runtime
from conftest import REPO, base_environment, base_model

SPECS = [str(REPO / "models"), str(REPO / "infra")]


def aws_env(url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture(name="fake")
def fake_fixture(monkeypatch) -> Iterator[fake_runtime.FakeRuntime]:
    """A fake runtime on a free port (settings changeable per test: ``fake.settings``)."""
    server = fake_runtime.start(fake_runtime.Settings(ttft_ms=20, tpot_ms=5, tokens=6, seed=7))
    for key, value in aws_env(server.url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield server
    server.shutdown()
    server.server_close()


def start_process(monkeypatch, *args: str) -> subprocess.Popen:
    """tests/fake_runtime.py in its own process (for timing: no GIL shared with the harness),
    with boto3 pointed at it; the caller ends it with `stop_process`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, fake_runtime.__file__, "--port", str(port), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert "fake SageMaker Runtime on" in proc.stdout.readline()  # it listens
    for key, value in aws_env(f"http://127.0.0.1:{port}").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


def write_specs(
    root: Path, *, slo: dict | None = None, request_format: str | None = None, dedicated=False
) -> list[str]:
    """An environment 'prod' (prefix llmdeploy-prod) with one model 'm1' on endpoint 'pool'
    (or dedicated), with the given SLO and request format."""
    model = base_model("m1")
    if slo is not None:
        model["spec"]["slo"] = slo
    if request_format is not None:
        model["spec"]["requestFormat"] = request_format
    if dedicated:
        spec = model["spec"]
        for key in ("endpoint", "resources", "copies", "autoscaling"):
            spec.pop(key, None)
        spec["dedicated"] = {
            "instanceType": "ml.g6e.2xlarge",
            "instances": {"min": 1, "initial": 1, "max": 1},
        }
    (root / "infra").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "infra/prod.yaml").write_text(yaml.safe_dump(base_environment(), sort_keys=False))
    (root / "models/m1.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    return ["--specs", str(root / "models"), "--specs", str(root / "infra")]
