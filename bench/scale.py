"""Benchmark: validate, plan, synth and diff on portfolios of 10, 100 and 1,000 models.

Every command runs as a whole process (what a user and CI wait for), timed with peak memory
(GNU time's maximum resident set size: the largest process of the command, Python or the
Node.js process behind aws_cdk). `diff` runs against a moto server on 127.0.0.1 holding the
whole portfolio deployed, after one model changed.

The rows, in the order they run:

- `synth --no-cache --jobs 1`: every stack built by CDK in one app (synthesis before the
  cache and the workers);
- `CDK floor (CfnResource replay)`: the same templates rebuilt from generic `cdk.CfnResource`s
  in one app and synthesized: what CDK costs with no construct of ours;
- `synth cold (cache empty)`: with `--jobs` workers, storing every stack in the cache; its
  output is checked equal to the first row's;
- `synth warm (nothing changed)`, then one model changes: `synth warm (one model changed)`
  (checked equal, byte for byte, to a cold synth of the changed portfolio), `synth (one
  model)`, `diff` with the cache warm and `diff --no-cache --jobs 1`.

    .venv/bin/python bench/scale.py [--sizes 10 100 1000] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from moto_support import MOTO_ACCOUNT, start_moto_server  # noqa: E402 (needs sys.path)

LLMDEPLOY = str(Path(sys.executable).with_name("llmdeploy"))


def write_portfolio(root: Path, n: int) -> None:
    """n models over n/100 endpoints (at least 2), in the shapes of the examples."""
    (root / "models").mkdir(parents=True)
    (root / "infra").mkdir()
    endpoints = max(2, n // 100)
    pools = "".join(
        f"    - name: pool-{e}\n      instanceType: ml.g6e.48xlarge\n"
        f"      instances: {{min: 0, initial: 1, max: 1000}}\n"
        for e in range(endpoints)
    )
    (root / "infra/scale.yaml").write_text(
        "apiVersion: llmdeploy/v1\nkind: Environment\nmetadata: {name: scale}\nspec:\n"
        f'  account: "{MOTO_ACCOUNT}"\n  region: us-east-1\n  endpoints:\n{pools}'
    )
    for i in range(n):
        write_model(root, i, endpoints, batch=32, version=1)


def write_model(root: Path, i: int, endpoints: int, *, batch: int, version: int) -> None:
    name = f"m{i:04d}"
    (root / f"models/{name}.yaml").write_text(f"""apiVersion: llmdeploy/v1
kind: Model
metadata: {{name: {name}, version: {version}, owner: team-{i % 7}}}
spec:
  endpoint: pool-{i % endpoints}
  source: {{s3Uri: "s3://models/{name}/{version}/"}}
  sizeBillions: {(7, 8, 13, 3)[i % 4]}
  container: {{engine: djl-lmi, version: "0.33.0"}}
  lmi: {{rollingBatch: vllm, maxRollingBatchSize: {batch}, tensorParallelDegree: 1}}
  resources: {{accelerators: 1, memoryMiB: 32768, cpuCores: 4}}
  copies: {{min: {i % 2}, initial: 1, max: 3}}
  autoscaling: {{target: 4}}
  rollout: {{rollbackOn: {{errorRatePercent: 5, p95LatencyMs: 3000}}}}
""")


def measure(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """(seconds, peak MiB, stdout) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return seconds, int(rss.group(1)) / 1024 if rss else float("nan"), proc.stdout


# Replays every template of a cloud assembly through generic `cdk.CfnResource`s in one app
# (same stack names, environment and synthesizer) and synthesizes it: CDK's own cost for the
# same output, the floor under llmdeploy's constructs.
FLOOR = """
import json, sys
from pathlib import Path
import aws_cdk as cdk

source, outdir = Path(sys.argv[1]), sys.argv[2]
manifest = json.loads((source / "manifest.json").read_text())
app = cdk.App(outdir=outdir, analytics_reporting=False, builtin_cloud_formation_validation=False,
              context={"aws:cdk:enable-path-metadata": True, "aws:cdk:disable-stack-trace": True})
for name, artifact in manifest["artifacts"].items():
    if artifact["type"] != "aws:cloudformation:stack":
        continue
    account, region = artifact["environment"].removeprefix("aws://").split("/")
    template = json.loads((source / artifact["properties"]["templateFile"]).read_text())
    stack = cdk.Stack(app, name, stack_name=name, description=template.get("Description"),
                      env=cdk.Environment(account=account, region=region),
                      synthesizer=cdk.BootstraplessSynthesizer())
    for logical, p in template.get("Parameters", {}).items():
        cdk.CfnParameter(stack, logical, type=p["Type"], default=p.get("Default"),
                         min_value=p.get("MinValue"), max_value=p.get("MaxValue"),
                         description=p.get("Description"))
    for logical, r in template.get("Resources", {}).items():
        res = cdk.CfnResource(stack, logical, type=r["Type"], properties=r.get("Properties"))
        res.override_logical_id(logical)
        for key in ("DependsOn", "Metadata", "DeletionPolicy", "UpdateReplacePolicy"):
            if key in r:
                res.add_override(key, r[key])
    for logical, o in template.get("Outputs", {}).items():
        cdk.CfnOutput(stack, logical, value=json.dumps(o.get("Value")))
app.synth()
"""


