"""`plan`'s numbers, checked against portfolios small enough to compute by hand.

Prices are pinned by a fixture (the catalog's figures change as sources are updated).
"""

from __future__ import annotations

import pytest

from conftest import base_environment, base_model, mutate
from llmdeploy.catalog import instances, prices
from llmdeploy.catalog.prices import Price
from llmdeploy.plan.advice import suggest
from llmdeploy.plan.capacity import Copies, Demand, Packing, _first_fit, _vector, fit, pack
from llmdeploy.plan.cost import plan_environment

H = 730  # hours per month

PRICES = {
    "ml.g5.12xlarge": 7.09,
    "ml.g6.2xlarge": 1.222,
    "ml.g6.12xlarge": 5.752,
    "ml.p4d.24xlarge": 37.688,
    "ml.inf2.24xlarge": 7.79,
    "ml.inf2.48xlarge": 15.58,
}


@pytest.fixture(autouse=True)
def pinned_prices(monkeypatch):
    table = {k: Price(v, "test", "2026-01-01") for k, v in PRICES.items()}
    monkeypatch.setattr(prices, "_catalog", lambda: table)


def _plan(specs, env, *models):
    specs.standard(env, *models)
    (resolved,) = specs.check().environments
    return resolved, plan_environment(resolved)


def _model(name, accelerators, copies, **more):
    return mutate(
        base_model(name),
        spec__sizeBillions=None,
        spec__lmi__tensorParallelDegree=accelerators,
        spec__resources={"accelerators": accelerators, "memoryMiB": 32768, "cpuCores": 4},
        spec__copies=dict(zip(("min", "initial", "max"), copies, strict=True)),
        **more,
    )


G5_POOL = mutate(
    base_environment(),
    spec__endpoints__0__instanceType="ml.g5.12xlarge",
    spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 3},
)


def test_two_models_on_a_g5_pool_against_dedicated_instances(specs):
    # a: 1 A10G per copy, 0/1/3 copies; b: 2 A10G per copy, 1/1/2 copies; g5.12xlarge = 4 GPUs.
    _, p = _plan(specs, G5_POOL, _model("a", 1, (0, 1, 3)), _model("b", 2, (1, 1, 2)))
    (ep,) = p.endpoints
    assert [
        (ep.points[k].copies, ep.points[k].needed, ep.points[k].running)
        for k in ("min", "initial", "max")
    ] == [(1, 1, 1), (2, 1, 1), (5, 2, 2)]
    assert ep.points["max"].monthly_usd == pytest.approx(2 * 7.09 * H)
    # The old way: a on g6.2xlarge (cheapest with 1 GPU, 32 GiB, 4 CPU), one per copy, never
    # fewer than one; b on g6.12xlarge (cheapest with 2 GPUs), two copies per instance.
    base = {b.model: b for b in p.baselines}
    assert (base["a"].instance_type, base["a"].instances) == (
        "ml.g6.2xlarge",
        {"min": 1, "initial": 1, "max": 3},
    )
    assert (base["b"].instance_type, base["b"].instances) == (
        "ml.g6.12xlarge",
        {"min": 1, "initial": 1, "max": 1},
    )
    assert p.comparable_dedicated_usd["max"] == pytest.approx((3 * 1.222 + 5.752) * H)
    assert p.ratio["min"] == pytest.approx((1.222 + 5.752) / 7.09)
    assert p.ratio["max"] == pytest.approx((3 * 1.222 + 5.752) / (2 * 7.09))
    # Without a traffic profile the expected month is the initial point.
    assert p.monthly_usd == pytest.approx(
        {"min": 7.09 * H, "initial": 7.09 * H, "max": 14.18 * H, "expected": 7.09 * H}
    )
    # A rolling update from min copies: b's one copy (2 GPUs) plus the batch that needs the
    # most room, b's (another 2 GPUs; a's would be 1): one instance, 2 of max 3 spare.
    u = ep.update
    assert (u.model, u.batch_copies, u.copies, u.needed, u.optimal) == ("b", 1, 2, 1, True)
    assert u.holds and u.headroom == 2


def test_update_headroom_is_packed_not_summed():
    # Three 1-GPU copies at min on a 4-GPU g6.12xlarge and a batch of one more: a sum of
    # instances per model would say 2, packing says 1 (and proves it).
    g6 = instances.get("ml.g6.12xlarge")
    one = Demand(1, 16384, 4)
    models = [
        Copies("a", one, {"min": 2, "initial": 2, "max": 3}, 1),
        Copies("b", one, {"min": 1, "initial": 1, "max": 2}, 1),
    ]
    update = fit(models, g6).update
    assert update.packing == Packing(1, 1, True) and update.copies == 4
    # A batch that needs a whole instance of its own: 2 copies of 4 GPUs on top.
    big = Demand(4, 16384, 4)
    models.append(Copies("c", big, {"min": 0, "initial": 1, "max": 4}, 2))
    update = fit(models, g6).update
    assert (update.model, update.batch, update.packing) == ("c", 2, Packing(3, 3, True))


