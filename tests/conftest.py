"""Builders for small spec portfolios written to a temporary folder."""

from __future__ import annotations

import copy
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
