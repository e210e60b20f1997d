"""Benchmark: how true `llmdeploy bench`'s figures are, and how fast the harness can go.

Against tests/fake_runtime.py in its own process, with a known time to first token (TTFT) and
time per output token (TPOT), prints:

1. per concurrency level, the truth, `bench`'s p50 TTFT / TPOT / end-to-end latency, and the
   same figures by LLMPerf's method measured on the same runtime: TTFT = arrival of the first
   streamed chunk, inter-token latency = (end-to-end − TTFT) ÷ (output tokens − 1). LLMPerf
   (ray-project/llmperf) needs Ray and a LiteLLM or SageMaker client and cannot run offline
   here, so its formula is re-implemented in a few lines below (`llmperf_request`), with its
   own raw boto3 calls and threads, as an independent baseline;
2. a ramp of concurrency with short answers: requests/s, streamed events/s and how far TTFT
   p50 drifts above the truth. The drift at concurrency 1 is the round trip at rest (signing,
   loopback, the server's parsing, its sleep's overshoot); the highest rate whose drift stays
   within 2 ms or 5% of that is what the harness sustains on this machine before its own
   overhead shows (an upper bound on the overhead: the fake runtime shares the cores).

    .venv/bin/python bench/serve.py [--ttft-ms 150 --tpot-ms 25 --tokens 32] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from llmdeploy.serve import bench, stats
from llmdeploy.serve.runtime import Runtime, Target

FAKE = Path(__file__).resolve().parent.parent / "tests" / "fake_runtime.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake(ttft_ms: float, tpot_ms: float, tokens: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(FAKE),
            "--port",
            str(port),
            "--ttft-ms",
            str(ttft_ms),
            "--tpot-ms",
            str(tpot_ms),
            "--tokens",
            str(tokens),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    proc.stdout.readline()  # "fake SageMaker Runtime on ..." once it listens
    return proc, f"http://127.0.0.1:{port}"


def llmperf_request(client, target: Target, max_tokens: int) -> tuple[float, float, int]:
    """One request timed as LLMPerf does: (ttft, e2e, output tokens), in seconds."""
    body = {"inputs": "Tell me a story.", "parameters": {"max_new_tokens": max_tokens}}
    body["stream"] = True
    start = time.monotonic()
    ttft = 0.0
    tokens = 0
    response = client.invoke_endpoint_with_response_stream(
        EndpointName=target.endpoint,
        InferenceComponentName=target.component,
        Body=json.dumps(body),
        ContentType="application/json",
    )
    for event in response["Body"]:
        chunk = event.get("PayloadPart", {}).get("Bytes", b"")
        if not chunk:
            continue
        if not ttft:
            ttft = time.monotonic() - start
        tokens += chunk.count(b'"token"')
    return ttft, time.monotonic() - start, tokens


def llmperf_level(client, target: Target, concurrency: int, requests: int, max_tokens: int):
    ttfts, itls, e2es = [], [], []
    lock = threading.Lock()
    left = [requests]

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            ttft, e2e, n = llmperf_request(client, target, max_tokens)
            with lock:
                ttfts.append(ttft)
                e2es.append(e2e)
                if n > 1:
                    itls.append((e2e - ttft) / (n - 1))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (
        stats.percentile(ttfts, 50) * 1000,
        stats.percentile(itls, 50) * 1000,
        stats.percentile(e2es, 50) * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft-ms", type=float, default=150.0)
    parser.add_argument("--tpot-ms", type=float, default=25.0)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter ramp")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    target = Target("bench", "m", "us-east-1", "ep", "ic", "text-generation", None)
    levels = bench.parse_levels(args.levels)
    truth_e2e = args.ttft_ms + args.tpot_ms * (args.tokens - 1)

    proc, url = start_fake(args.ttft_ms, args.tpot_ms, args.tokens)
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = url
    try:
        runtime = Runtime(target, pool=max(levels) + 4, retries=False)
        bench.warm_up(runtime)
        print(
            f"Accuracy: fake runtime TTFT {args.ttft_ms:g} ms, TPOT {args.tpot_ms:g} ms, "
            f"{args.tokens} tokens (end-to-end {truth_e2e:g} ms)"
        )
        print(
            f"{'concurrency':>11} {'requests':>8} | {'TTFT p50':>9} {'TPOT p50':>9} "
            f"{'e2e p50':>8} | {'LLMPerf TTFT':>12} {'ITL':>7} {'e2e':>8} | "
            f"{'TTFT err':>8} {'TPOT err':>8}"
        )
        for c in levels:
            n = max(8, 2 * c) if args.quick else max(16, 4 * c)
            level = bench.run_level(
                runtime, bench.builtin_prompts(), c, max_tokens=args.tokens, requests=n
            )
            ttft = level.percentile_ms("ttft_s", 50)
            tpot = level.percentile_ms("tpot_s", 50)
            e2e = level.percentile_ms("e2e_s", 50)
            lp_ttft, lp_itl, lp_e2e = llmperf_level(runtime.client, target, c, n, args.tokens)
            print(
                f"{c:>11} {n:>8} | {ttft:>9.2f} {tpot:>9.3f} {e2e:>8.1f} | "
                f"{lp_ttft:>12.2f} {lp_itl:>7.3f} {lp_e2e:>8.1f} | "
                f"{ttft - args.ttft_ms:>+7.2f}  {tpot - args.tpot_ms:>+7.3f}"
            )
    finally:
        proc.terminate()
        proc.wait()

    # The ramp: short answers, many of them.
    ramp_ttft, ramp_tpot, ramp_tokens = 50.0, 5.0, 8
    proc, url = start_fake(ramp_ttft, ramp_tpot, ramp_tokens)
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = url
    sustained = None
    floor = None
    try:
        ramp = [1, 4, 16, 32, 64] if args.quick else [1, 4, 16, 32, 64, 128, 256]
        runtime = Runtime(target, pool=max(ramp) + 4, retries=False)
        bench.warm_up(runtime)
        print(
            f"\nRamp: TTFT {ramp_ttft:g} ms, TPOT {ramp_tpot:g} ms, {ramp_tokens} tokens "
            "(one event per token)"
        )
        print(
            f"{'concurrency':>11} {'requests':>8} {'requests/s':>10} {'events/s':>9} "
            f"{'TTFT p50':>9} {'drift':>7} {'TTFT p95':>9} {'TPOT p50':>9}"
        )
        for c in ramp:
            n = max(32, 4 * c) if args.quick else max(64, 8 * c)
            level = bench.run_level(
                runtime, bench.builtin_prompts(), c, max_tokens=ramp_tokens, requests=n
            )
            d = level.to_dict()
            ttft = d["ttft_ms"]["p50"]
            drift = ttft - ramp_ttft
            if floor is None:
                floor = drift  # the round trip at rest: request, server, first event
            within = drift - floor <= max(2.0, 0.05 * ramp_ttft)
            if within:
                sustained = d["requests_per_s"]
            print(
                f"{c:>11} {n:>8} {d['requests_per_s']:>10.1f} "
                f"{d['output_tokens_per_s']:>9.0f} {ttft:>9.2f} {drift:>+7.2f} "
                f"{d['ttft_ms']['p95']:>9.2f} {d['tpot_ms']['p50']:>9.3f}"
                + ("" if within else "  (overhead shows)")
            )
    finally:
        proc.terminate()
        proc.wait()
    print(
        f"\nHighest rate whose TTFT p50 stays within 2 ms or 5% of its value at concurrency "
        f"1 ({floor or 0:+.2f} ms over the truth: the round trip at rest): "
        f"{sustained or 0:.0f} requests/s ({os.cpu_count()} cores; the fake runtime shares "
        "them)"
    )


if __name__ == "__main__":
    main()
