"""A portfolio shaped like the case this project starts from, written as spec files.

Of every 100 models: 20 busy ~15 GB ones (7-8B in bf16: always warm, several copies in the
day), 30 large 20-30 GB ones with little traffic (10-15B, scale to zero at night) and 50 small
rarely used ones (1-3B, at zero most of the day) — all on one shared ml.p4d.24xlarge pool,
one A100 per copy, as teams first lay them out. Traffic profiles say how busy each is.
Seeded: the same arguments write the same files.

    .venv/bin/python bench/case_portfolio.py --models 100 --out /tmp/case
    .venv/bin/llmdeploy plan --specs /tmp/case --optimize
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import yaml

POOL = "shared-p4d"
LLAMA = {  # architecture figures of common checkpoints (their config.json)
    1.5: {"layers": 28, "kvHeads": 2, "headDim": 128},
    3: {"layers": 28, "kvHeads": 8, "headDim": 128},
    7.5: {"layers": 32, "kvHeads": 8, "headDim": 128},
    8: {"layers": 32, "kvHeads": 8, "headDim": 128},
    12: {"layers": 40, "kvHeads": 8, "headDim": 128},
    14: {"layers": 48, "kvHeads": 8, "headDim": 128},
    32: {"layers": 64, "kvHeads": 8, "headDim": 128},
}
KINDS = (  # share of models, sizes, batch, context, host GiB, CPUs, copies, hours a day
    ("busy", 0.2, (7.5, 8), 32, 4096, 48, 8, (1, 2, 4), {"min": 12, "initial": 8, "max": 4}),
    ("large", 0.3, (12, 14), 8, 4096, 96, 12, (0, 1, 2), {"min": 18, "initial": 5, "max": 1}),
    ("small", 0.5, (1.5, 3), 16, 4096, 16, 4, (0, 1, 1), {"min": 21, "initial": 3}),
)


def diverse(kind: tuple, rng: random.Random) -> tuple:
    """The same kind with its figures drawn from wide ranges: many shapes and profiles, the
    harder search."""
    name, share, sizes, _, _, _, _, copies, _ = kind
    busy = rng.choice([1, 2, 3, 4, 6])
    warm = rng.choice([2, 4, 6, 8, 10])
    return (
        name,
        share,
        (rng.choice([*sizes, 3, 8, 14, 32]),),
        rng.choice([8, 16, 32, 64]),
        rng.choice([2048, 4096, 8192]),
        rng.choice([16, 24, 32, 48, 64, 96]),
        rng.choice([2, 4, 6, 8, 12, 16]),
        (copies[0], copies[1], copies[2] + rng.choice([0, 1, 2])),
        {"min": 24 - busy - warm, "initial": warm, "max": busy},
    )


A100_USABLE_GIB = 40 * 0.9  # vLLM's share of an A100 40GB


def _a100s(size: float, batch: int, context: int) -> int:
    """The A100s one copy needs for the weights and its batch's KV cache (as teams size it)."""
    arch = LLAMA[size]
    kv = batch * context * 2 * arch["layers"] * arch["kvHeads"] * arch["headDim"] * 2
    need = (size * 1e9 * 2 + kv) / 2**30
    devices = 1
    while devices * A100_USABLE_GIB < need:
        devices *= 2
    return devices


def model(name: str, kind: tuple, rng: random.Random) -> dict:
    _, _, sizes, batch, context, host, cpus, copies, hours = kind
    size = rng.choice(sizes)
    while _a100s(size, batch, context) > 8 and batch > 1:
        batch //= 2
    devices = _a100s(size, batch, context)
    return {
        "apiVersion": "llmdeploy/v1",
        "kind": "Model",
        "metadata": {"name": name, "version": 1, "owner": "case-team"},
        "spec": {
            "endpoint": POOL,
            "source": {"s3Uri": f"s3://case-models/{name}/1/"},
            "sizeBillions": size,
            "architecture": LLAMA[size],
            "container": {"engine": "djl-lmi", "version": "0.33.0"},
            "lmi": {
                "rollingBatch": "vllm",
                "maxRollingBatchSize": batch,
                "maxModelLen": context,
                "tensorParallelDegree": devices,
                "dtype": "bf16",
            },
            "resources": {
                "accelerators": devices,
                "memoryMiB": host * 1024,
                "cpuCores": min(cpus * devices, 96),
            },
            "copies": dict(zip(("min", "initial", "max"), copies, strict=True)),
            "autoscaling": {"target": 8},
            "traffic": {"hoursPerDay": hours},
        },
    }


def portfolio(models: int, seed: int = 7, varied: bool = False) -> tuple[dict, list[dict]]:
    rng = random.Random(seed)
    docs = []
    for i in range(models):
        share = (i % 100) / 100
        kind = KINDS[0] if share < 0.2 else KINDS[1] if share < 0.5 else KINDS[2]
        if varied:
            kind = diverse(kind, rng)
        docs.append(model(f"{kind[0]}-{i:04d}", kind, rng))

    # The pool holds every model's peak copies; idle, the warm ones' minimum copies.
    def gpus(point: str) -> int:
        return sum(
            d["spec"]["copies"][point] * d["spec"]["resources"]["accelerators"] for d in docs
        )

    peak, idle, initial = gpus("max"), gpus("min"), gpus("initial")
    env = {
        "apiVersion": "llmdeploy/v1",
        "kind": "Environment",
        "metadata": {"name": "prod"},
        "spec": {
            "account": "111122223333",
            "region": "us-east-1",
            "endpoints": [
                {
                    "name": POOL,
                    "instanceType": "ml.p4d.24xlarge",
                    "instances": {
                        "min": -(-idle // 8),
                        "initial": -(-initial // 8),
                        "max": -(-peak // 8) + 2,
                    },
                }
            ],
        },
    }
    return env, docs


def write(folder: Path, models: int, seed: int = 7, varied: bool = False) -> Path:
    env, docs = portfolio(models, seed, varied)
    (folder / "infra").mkdir(parents=True, exist_ok=True)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "infra" / "prod.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    for d in docs:
        path = folder / "models" / f"{d['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(d, sort_keys=False))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--varied", action="store_true", help="draw sizes, batches, hosts and hours widely"
    )
    args = parser.parse_args()
    print(write(args.out, args.models, args.seed, args.varied))


if __name__ == "__main__":
    main()
