"""Benchmark: `llmdeploy plan`'s packing, and `plan --optimize`'s layouts, against exact
integer programs.

Seeded synthetic portfolios of 50, 200 and 1,000 models with the shapes of the case this
project starts from: a few large models (20-30 GB) with little traffic, many mid-sized busy
ones (~15 GB) with several copies, small ones, and some tensor-parallel ones; 50 models per
shared endpoint, on ml.p4d.24xlarge and ml.g6e.48xlarge pools. For each size it prints the
instances the copies need at copies.initial by llmdeploy's packing and by the integer program
(scipy's milp / HiGHS, per endpoint, with a time limit), the gap in percent, the fractional
lower bound, and the time each took.

The optimizer's table: case-shaped portfolios (bench/case_portfolio.py: busy ~15 GB models,
large 20-30 GB ones with little traffic, small rarely used ones, all on one ml.p4d.24xlarge
pool, with traffic profiles) of 50, 200 and 1,000 models. For each: the expected monthly cost
of the current layout and of each model on dedicated instances (the baselines), of the
optimizer's layout (its time, as `plan --optimize` runs it), and the optimum of the same
integer program solved without a node budget (the exact column: over the same choices no
layout costs less; its time), and the gap between the two.

    .venv/bin/python bench/plan.py [--seed 7] [--milp-seconds 4] [--only packing|optimizer]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from llmdeploy.catalog import instances
from llmdeploy.plan.capacity import Demand, lower_bound, pack
from llmdeploy.plan.exact import solve

sys.path.insert(0, str(Path(__file__).parent))  # bench/case_portfolio.py

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
    parser.add_argument("--only", choices=("packing", "optimizer"), default=None)
    args = parser.parse_args()

    if args.only != "packing":
        optimizer_table(args)
    if args.only == "optimizer":
        return
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


def optimizer_table(args: argparse.Namespace) -> None:
    for varied in (False, True):
        title = "varied shapes and profiles" if varied else "the case's shapes"
        print(f"\nplan --optimize, {title}, seed {args.seed} (expected $/month)")
        _optimizer_rows(args, varied)
    print(
        "optimized: the layout `plan --optimize` finds, its copies packed for real in every "
        "state of the week; time: optimize() alone (the specs already loaded).\n"
        "exact: the integer program over the same choices without a node budget; its optimum "
        "bounds every layout from below (two pools of one type never beat one)."
    )


def _optimizer_rows(args: argparse.Namespace, varied: bool) -> None:
    import tempfile

    import case_portfolio

    from llmdeploy.plan import check
    from llmdeploy.plan.cost import plan_environment, profiles
    from llmdeploy.plan.optimize import candidates, optimize, solve

    header = (
        f"{'models':>6} | {'current':>11} {'dedicated':>11} | {'optimized':>11} {'time s':>7} | "
        f"{'exact':>11} {'proven':>6} {'time s':>7} | {'gap %':>6} | {'vs current':>10}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = case_portfolio.write(Path(tmp), size, args.seed, varied)
            (env,) = check([folder]).environments
        plan = plan_environment(env)
        started = time.perf_counter()
        layout = optimize(env, plan)
        ours_s = time.perf_counter() - started
        cands, _ = candidates(env, profiles(env))
        started = time.perf_counter()
        exact = solve(cands, nodes=10**9, seconds=max(args.milp_seconds, 120.0), gap=1e-6)
        exact_s = time.perf_counter() - started
        ours = layout.monthly_usd["expected"]
        gap = 100 * (ours - exact.bound) / exact.bound
        saving = ours / layout.current_usd["expected"]
        print(
            f"{size:>6} | {layout.current_usd['expected']:>11,.0f} "
            f"{layout.dedicated_usd['expected']:>11,.0f} | {ours:>11,.0f} {ours_s:>7.2f} | "
            f"{exact.bound:>11,.0f} {exact.proven!s:>6} {exact_s:>7.2f} | {max(gap, 0):>6.2f} "
            f"| {saving:>9.2f}x"
        )


if __name__ == "__main__":
    main()