def test_greedy_packing_is_not_optimal_but_plan_is(specs):
    # One copy each, 1 GPU, CPU cores 48, 36, 36, 24, 24, 24 on a p4d (96 vCPUs). First-fit
    # decreasing puts 48+36 together and needs 3 instances; 48+24+24 and 36+36+24 need 2.
    cores = [48, 36, 36, 24, 24, 24]
    p4d = instances.get("ml.p4d.24xlarge")
    demands = [Demand(1, 16384, c) for c in cores]
    greedy = _first_fit(sorted((_vector(d, p4d) for d in demands), key=max, reverse=True))
    assert greedy == 3
    env = mutate(
        base_environment(),
        spec__endpoints__0__instanceType="ml.p4d.24xlarge",
        spec__endpoints__0__instances={"min": 0, "initial": 2, "max": 3},
    )
    models = [
        mutate(
            _model(f"m{i}", 1, (1, 1, 1)),
            spec__resources__cpuCores=c,
            spec__resources__memoryMiB=16384,
        )
        for i, c in enumerate(cores)
    ]
    _, p = _plan(specs, env, *models)
    point = p.endpoints[0].points["initial"]
    assert (point.needed, point.optimal, point.running) == (2, True, 2)


def test_running_instances_respect_the_endpoint_bounds(specs):
    env = mutate(G5_POOL, spec__endpoints__0__instances={"min": 2, "initial": 2, "max": 3})
    _, p = _plan(specs, env, _model("a", 1, (0, 1, 1)))
    points = p.endpoints[0].points
    assert (points["min"].needed, points["min"].running) == (0, 2)  # instances.min keeps 2
    assert (points["initial"].needed, points["initial"].running) == (1, 2)


def test_copies_beyond_max_instances_are_flagged(specs):
    env = mutate(G5_POOL, spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 1})
    _, p = _plan(specs, env, _model("a", 2, (0, 1, 4)))
    peak = p.endpoints[0].points["max"]
    assert (peak.needed, peak.running, peak.holds) == (2, 1, False)


def test_weights_and_kv_cache_per_device(specs):
    # 8B parameters in bf16 on one L40S (45776 MiB): 14.90 GiB of weights; vLLM keeps 90%.
    model = mutate(base_model(), spec__sizeBillions=8)
    _, p = _plan(specs, None, model)
    (m,) = p.endpoints[0].models
    assert m.weights_gib_per_device == pytest.approx(8e9 * 2 / 2**30)
    assert m.kv_cache_gib_per_device == pytest.approx(45776 / 1024 * 0.9 - 8e9 * 2 / 2**30)


def test_unknown_prices_stay_unknown(specs):
    _, p = _plan(specs, None, base_model())  # g6e.12xlarge: not in the pinned table
    assert p.endpoints[0].hourly_usd is None
    unknown = {"min": None, "initial": None, "max": None, "expected": None}
    assert p.monthly_usd == unknown
    assert p.unknown_prices == ("ml.g6e.12xlarge",)
    assert p.ratio == unknown
    assert "price of ml.g6e.12xlarge unknown" in p.excluded[0]


def test_environment_pricing_overrides_the_catalog(specs):
    env = mutate(base_environment(), spec__pricing={"ml.g6e.12xlarge": 10.0})
    _, p = _plan(specs, env, base_model())
    assert p.endpoints[0].points["initial"].monthly_usd == pytest.approx(10.0 * H)


def test_a_dedicated_model_costs_its_instances_on_both_sides(specs):
    model = mutate(
        base_model(),
        spec__endpoint=None,
        spec__resources=None,
        spec__copies=None,
        spec__lmi__tensorParallelDegree=4,
        spec__dedicated={
            "instanceType": "ml.g5.12xlarge",
            "instances": {"min": 1, "initial": 2, "max": 3},
        },
    )
    _, p = _plan(specs, None, model)
    ded = next(e for e in p.endpoints if e.dedicated)
    assert ded.points["initial"].monthly_usd == pytest.approx(2 * 7.09 * H)
    assert p.comparable_dedicated_usd == pytest.approx(p.comparable_shared_usd)


def test_suggestions(specs):
    # inf2.48xlarge (24 NeuronCores) hosting one 8-core copy: an inf2.24xlarge (12) is enough.
    env = mutate(
        base_environment(),
        spec__endpoints__0__instanceType="ml.inf2.48xlarge",
        spec__endpoints__0__instances={"min": 2, "initial": 2, "max": 2},
    )
    model = mutate(
        _model("s", 8, (1, 1, 4)),
        spec__container={"engine": "djl-neuronx", "version": "0.29.0"},
        spec__lmi={"rollingBatch": "auto", "tensorParallelDegree": 8},
    )
    resolved, p = _plan(specs, env, model)
    tips = {s.kind: s for s in suggest(resolved, p)}
    assert tips["instances-min"].monthly_saving_usd == pytest.approx(1 * 15.58 * H)
    assert "instances-max" not in tips  # 4 copies × 8 cores fit the 2 × 24 allowed
    cheaper = tips["instance-type"]
    assert "ml.inf2.24xlarge" in cheaper.message
    assert cheaper.monthly_saving_usd == pytest.approx((15.58 - 7.79) * H)