def same_assembly(a: Path, b: Path) -> bool:
    """Templates, manifest.json and tree.json byte for byte (the per-stack metadata names the
    jsii runtime's temporary folders, which differ between any two runs)."""
    names = sorted(p.name for p in a.iterdir() if not p.name.endswith(".metadata.json"))
    other = sorted(p.name for p in b.iterdir() if not p.name.endswith(".metadata.json"))
    return names == other and all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="synth's --jobs (default: CPUs)"
    )
    args = parser.parse_args()
    jobs = ["--jobs", str(args.jobs)]
    server, url = start_moto_server()
    aws_env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    os.environ.update(aws_env)
    from llmdeploy.deploy import service
    from llmdeploy.deploy.report import PlainReporter

    help_runs = sorted(measure([LLMDEPLOY, "--help"], HERE)[0] for _ in range(7))
    print(f"llmdeploy --help: median {help_runs[3]:.2f} s over 7 runs\n")
    rows: dict[str, dict[int, tuple[float, float]]] = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_portfolio(root, n)
            endpoints = max(2, n // 100)
            synth = [LLMDEPLOY, "synth", "--env", "scale", "-o", "json"]
            cmds = {
                "validate": [LLMDEPLOY, "validate"],
                "plan": [LLMDEPLOY, "plan", "-o", "json"],
                "synth --no-cache --jobs 1": [
                    *synth,
                    "--out-dir",
                    "out-cold",
                    "--no-cache",
                    "--jobs",
                    "1",
                ],
                "CDK floor (CfnResource replay)": [
                    sys.executable,
                    "-c",
                    FLOOR,
                    str(root / "out-cold"),
                    str(root / "out-floor"),
                ],
                f"synth cold (cache empty, --jobs {args.jobs})": [
                    *synth,
                    "--out-dir",
                    "out",
                    *jobs,
                ],
                "synth warm (nothing changed)": [*synth, "--out-dir", "out", *jobs],
            }
            for label, cmd in cmds.items():
                seconds, mib, _ = measure(cmd, root)
                rows.setdefault(label, {})[n] = (seconds, mib)
            identical = same_assembly(root / "out-cold", root / "out")
            # The whole portfolio deployed to moto (not timed), then one model changes.
            with open(os.devnull, "w") as quiet:
                ctx = service.open_environment(
                    [root / "models", root / "infra"],
                    "scale",
                    PlainReporter(quiet),
                    # One stack at a time: moto's IAM and CloudFormation backends are not
                    # thread-safe, and concurrent deploys fail now and then ("dictionary
                    # changed size during iteration"), leaving half-made stacks behind.
                    concurrency=1,
                    poll_seconds=0.02,
                    history_root=root / ".llmdeploy/history",
                )
                results, _ = service.deploy(ctx)
            assert all(r.outcome == "deployed" for r in results), [
                r for r in results if r.outcome != "deployed"
            ][:3]
            write_model(root, 7, endpoints, batch=64, version=2)
            after = {
                "synth warm (one model changed)": [*synth, "--out-dir", "out", *jobs],
                "synth (one model)": [*synth, "--out-dir", "out-one", *jobs, "m0007"],
            }
            for label, cmd in after.items():
                seconds, mib, out = measure(cmd, root)
                rows.setdefault(label, {})[n] = (seconds, mib)
                if label.startswith("synth warm"):
                    rebuilt = out.count('"cached": false')
                    rows.setdefault("  stacks CDK built", {})[n] = (rebuilt, float("nan"))
            # The warm output against a cold synth of the changed portfolio (not timed).
            measure([*synth, "--out-dir", "out-check", "--no-cache", "--jobs", "1"], root)
            identical &= same_assembly(root / "out-check", root / "out")
            rows.setdefault("  equal to a cold synth (1=yes)", {})[n] = (
                int(identical),
                float("nan"),
            )
            diff = [LLMDEPLOY, "diff", "--env", "scale", "-o", "json", "--exit-code"]
            for label, cmd in {
                "diff (one model changed)": [*diff, *jobs],
                "diff --no-cache --jobs 1": [*diff, "--no-cache", "--jobs", "1"],
            }.items():
                seconds, mib, out = measure(cmd, root, aws_env)
                rows.setdefault(label, {})[n] = (seconds, mib)
                if label == "diff (one model changed)":
                    changed = out.count('"status": "changed"')
                    rows.setdefault("  change sets created by diff", {})[n] = (
                        changed,
                        float("nan"),
                    )
            requests_reset(url)
    server.stop()

    sizes = args.sizes
    head = f"{'command':<36}" + "".join(f"{f'{n} models':>22}" for n in sizes)
    print(head + f"{'growth':>10}")
    print("-" * len(head + " " * 10))
    for label, by_size in rows.items():
        cells = ""
        for n in sizes:
            seconds, mib = by_size[n]
            cells += (
                f"{seconds:>22.0f}"
                if label.startswith("  ")
                else f"{seconds:>9.2f} s {mib:>7.0f} MiB "
            )
        first, last = by_size[sizes[0]][0], by_size[sizes[-1]][0]
        growth = "" if label.startswith("  ") or not first else f"{last / first:>9.1f}x"
        print(f"{label:<36}{cells}{growth}")
    print(
        f"\ngrowth: time at {sizes[-1]} models ÷ time at {sizes[0]} "
        f"({sizes[-1] // sizes[0]}x the models)"
    )
    floor = rows["CDK floor (CfnResource replay)"]
    cold = next(v for k, v in rows.items() if k.startswith("synth cold"))
    one = rows["synth --no-cache --jobs 1"]
    warm = rows["synth warm (one model changed)"]
    for n in sizes:
        print(
            f"{n} models: synth --no-cache --jobs 1 = {one[n][0] / floor[n][0]:.2f}x the floor, "
            f"cold with --jobs {args.jobs} = {cold[n][0] / floor[n][0]:.2f}x; one model "
            f"changed = {100 * warm[n][0] / one[n][0]:.0f}% of the cold run"
        )


def requests_reset(url: str) -> None:
    import requests

    requests.post(f"{url}/moto-api/reset", timeout=10)


if __name__ == "__main__":
    main()
