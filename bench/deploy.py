"""Benchmark: deploy N model stacks to a moto server, change one, deploy again, retire one.

Prints, for the first deployment and for the one-model change, the stacks deployed, the
change sets created and the wall time (synthesis included); the same for `diff`; a
one-model change whose component autoscaling took to 2 copies (kept); retiring a model whose
spec was removed; and the environment lock: what taking and releasing it costs, and how fast
a second deploy is turned away while it is held.

    .venv/bin/python bench/deploy.py [--models 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from moto_support import MOTO_ACCOUNT, start_moto_server

ENV = f"""apiVersion: llmdeploy/v1
kind: Environment
metadata: {{name: bench}}
spec:
  account: "{MOTO_ACCOUNT}"
  region: us-east-1
  endpoints:
    - name: pool
      instanceType: ml.g6.12xlarge
      instances: {{min: 0, initial: 1, max: {{max}}}}
"""

MODEL = """apiVersion: llmdeploy/v1
kind: Model
metadata: {{name: {name}, version: {version}, owner: bench}}
spec:
  endpoint: pool
  source: {{s3Uri: "s3://bench-models/{name}/{version}/"}}
  sizeBillions: 7
  container: {{engine: djl-lmi, version: "0.33.0"}}
  lmi: {{rollingBatch: vllm, maxRollingBatchSize: {batch}, tensorParallelDegree: 1}}
  resources: {{accelerators: 1, memoryMiB: 32768, cpuCores: 4}}
  copies: {{min: 0, initial: 1, max: 2}}
  autoscaling: {{target: 4}}
"""


def _row(step: str, results, took: float) -> None:
    print(
        f"{step:<34} {len(results):>6} "
        f"{sum(r.outcome == 'deployed' for r in results):>8} "
        f"{sum(r.change_sets for r in results):>11} {took:>8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    args = parser.parse_args()
    server, url = start_moto_server()
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    from llmdeploy.deploy import service
    from llmdeploy.deploy.report import PlainReporter

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "infra").mkdir()
        (root / "models").mkdir()
        (root / "infra/bench.yaml").write_text(ENV.replace("{max}", str(-(-args.models * 2 // 4))))
        for i in range(args.models):
            name = f"model-{i:03d}"
            (root / f"models/{name}.yaml").write_text(MODEL.format(name=name, version=1, batch=32))
        paths = [root / "models", root / "infra"]

        def run(fn, **kw):
            with open(os.devnull, "w") as quiet:
                ctx = service.open_environment(
                    paths,
                    "bench",
                    PlainReporter(quiet),
                    poll_seconds=0.05,
                    history_root=root / "history",
                    **kw,
                )
                start = time.perf_counter()
                out = fn(ctx)
                return out, time.perf_counter() - start

        (results, _), first = run(lambda ctx: service.deploy(ctx))
        print(f"{'step':<34} {'stacks':>6} {'deployed':>8} {'change sets':>11} {'seconds':>8}")
        print(
            f"{'deploy from scratch':<34} {len(results):>6} "
            f"{sum(r.outcome == 'deployed' for r in results):>8} "
            f"{sum(r.change_sets for r in results):>11} {first:>8.1f}"
        )
        changed = root / "models/model-007.yaml"
        changed.write_text(MODEL.format(name="model-007", version=2, batch=64))
        diffs, took = run(lambda ctx: service.diff(ctx))
        print(
            f"{'diff, one model changed':<34} {len(diffs):>6} {'-':>8} "
            f"{sum(d.status != 'unchanged' for d in diffs):>11} {took:>8.1f}"
        )
        (results, _), took = run(lambda ctx: service.deploy(ctx))
        _row("deploy, one model changed", results, took)

        import boto3

        sm = boto3.client("sagemaker", region_name="us-east-1")
        sm.update_inference_component_runtime_config(
            InferenceComponentName="llmdeploy-bench-model-008",
            DesiredRuntimeConfig={"CopyCount": 2},
        )
        (root / "models/model-008.yaml").write_text(
            MODEL.format(name="model-008", version=2, batch=64)
        )
        (results, _), took = run(lambda ctx: service.deploy(ctx))
        copies = sm.describe_inference_component(
            InferenceComponentName="llmdeploy-bench-model-008"
        )["RuntimeConfig"]["DesiredCopyCount"]
        _row(f"deploy, one changed, {copies} copies kept", results, took)

        (root / "models/model-009.yaml").unlink()
        retired, took = run(lambda ctx: service.retire(ctx, "model-009"), assume_yes=True)
        print(
            f"{'retire one removed model':<34} {len(retired):>6} "
            f"{sum(r.outcome == 'retired' for r in retired):>8} {'-':>11} {took:>8.1f}"
        )

        from llmdeploy.deploy.lock import Locked, LockInfo

        def lock_cycles(ctx, n=20):
            for _ in range(n):
                with service.locked(ctx, "deploy"):
                    pass
            return n

        n, took = run(lock_cycles)
        print(
            f"{'lock taken and released (each)':<34} {'-':>6} {'-':>8} {'-':>11} {took / n:>8.4f}"
        )

        def turned_away(ctx):
            assert ctx.history.try_lock(LockInfo.new("bench", "deploy", "someone")) is None
            try:
                service.deploy(ctx)
            except Locked:
                return True
            finally:
                ctx.history.break_lock("bench")
            return False

        refused, took = run(turned_away)
        assert refused  # the second deploy never ran
        print(f"{'second deploy while locked: refused':<34} {'-':>6} {0:>8} {0:>11} {took:>8.3f}")
    server.stop()
    print(
        "\n(moto server on 127.0.0.1; times include synthesizing every stack; moto executes "
        "change sets at once, so waiting on real resources is not measured)"
    )


if __name__ == "__main__":
    main()
