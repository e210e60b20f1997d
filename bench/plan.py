"""Benchmark: `llmdeploy plan`'s packing against an exact integer program.

Seeded synthetic portfolios of 50, 200 and 1,000 models with the shapes of the case this
project starts from: a few large models (20-30 GB) with little traffic, many mid-sized busy
ones (~15 GB) with several copies, small ones, and some tensor-parallel ones; 50 models per
shared endpoint, on ml.p4d.24xlarge and ml.g6e.48xlarge pools. For each size it prints the
instances the copies need at copies.initial by llmdeploy's packing and by the integer program
(scipy's milp / HiGHS, per endpoint, with a time limit), the gap in percent, the fractional
lower bound, and the time each took.

    .venv/bin/python bench/plan.py [--seed 7] [--milp-seconds 4]
"""

from __future__ import annotations

import argparse
import random
import time

from llmdeploy.catalog import instances
from llmdeploy.plan.capacity import Demand, lower_bound, pack
from llmdeploy.plan.exact import solve

GiB = 1024
POOLS = ("ml.p4d.24xlarge", "ml.g6e.48xlarge")
MODELS_PER_ENDPOINT = 50


def portfolio(size: int, seed: int, diverse: bool = False) -> list[tuple[str, list[Demand]]]:
    """Endpoints, each with the copies (at copies.initial) of its models.

    ``diverse`` draws memory and CPU per copy from wide ranges instead of the few sizes
    teams use in practice: harder packings, where memory or CPU and not GPUs bind."""
    rng = random.Random(seed)
    if diverse:
        return [
            (
                POOLS[e % len(POOLS)],
                [
                    demand
                    for _ in range(MODELS_PER_ENDPOINT)
                    for demand in [
                        Demand(
                            rng.choice([1, 1, 1, 2, 4]),
                            rng.randint(16, 320) * GiB,
                            rng.randint(2, 40),
                        )
                    ]
                    * rng.randint(1, 4)
                ],
            )
            for e in range(max(1, size // MODELS_PER_ENDPOINT))
        ]
    endpoints = []
    for e in range(max(1, size // MODELS_PER_ENDPOINT)):
        copies: list[Demand] = []
        for _ in range(MODELS_PER_ENDPOINT):
            shape = rng.random()
            if shape < 0.15:  # large, little traffic: one copy (scale to zero when idle)
                demand = Demand(1, rng.choice([64, 96]) * GiB, rng.choice([8, 12, 16]))
                n = 1
            elif shape < 0.65:  # mid-sized and busy: several copies
                demand = Demand(1, rng.choice([32, 48]) * GiB, rng.choice([4, 8, 12]))
                n = rng.randint(2, 6)
            elif shape < 0.9:  # small
                demand = Demand(1, rng.choice([16, 24]) * GiB, rng.choice([2, 4]))
                n = rng.randint(1, 3)
            else:  # tensor parallel over 2 or 4 devices
                tp = rng.choice([2, 4])
                demand = Demand(tp, tp * 48 * GiB, tp * 6)
                n = rng.randint(1, 2)
            copies.extend([demand] * n)
        endpoints.append((POOLS[e % len(POOLS)], copies))
    return endpoints


def exact(copies: list[Demand], instance, upper: int, seconds: float) -> tuple[int, bool]:
    """The integer program alone (no heuristic to start from), with a longer time limit."""
    solution = solve(copies, instance, upper, nodes=10**9, seconds=seconds)
    return (upper, False) if solution is None else (solution.instances, solution.proven)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--milp-seconds",
        type=float,
        default=10.0,
        help="time limit of the integer program per endpoint",
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 200, 1000])
    args = parser.parse_args()

    for diverse in (False, True):
        title = (
            "diverse shapes (memory 16-320 GiB, CPU 2-40 per copy: harder packings)"
            if diverse
            else "the case's shapes"
        )
        print(f"\n{title}, seed {args.seed}")
        table(args, diverse)
    print(
        "\nllmdeploy: llmdeploy.plan.capacity.pack as plan runs it: first-fit decreasing "
        "under 5 orderings, then branch and bound (<= 40 copies) or the integer program "
        "(<= 300 nodes).\nexact: integer program per endpoint (scipy milp, "
        f"HiGHS, {args.milp_seconds:g} s limit); 'proven' = endpoints solved to optimality.\n"
        "LP bound: the fractional lower bound (busiest dimension's total demand, rounded up "
        "per endpoint)."
    )


def table(args: argparse.Namespace, diverse: bool) -> None:
    header = (
        f"{'models':>6} {'endpoints':>9} {'copies':>6} | {'llmdeploy':>9} {'time s':>7} | "
        f"{'exact':>5} {'proven':>6} {'time s':>7} | {'gap %':>5} | {'LP bound':>8}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        endpoints = portfolio(size, args.seed, diverse)
        ours = exact_total = bound_total = 0
        ours_s = exact_s = 0.0
        proven = 0
        for name, copies in endpoints:
            inst = instances.get(name)
            t0 = time.perf_counter()
            packing = pack(copies, inst)
            ours_s += time.perf_counter() - t0
            ours += packing.instances
            bound_total += lower_bound(copies, inst)
            t0 = time.perf_counter()
            # The integer program starts from plain first-fit, not from our answer.
            greedy = pack(copies, inst, search_nodes=0, exact_nodes=0).instances
            found, optimal = exact(copies, inst, greedy, args.milp_seconds)
            exact_s += time.perf_counter() - t0
            exact_total += min(found, packing.instances)
            proven += optimal
        copies_n = sum(len(c) for _, c in endpoints)
        gap = 100 * (ours - exact_total) / exact_total
        print(
            f"{size:>6} {len(endpoints):>9} {copies_n:>6} | {ours:>9} {ours_s:>7.3f} | "
            f"{exact_total:>5} {f'{proven}/{len(endpoints)}':>6} {exact_s:>7.2f} | "
            f"{gap:>5.1f} | {bound_total:>8}"
        )


if __name__ == "__main__":
    main()
