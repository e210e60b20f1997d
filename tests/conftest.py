"""Builders for small spec portfolios written to a temporary folder."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmdeploy.errors import Diagnostic, SpecError
from llmdeploy.plan import Checked, check

REPO = Path(__file__).resolve().parent.parent


def base_environment(name: str = "prod") -> dict[str, Any]:
    return {
        "apiVersion": "llmdeploy/v1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {
            "account": "111122223333",
            "region": "us-east-1",
            "endpoints": [
                {
                    "name": "pool",
                    "instanceType": "ml.g6e.12xlarge",  # 4 × L40S 45776 MiB, 48 vCPU, 384 GiB
                    "instances": {"min": 0, "initial": 1, "max": 2},
                }
            ],
        },
    }


def base_model(name: str = "m1") -> dict[str, Any]:
    return {
        "apiVersion": "llmdeploy/v1",
        "kind": "Model",
        "metadata": {"name": name, "version": 1, "owner": "team"},
        "spec": {
            "endpoint": "pool",
            "source": {"s3Uri": f"s3://bucket/{name}/1/"},
            "sizeBillions": 8,
            "container": {"engine": "djl-lmi", "version": "0.33.0"},
            "lmi": {"rollingBatch": "vllm", "tensorParallelDegree": 1, "dtype": "bf16"},
            "resources": {"accelerators": 1, "memoryMiB": 32768, "cpuCores": 4},
            "copies": {"min": 1, "initial": 1, "max": 2},
            "autoscaling": {"target": 4},
        },
    }


class Specs:
    """A folder of spec files, written from dicts, and checked."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, str] = {}

    def write(self, name: str, doc: dict[str, Any] | str) -> Path:
        text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.files[str(path)] = text
        return path

    def standard(self, env: dict | None = None, *models: dict) -> Specs:
        self.write("infra/prod.yaml", env or base_environment())
        for m in models or (base_model(),):
            self.write(f"models/{m['metadata']['name']}.yaml", m)
        return self

    def check(self, *envs: str) -> Checked:
        return check([self.root / "models", self.root / "infra"], envs)

    def findings(self, *envs: str) -> list[Diagnostic]:
        """Everything the check says: the warnings of valid specs, or every diagnostic (errors
        and warnings) of invalid ones."""
        try:
            return list(self.check(*envs).warnings)
        except SpecError as exc:
            return list(exc.diagnostics)

    def errors(self, *envs: str) -> list[Diagnostic]:
        with pytest.raises(SpecError) as info:
            self.check(*envs)
        return [d for d in info.value.diagnostics if d.severity == "error"]

    def line_of(self, path: Path, needle: str) -> int:
        """1-based line of the first line containing ``needle`` in the written file."""
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def specs(tmp_path: Path) -> Specs:
    return Specs(tmp_path)


def mutate(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``doc`` with dotted paths set (value None deletes the key)."""
    out = copy.deepcopy(doc)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        node = out
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return out


# --- AWS: a moto server ------------------------------------------------------------------------
#
# A moto server on 127.0.0.1 playing CloudFormation, S3, STS, IAM, KMS and SageMaker.
#
# moto 5.2 has gaps that break an inference-component endpoint stack; each is patched here,
# in the test process (the threaded server runs in it), and only here:
#
# - `FakeEndpointConfig.validate_instance_type` knows no instance type newer than ~2019
#   (no ml.p4d, ml.g5, ml.g6, ml.p5en, ml.inf2): accept any `ml.` type.
# - `SageMakerModelBackend.validate_production_variants` reads `ModelName` from every variant
#   and fails (HTTP 500) on the model-less variant that an inference-component endpoint has:
#   check only the variants that name a model.
# - `KmsBackend.create_key`, when CloudFormation creates a key, gets tags as Key/Value but
#   files them as TagKey/TagValue (KeyError, HTTP 500): translate.
#
# What moto lacks and tests/moto_support.py adds (each patch explained there, and what the
# server emulates and what it does not in docs/local-server.md; tested in
# tests/deploy/test_local_server.py): the inference-component API and the
# AWS::SageMaker::InferenceComponent resource (instant: InService at once, current copies =
# desired), the template's EndpointName, an endpoint variant's weight kept when only its
# instance count is updated, updates of the resources that refer to a replaced one,
# change sets that record their parameters and tags, list parameter-driven changes and set
# Outputs, DescribeStacks' ChangeSetId and LastUpdatedTime, Number parameters checked
# against MinValue/MaxValue, and atomic S3 conditional
# writes. Its CloudFormation still skips AWS::ApplicationAutoScaling::* and
# AWS::CloudWatch::Alarm (it warns and completes the stack): nothing scales or alarms.


from moto_support import MOTO_ACCOUNT, start_moto_server  # noqa: E402


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server, url = start_moto_server()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def runtime_url() -> Iterator[str]:
    """A fake SageMaker Runtime (tests/fake_runtime.py), quick, for deploy's smoke requests."""
    import fake_runtime

    server = fake_runtime.start(fake_runtime.Settings(ttft_ms=1, tpot_ms=1, tokens=4, seed=1))
    yield server.url
    server.shutdown()
    server.server_close()


@pytest.fixture
def aws(moto_url, runtime_url, monkeypatch) -> str:
    """A clean moto account, credentials that reach only it, and a fake SageMaker Runtime
    (moto has no inference components to invoke)."""
    import requests

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_url)

    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_url


@pytest.fixture
def portfolio(tmp_path, monkeypatch) -> Path:
    """The example portfolio in a work folder, its accounts set to moto's, cwd there (the
    local history store is .llmdeploy/history under it)."""
    root = tmp_path / "work"
    shutil.copytree(REPO / "models", root / "models")
    shutil.copytree(REPO / "infra", root / "infra")
    for env in (root / "infra").glob("*.yaml"):
        text = env.read_text()
        for account in ("111122223333", "444455556666"):
            text = text.replace(account, MOTO_ACCOUNT)
        env.write_text(text)
    monkeypatch.chdir(root)
    return root


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    state: str  # Z: a zombie, ended but not yet reaped
    cmdline: str
    environ: bytes  # empty where it cannot be read


def processes() -> list[Process]:
    """Every process in /proc, as it is now (tests that no Node.js or worker is left)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # ended meanwhile
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            environ = b""
        out.append(Process(int(entry.name), int(fields[1]), fields[0], cmdline, environ))
    return out
