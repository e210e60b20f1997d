"""plan/migration.py: the baseline file (YAML and CSV, every error located) and the comparison
with the plan (only models on both sides; shared endpoints split by devices × copies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, base_environment, base_model, mutate
from llmdeploy.catalog.prices import HOURS_PER_MONTH
from llmdeploy.errors import SpecError
from llmdeploy.plan import check
from llmdeploy.plan.cost import plan_environment
from llmdeploy.plan.migration import ATTRIBUTION, compare, load

P4D = 37.688  # the catalog's ml.p4d.24xlarge, USD per hour
G6E_12 = 10.0  # conftest's pool, ml.g6e.12xlarge: no catalog price, so the environment's


def _priced(name: str = "prod", **more) -> dict:
    return mutate(base_environment(name), spec__pricing={"ml.g6e.12xlarge": G6E_12, **more})


@pytest.fixture(scope="module")
def example():
    return check([REPO / "models", REPO / "infra"])


def _write(tmp_path: Path, text: str, name: str = "baseline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _errors(path: Path, checked) -> list:
    with pytest.raises(SpecError) as info:
        load(path, checked.portfolio)
    return list(info.value.diagnostics)


def _yaml(*entries: str) -> str:
    return "apiVersion: llmdeploy/v1\nkind: Baseline\nhosting:\n" + "".join(
        f"  - {e}\n" for e in entries
    )


# --- the example portfolio ---------------------------------------------------------------


def test_the_example_baseline_saves_on_every_point(example):
    baseline = load(REPO / "examples/baseline.yaml", example.portfolio)
    assert len(baseline.hosting) == 8
    prod = next(e for e in example.environments if e.name == "prod")
    env_plan = plan_environment(prod)
    m = compare(baseline, prod, env_plan)
    # The two P5en models have no plan price: left out of both sides, with the reason.
    assert set(m.compared) == {
        "block-generation",
        "flow-generation",
        "inline-completion",
        "sql-generation",
        "summarizer-inf2",
        "text-evaluation",
    }
    assert [r.split(":")[0] for r in m.excluded] == ["agent-planner", "reasoning-70b"]
    assert "ml.p5en.48xlarge" in m.excluded[0]
    assert m.baseline_monthly_usd == pytest.approx(8 * P4D * HOURS_PER_MONTH)
    assert m.compared_baseline_usd == pytest.approx(6 * P4D * HOURS_PER_MONTH)
    # codegen-g6 and neuron-inf2 hold only compared models: they count whole.
    whole = {e.name: e for e in env_plan.endpoints}
    assert not m.split_endpoints and not m.whole_environment
    for p in ("min", "initial", "max"):
        expected = (
            whole["codegen-g6"].points[p].monthly_usd + whole["neuron-inf2"].points[p].monthly_usd
        )
        assert m.compared_plan_usd[p] == pytest.approx(expected)
        assert m.saving_usd[p] == pytest.approx(m.compared_baseline_usd - expected)
        assert m.ratio[p] == pytest.approx(m.compared_baseline_usd / expected)
        assert m.ratio[p] > 5
    assert set(m.ratio) == set(env_plan.monthly_usd)  # the plan's points, whichever they are


def test_every_model_compared_is_the_whole_environment(example):
    prod = next(e for e in example.environments if e.name == "prod")
    priced = prod.doc.environment_spec.pricing | {"ml.p5en.48xlarge": 60.0}
    doc = prod.doc.spec.model_copy(
        update={"spec": prod.doc.environment_spec.model_copy(update={"pricing": priced})}
    )
    from dataclasses import replace

    from llmdeploy.plan.resolve import ResolvedEnvironment

    env = ResolvedEnvironment(replace(prod.doc, spec=doc), prod.models)
    env_plan = plan_environment(env)
    m = compare(load(REPO / "examples/baseline.yaml", example.portfolio), env, env_plan)
    assert m.whole_environment and not m.excluded
    assert m.compared_plan_usd == env_plan.monthly_usd


# --- partial coverage and attribution ------------------------------------------------------


def _two_models(specs, **second):
    specs.standard(
        _priced(),
        base_model("big"),  # 1 device × copies 1/1/2
        mutate(
            base_model("small"),
            spec__copies={"min": 0, "initial": 3, "max": 3},
            **second,
        ),
    )
    return specs.check()


def test_partial_coverage_splits_a_shared_endpoint_by_devices_times_copies(specs, tmp_path):
    checked = _two_models(specs)
    env = checked.environments[0]
    env_plan = plan_environment(env)
    path = _write(
        tmp_path,
        _yaml("{model: big, instanceType: ml.p4d.24xlarge, instances: 2, hoursPerDay: 12}"),
    )
    m = compare(load(path, checked.portfolio), env, env_plan)
    assert m.not_in_baseline == ("small",)
    assert m.split_endpoints == ("pool",) and not m.whole_environment
    assert m.attribution == ATTRIBUTION
    assert m.compared_baseline_usd == pytest.approx(2 * P4D * HOURS_PER_MONTH / 2)
    pool = env_plan.endpoints[0]
    # initial: big 1 × 1 of 4 device-copies; max: 2 of 5; min: only big has copies.
    share = m.models[0].share
    assert {p: share[p] for p in ("min", "initial", "max")} == {
        "min": 1.0,
        "initial": 0.25,
        "max": 0.4,
    }
    for p in ("min", "initial", "max"):
        assert m.compared_plan_usd[p] == pytest.approx(pool.points[p].monthly_usd * share[p])


def test_expected_is_split_by_copies_over_the_profiles_week(specs, tmp_path):
    # big: 1 device, copies.initial 1 all week (no profile); small: 1 device, 3 copies for 8
    # hours a day, 0 for 16 (an average of 1): the expected cost is split half and half.
    checked = _two_models(specs, spec__traffic={"hoursPerDay": {"initial": 8, "min": 16}})
    env = checked.environments[0]
    env_plan = plan_environment(env)
    if "expected" not in env_plan.monthly_usd:
        pytest.skip("the plan has no expected figure")
    path = _write(tmp_path, _yaml("{model: big, instanceType: ml.p4d.24xlarge, instances: 1}"))
    m = compare(load(path, checked.portfolio), env, env_plan)
    assert m.models[0].share["expected"] == pytest.approx(0.5)
    pool = env_plan.endpoints[0]
    assert m.compared_plan_usd["expected"] == pytest.approx(pool.monthly_usd["expected"] / 2)


def test_a_floor_nobody_has_copies_on_is_split_by_devices(specs, tmp_path):
    env_doc = mutate(_priced(), spec__endpoints__0__instances={"min": 1, "initial": 1, "max": 2})
    specs.standard(
        env_doc,
        mutate(base_model("a"), spec__copies={"min": 0, "initial": 1, "max": 1}),
        mutate(
            base_model("b"),
            spec__copies={"min": 0, "initial": 1, "max": 1},
            spec__resources__accelerators=2,
            spec__lmi__tensorParallelDegree=2,
        ),
    )
    checked = specs.check()
    path = _write(tmp_path, _yaml("{model: a, instanceType: ml.g5.12xlarge, instances: 1}"))
    m = compare(
        load(path, checked.portfolio),
        checked.environments[0],
        plan_environment(checked.environments[0]),
    )
    assert m.models[0].share["min"] == pytest.approx(1 / 3)


def test_unknown_price_is_unknown_never_zero(specs, tmp_path):
    checked = _two_models(specs)
    env = checked.environments[0]
    path = _write(
        tmp_path,
        _yaml(
            "{model: big, instanceType: ml.p5en.48xlarge, instances: 1}",
            "{model: small, instanceType: ml.p4d.24xlarge, instances: 1}",
        ),
    )
    m = compare(load(path, checked.portfolio), env, plan_environment(env))
    assert m.baseline_monthly_usd is None
    assert m.unknown_prices == ("ml.p5en.48xlarge",)
    assert m.baseline_monthly_usd_known == pytest.approx(P4D * HOURS_PER_MONTH)
    assert m.compared == ("small",)
    assert m.excluded == ("big: no price for ml.p5en.48xlarge (today) (set spec.pricing)",)
    big = m.models[0]
    assert big.baseline_monthly_usd is None and not big.compared


def test_the_environments_pricing_prices_the_baseline_too(specs, tmp_path):
    specs.standard(_priced(**{"ml.p5en.48xlarge": 50.0}))
    checked = specs.check()
    path = _write(tmp_path, _yaml("{model: m1, instanceType: ml.p5en.48xlarge, instances: 1}"))
    m = compare(
        load(path, checked.portfolio),
        checked.environments[0],
        plan_environment(checked.environments[0]),
    )
    assert m.baseline_monthly_usd == pytest.approx(50.0 * HOURS_PER_MONTH)
    assert m.whole_environment


def test_entries_for_one_environment(specs, tmp_path):
    specs.standard(_priced())
    specs.write("infra/dev.yaml", mutate(_priced("dev"), spec__account="444455556666"))
    checked = specs.check()
    path = _write(
        tmp_path, _yaml("{model: m1, instanceType: ml.g5.12xlarge, instances: 1, environment: dev}")
    )
    baseline = load(path, checked.portfolio)
    by_env = {e.name: compare(baseline, e, plan_environment(e)) for e in checked.environments}
    assert by_env["dev"].compared == ("m1",)
    assert by_env["prod"].models == () and by_env["prod"].not_in_baseline == ("m1",)


# --- bad input: file:line:column, field, value, fix ------------------------------------------


BAD = [
    # (entry, path, value, message part, fix part)
    (
        "{model: m11, instanceType: ml.p4d.24xlarge, instances: 1}",
        "hosting[0].model",
        "m11",
        "no model of this name",
        "did you mean 'm1'?",
    ),
    (
        "{model: m1, instanceType: ml.p4d.24xl, instances: 1}",
        "hosting[0].instanceType",
        "ml.p4d.24xl",
        "not a SageMaker instance type",
        "did you mean 'ml.p4d.24xlarge'?",
    ),
    (
        "{model: m1, instanceType: ml.p4d.24xlarge, instances: 0}",
        "hosting[0].instances",
        0,
        "must be at least 1",
        "leave it out of the baseline",
    ),
    (
        "{model: m1, instanceType: ml.p4d.24xlarge, instances: -2}",
        "hosting[0].instances",
        -2,
        "must be at least 1",
        "how many instances",
    ),
    (
        "{model: m1, instanceType: ml.p4d.24xlarge, instances: 1, hoursPerDay: 0}",
        "hosting[0].hoursPerDay",
        0,
        "must be more than 0",
        "at most 24",
    ),
    (
        "{model: m1, instanceType: ml.p4d.24xlarge, instances: 1, environment: prd}",
        "hosting[0].environment",
        "prd",
        "no environment of this name",
        "did you mean 'prod'?",
    ),
    (
        "{model: m1, instanceType: ml.p4d.24xlarge, instance: 1}",
        "hosting[0].instance",
        None,
        "unknown field 'instance'",
        "did you mean 'instances'?",
    ),
    (
        '{model: m1, instanceType: ml.p4d.24xlarge, instances: "2"}',
        "hosting[0].instances",
        "2",
        "must be a whole number",
        "without quotes",
    ),
]


@pytest.mark.parametrize("entry,path,value,message,fix", BAD, ids=[b[1] + b[3] for b in BAD])
def test_each_bad_entry_is_located_with_its_value_and_fix(
    specs, tmp_path, entry, path, value, message, fix
):
    specs.standard()
    checked = specs.check()
    file = _write(tmp_path, _yaml(entry))
    # (a mistyped key also leaves its field missing: one error each)
    [d] = [d for d in _errors(file, checked) if d.path == path]
    assert (d.file, d.line) == (str(file), 4)
    assert d.column > 1
    assert d.path == path and message in d.message and fix in d.fix
    if value is not None:
        assert d.value == value


def test_duplicates_name_the_other_line(specs, tmp_path):
    specs.standard()
    specs.write("infra/dev.yaml", mutate(base_environment("dev"), spec__account="444455556666"))
    checked = specs.check()
    file = _write(
        tmp_path,
        _yaml(
            "{model: m1, instanceType: ml.p4d.24xlarge, instances: 1}",
            "{model: m1, instanceType: ml.g5.12xlarge, instances: 1, environment: dev}",
        ),
    )
    [d] = _errors(file, checked)
    assert (d.line, d.path, d.value) == (5, "hosting[1].model", "m1")
    assert "listed twice for environment dev (also at line 4)" in d.message
    assert "once per environment" in d.fix
    # One entry for each environment is no duplicate.
    ok = _write(
        tmp_path,
        _yaml(
            "{model: m1, instanceType: ml.p4d.24xlarge, instances: 1, environment: prod}",
            "{model: m1, instanceType: ml.g5.12xlarge, instances: 1, environment: dev}",
        ),
        "ok.yaml",
    )
    assert len(load(ok, checked.portfolio).hosting) == 2


def test_every_problem_at_once(specs, tmp_path):
    specs.standard()
    checked = specs.check()
    file = _write(
        tmp_path,
        _yaml(
            "{model: nope, instanceType: ml.p4d.24xlarge, instances: 0}",
            "{model: m1, instanceType: ml.bogus, instances: 1}",
        ),
    )
    paths = [d.path for d in _errors(file, checked)]
    assert paths == ["hosting[0].model", "hosting[0].instances", "hosting[1].instanceType"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "an empty file"),
        ("apiVersion: llmdeploy/v1\nkind: Baseline\nhosting: [\n", "not valid YAML"),
        ("- a\n- b\n", "a baseline must be a mapping"),
        ("apiVersion: llmdeploy/v1\nkind: Model\nhosting: []\n", "must be one of: Baseline"),
        (
            _yaml("{model: m1, instanceType: ml.p4d.24xlarge, instances: 1}") + "---\na: 1\n",
            "more than one document",
        ),
    ],
)
def test_bad_files(specs, tmp_path, text, message):
    specs.standard()
    assert any(message in d.message for d in _errors(_write(tmp_path, text), specs.check()))


# --- CSV -------------------------------------------------------------------------------------


def test_csv_reads_like_yaml(specs, tmp_path):
    specs.standard()
    checked = specs.check()
    file = _write(
        tmp_path,
        "# the old hosting\nmodel,instanceType,instances,hoursPerDay\nm1,ml.g5.12xlarge,2,12.5\n",
        "baseline.csv",
    )
    [h] = load(file, checked.portfolio).hosting
    assert (h.model, h.instance_type, h.instances, h.hours_per_day) == (
        "m1",
        "ml.g5.12xlarge",
        2,
        12.5,
    )
    assert h.location == f"{file}:3:1"


def test_csv_errors_name_the_row_and_column(specs, tmp_path):
    specs.standard()
    checked = specs.check()
    file = _write(
        tmp_path,
        "model,instanceType,instances\nm11,ml.p4d.24xlarge,two\nm1,,1\nm1,ml.p4d.24xlarge\n",
        "baseline.csv",
    )
    found = {(d.line, d.column, d.path): d for d in _errors(file, checked)}
    assert found[(2, 1, "model")].fix == "did you mean 'm1'?"
    assert found[(2, 21, "instances")].value == "two"
    assert "plain decimal" in found[(2, 21, "instances")].fix
    assert found[(3, 4, "instanceType")].message == "empty"
    assert found[(4, 1, "instances")].message == "no instances on this row"
    assert "listed twice" in found[(4, 1, "model")].message
    assert len(found) == 5  # "two" is reported once, not again as a type error


def test_csv_header_is_checked(specs, tmp_path):
    specs.standard()
    file = _write(tmp_path, "model,instanceTyp,instances\n", "baseline.csv")
    [unknown, missing] = sorted(_errors(file, specs.check()), key=lambda d: -d.column)
    assert unknown.message == "unknown column 'instanceTyp'"
    assert unknown.fix == "did you mean 'instanceType'?"
    assert "required column 'instanceType'" in missing.message
