"""`plan --optimize`: the layouts it finds, checked against the specs' own rules and by hand."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO, base_environment, base_model, mutate
from llmdeploy.catalog import instances
from llmdeploy.plan import check, memory
from llmdeploy.plan.cost import plan_environment
from llmdeploy.plan.optimize import _copy_on, optimize
from llmdeploy.plan.resolve import usable_mib_per_device

sys.path.insert(0, str(REPO / "bench"))
import case_portfolio  # the bench's portfolio: one shape for both


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = case_portfolio.write(tmp_path_factory.mktemp("case"), 100)
    (env,) = check([folder]).environments
    plan = plan_environment(env)
    return env, plan, optimize(env, plan)


def test_the_case_costs_less_than_the_current_layout_and_dedicated_hosting(case):
    _, _, o = case
    assert o.monthly_usd["expected"] <= o.current_usd["expected"]
    assert o.monthly_usd["expected"] <= o.dedicated_usd["expected"]
    # The seed case's shape: one P4d pool with one A100 per copy is far from the cheapest.
    assert o.monthly_usd["expected"] < 0.7 * o.current_usd["expected"]
    assert 0 < o.lower_bound_usd <= o.monthly_usd["expected"]
    assert o.gap_percent is not None and o.gap_percent <= 2.0
    assert not o.kept
    assert len(o.placements) == 100


def test_every_copy_holds_its_weights_and_kv_cache(case):
    env, _, o = case
    models = {m.name: m for m in env.models}
    for p in o.placements:
        m = models[p.model]
        inst = instances.get(p.instance_type)
        need = m.weights_mib + memory.kv_cache_mib(m.model_spec)
        assert need <= p.accelerators * usable_mib_per_device(inst), p
        # ... and with one device fewer (half: TP degrees double) it would not.
        if p.accelerators > 1:
            assert need > (p.accelerators // 2) * usable_mib_per_device(inst), p
        assert m.model_spec.architecture.kv_heads % p.accelerators == 0


def test_pools_hold_every_point_and_the_update(case):
    _, _, o = case
    for pool in o.pools:
        n = pool.instances
        assert n["min"] <= n["initial"] <= n["max"]
        assert pool.monthly_usd["max"] <= n["max"] * pool.hourly_usd * 730 + 1e-6


def test_the_applied_layout_passes_every_rule_and_optimizing_again_moves_nothing(tmp_path):
    from llmdeploy.plan import rewrite

    folder = case_portfolio.write(tmp_path, 30)
    c = check([folder])
    (env,) = c.environments
    o = optimize(env, plan_environment(env))
    texts = rewrite.rewrite(c.portfolio, o)
    assert texts
    rewrite.check_rewritten(c.portfolio, {f: new for f, (_, new) in texts.items()}, o)
    rewrite.write_files({f: new for f, (_, new) in texts.items()})
    (again,) = check([folder]).environments
    second = optimize(again, plan_environment(again))
    assert not second.moved
    assert second.monthly_usd["expected"] == pytest.approx(o.monthly_usd["expected"])
    assert second.current_usd["expected"] == pytest.approx(o.monthly_usd["expected"])


def _resolved(specs, env, *models):
    specs.standard(env, *models)
    (resolved,) = specs.check().environments
    return resolved


def test_the_shape_is_the_fewest_devices_that_hold_the_kv_cache(specs):
    # 8B bf16 (14.9 GiB) + 64 × 8192 tokens × 128 KiB (64 GiB) on L4s (20.1 GiB usable each):
    # 79 GiB needs 4 of them; on L40S (40.2 GiB usable) 2.
    model = mutate(
        base_model(),
        spec__architecture={"layers": 32, "kvHeads": 8, "headDim": 128},
        spec__lmi__maxRollingBatchSize=64,
        spec__lmi__maxModelLen=8192,
        spec__lmi__tensorParallelDegree=2,
        spec__resources__accelerators=2,
    )
    env = _resolved(specs, None, model)
    (m,) = env.models
    assert _copy_on(m, instances.get("ml.g6.12xlarge")).devices == 4
    assert _copy_on(m, instances.get("ml.g6e.12xlarge")).devices == 2
    assert _copy_on(m, instances.get("ml.g6.2xlarge")) is None  # one L4 only
    assert _copy_on(m, instances.get("ml.inf2.48xlarge")) is None  # a GPU engine


def test_fp8_moves_only_to_hardware_that_computes_in_fp8(specs):
    model = mutate(base_model(), spec__lmi__quantization="fp8")
    env = _resolved(specs, None, model)
    o = optimize(env, plan_environment(env))
    (p,) = o.placements
    assert instances.get(p.instance_type).supports_fp8


def test_instance_type_patterns_limit_the_search(specs):
    env = _resolved(specs, None, base_model())
    o = optimize(env, plan_environment(env), instance_types=["ml.g5.*"])
    assert {p.instance_type for p in o.placements} <= {
        t.name for t in instances.all_types() if t.name.startswith("ml.g5.")
    }
    none = optimize(env, plan_environment(env), instance_types=["ml.nothing*"])
    assert not none.placements and "no priced instance type" in none.kept[0]


def test_a_model_without_a_price_anywhere_is_kept_and_said(specs):
    env = mutate(base_environment(), spec__endpoints__0__instanceType="ml.p5en.48xlarge")
    resolved = _resolved(specs, env, base_model())
    o = optimize(resolved, plan_environment(resolved), instance_types=["ml.p5en.*"])
    assert o.kept == ("m1: no priced instance type holds one copy",)
    assert o.current_unknown_prices == ("ml.p5en.48xlarge",)


def test_adapters_follow_their_base_which_stays_shared(specs):
    from test_adapter_rules import adapter

    specs.standard(None, base_model("m1"))
    specs.write("models/v1.yaml", adapter("v1", "m1"))
    (env,) = specs.check().environments
    o = optimize(env, plan_environment(env))
    (p,) = o.placements
    assert p.model == "m1" and p.kind == "shared"
    assert o.kept == ("v1: a LoRA adapter, it follows m1's copies",)


def test_a_new_pool_without_local_storage_keeps_its_models_volume():
    from llmdeploy.plan import rewrite

    c = check([REPO / "models", REPO / "infra"], ["prod"])
    (env,) = c.environments
    o = optimize(env, plan_environment(env), instance_types=["ml.inf2.8xlarge", "ml.g6.*"])
    (pool,) = [p for p in o.pools if p.instance_type == "ml.inf2.8xlarge"]
    assert pool.new and pool.volume_size_gb == 256  # neuron-inf2's, which it replaces
    texts = rewrite.rewrite(c.portfolio, o)
    (infra,) = [new for f, (_, new) in texts.items() if f.endswith("prod.yaml")]
    assert "volumeSizeGB: 256" in infra.split(pool.name)[1]