def test_suggests_more_instances_when_max_copies_cannot_fit(specs):
    env = mutate(G5_POOL, spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 1})
    resolved, p = _plan(specs, env, _model("a", 2, (0, 1, 4)))
    (tip,) = [s for s in suggest(resolved, p) if s.kind == "instances-max"]
    assert "set instances.max: 2" in tip.message and tip.monthly_saving_usd is None


def test_pack_is_exact_on_identical_copies():
    g5 = instances.get("ml.g5.12xlarge")
    result = pack([Demand(3, 1024, 1)] * 5, g5)  # 3 of 4 GPUs each: one per instance
    assert (result.instances, result.lower_bound, result.optimal) == (5, 4, True)


def test_the_integer_program_finds_the_optimum_greedy_misses():
    p4d = instances.get("ml.p4d.24xlarge")
    demands = [Demand(1, 16384, c) for c in (48, 36, 36, 24, 24, 24)]
    # No search: first-fit (3 instances) hands over to the integer program directly.
    result = pack(demands, p4d, search_nodes=0)
    assert (result.instances, result.optimal) == (2, True)
    assert pack(demands, p4d, search_nodes=0, exact_nodes=0) == Packing(3, 2, False)


def test_the_old_way_picks_its_own_tensor_parallel_degree(specs):
    # 13B in bf16 (24.2 GiB) on one A100 in the pool; hosted alone, two L4s of a g6.12xlarge
    # (the cheapest priced type whose devices hold it) do.
    env = mutate(base_environment(), spec__endpoints__0__instanceType="ml.p4d.24xlarge")
    model = mutate(_model("big", 1, (0, 1, 1)), spec__sizeBillions=13)
    _, p = _plan(specs, env, model)
    (base,) = p.baselines
    assert base.instance_type == "ml.g6.12xlarge" and base.hourly_usd == 5.752


def test_a_cheaper_type_must_also_hold_max_copies_within_budget(specs):
    # 3 copies × 8 NeuronCores: one inf2.48xlarge (24) at max; inf2.24xlarge (12) would be
    # cheaper at initial copies but needs 3 instances (and more money) at max.
    env = mutate(
        base_environment(),
        spec__endpoints__0__instanceType="ml.inf2.48xlarge",
        spec__endpoints__0__instances={"min": 1, "initial": 1, "max": 2},
    )
    model = mutate(
        _model("s", 8, (1, 1, 3)),
        spec__container={"engine": "djl-neuronx", "version": "0.29.0"},
        spec__lmi={"rollingBatch": "auto", "tensorParallelDegree": 8},
    )
    resolved, p = _plan(specs, env, model)
    assert [s for s in suggest(resolved, p) if s.kind == "instance-type"] == []


def test_a_dedicated_endpoint_keeps_its_workers_per_instance(specs):
    # TP 1 on a dedicated g6.12xlarge runs 4 workers; a 1-GPU type is no substitute.
    model = mutate(
        base_model(),
        spec__endpoint=None,
        spec__resources=None,
        spec__copies=None,
        spec__autoscaling=None,
        spec__lmi__tensorParallelDegree=1,
        spec__dedicated={
            "instanceType": "ml.g6.12xlarge",
            "instances": {"min": 1, "initial": 1, "max": 1},
        },
    )
    resolved, p = _plan(specs, None, model)
    tips = [s for s in suggest(resolved, p) if s.kind == "instance-type"]
    assert all("g6.2xlarge" not in s.message for s in tips)


def test_adapters_cost_nothing_shared_and_a_whole_model_dedicated(specs):
    from test_adapter_rules import adapter

    base = _model("a", 1, (1, 1, 3))
    _, alone = _plan(specs, G5_POOL, base)
    specs.write("models/v1.yaml", adapter("v1", "a"))
    specs.write("models/v2.yaml", adapter("v2", "a"))
    _, p = _plan(specs, G5_POOL, base)
    (ep,) = p.endpoints
    (m,) = ep.models
    assert m.adapters == ("v1", "v2")
    # The same copies, the same instances: two fine-tuned variants cost the base's GPUs.
    assert p.monthly_usd == alone.monthly_usd
    # The old way hosts each variant as a model of its own, sized and busy as its base.
    base_old = {b.model: b for b in p.baselines}
    assert base_old["v1"].monthly_usd == base_old["a"].monthly_usd
    for k in ("min", "initial", "max", "expected"):
        assert p.comparable_dedicated_usd[k] == pytest.approx(3 * alone.comparable_dedicated_usd[k])
