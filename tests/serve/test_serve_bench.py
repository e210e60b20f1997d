"""The bench harness: figures against a runtime of known timing, failures by kind, the SLO's
judgement in words, and the inputs a user gives (levels, prompt files)."""

from __future__ import annotations

import json

import pytest
from serve_support import (  # noqa: F401 - the fixture
    fake_fixture,
    start_process,
    stop_process,
    write_specs,
)

from llmdeploy.errors import LlmdeployError, SpecError
from llmdeploy.plan import check
from llmdeploy.serve import bench
from llmdeploy.serve.bench import Level, Sample
from llmdeploy.serve.runtime import Runtime, resolve
from llmdeploy.spec.models import Slo


def _runtime(tmp_path, **kw) -> Runtime:
    write_specs(tmp_path, **kw)
    target = resolve(check([tmp_path / "models", tmp_path / "infra"], ["prod"]), "prod", "m1")
    return Runtime(target, pool=20, retries=False)


def test_figures_match_the_runtime_s_timing(monkeypatch, tmp_path):
    proc = start_process(monkeypatch, "--ttft-ms", "150", "--tpot-ms", "20", "--tokens", "5")
    try:
        runtime = _runtime(tmp_path)
        bench.warm_up(runtime)
        for c in (1, 4):
            level = bench.run_level(runtime, bench.builtin_prompts(), c, max_tokens=5, requests=8)
            d = level.to_dict()
            assert d["requests"] == d["succeeded"] == 8
            assert d["ttft_ms"]["p50"] == pytest.approx(150, rel=0.05)
            assert d["tpot_ms"]["p50"] == pytest.approx(20, rel=0.05)
            assert d["e2e_ms"]["p50"] == pytest.approx(150 + 4 * 20, rel=0.05)
            assert d["output_tokens"]["p50"] == 5
            assert d["output_tokens_per_s"] == pytest.approx(d["requests_per_s"] * 5)
    finally:
        stop_process(proc)


def test_concurrency_runs_requests_at_once(fake, tmp_path):
    fake.settings.ttft_ms, fake.settings.tpot_ms, fake.settings.tokens = 100, 1, 1
    level = bench.run_level(
        _runtime(tmp_path), bench.builtin_prompts(), 8, max_tokens=1, requests=16
    )
    # 16 requests of ~100 ms in two rounds of 8: about 0.2 s, far from 1.6 s one at a time.
    assert level.wall_s < 0.6
    assert level.to_dict()["requests_per_s"] > 25


def test_a_duration_bounds_the_level(fake, tmp_path):
    fake.settings.ttft_ms, fake.settings.tpot_ms, fake.settings.tokens = 30, 1, 1
    level = bench.run_level(
        _runtime(tmp_path), bench.builtin_prompts(), 2, max_tokens=1, duration_s=0.5
    )
    assert 0.5 <= level.wall_s < 0.7
    assert 12 <= len(level.samples) <= 36  # ~32 on an idle machine


def test_failures_are_counted_by_kind_throttles_apart(fake, tmp_path):
    fake.settings.error_rate = 0.5
    level = bench.run_level(
        _runtime(tmp_path), bench.builtin_prompts(), 4, max_tokens=2, requests=40
    )
    d = level.to_dict()
    assert set(d["throttles"]) == {"ThrottlingException"}
    assert set(d["errors"]) == {"ModelError"}
    failed = d["throttles"]["ThrottlingException"] + d["errors"]["ModelError"]
    assert failed == 40 - d["succeeded"]
    assert 8 <= failed <= 32  # half of 40, give or take chance (seeded)
    assert d["error_rate_percent"] == pytest.approx(100 * failed / 40)
    assert "Rate exceeded" in d["first_messages"]["ThrottlingException"]


def _level(c: int, ttft_ms: list[float], failures: int = 0, tpot_ms: float = 20) -> Level:
    samples = [Sample(0, t / 1000 + 0.5, t / 1000, tpot_ms / 1000, 10) for t in ttft_ms] + [
        Sample(0, 0.01, error="ThrottlingException", throttle=True)
    ] * failures
    return Level(c, samples, 1.0)


@pytest.mark.parametrize(
    ("slo", "level", "messages"),
    [
        (
            {"ttft_ms": 100},
            _level(1, [150.0, 152.3, 160.0]),
            ["TTFT p50 152.3 ms > SLO 100 ms (+52%) at concurrency 1"],
        ),
        ({"ttft_ms": 200, "tpot_ms": 25}, _level(1, [150.0]), []),
        (
            {"tpot_ms": 12.5},
            _level(8, [10.0], tpot_ms=15),
            ["TPOT p50 15.0 ms > SLO 12.5 ms (+20%) at concurrency 8"],
        ),
        (
            {"p95_latency_ms": 500},
            _level(1, [100.0, 200.0]),
            ["latency p95 695.0 ms > SLO 500 ms (+39%) at concurrency 1"],
        ),
        (
            {"error_rate_percent": 1},
            _level(4, [10.0] * 9, failures=1),
            ["error rate 10.0% > SLO 1% (+9.0 points) at concurrency 4 (1 of 10 requests failed)"],
        ),
        (
            {"ttft_ms": 100},
            _level(2, [], failures=3),
            ["TTFT p50: no successful request to measure at concurrency 2 (SLO 100 ms)"],
        ),
    ],
)
def test_slo_breaches_say_which_figure_by_how_much(slo, level, messages):
    judged = Slo.model_validate({"atConcurrency": level.concurrency} | _camel(slo))
    assert [b.message for b in bench.judge(level, judged)] == messages


def _camel(d: dict) -> dict:
    from pydantic.alias_generators import to_camel

    return {"p95LatencyMs" if k == "p95_latency_ms" else to_camel(k): v for k, v in d.items()}


def test_the_slo_s_concurrency_is_added_to_the_levels():
    slo = Slo.model_validate({"ttftMs": 100, "atConcurrency": 4})
    assert bench.levels_for([1, 8], slo) == [1, 4, 8]
    assert bench.levels_for([8, 1], None) == [1, 8]


@pytest.mark.parametrize("text", ["0,abc", "1,,8", "2000", "-1", "1.5"])
def test_bad_levels_are_refused_with_the_form_to_use(text):
    with pytest.raises(LlmdeployError, match="--concurrency 1,8,32"):
        bench.parse_levels(text)


def test_levels_parse_sorted_without_duplicates():
    assert bench.parse_levels(" 32, 1,8,8") == [1, 8, 32]


def test_prompt_files_are_read_and_their_errors_located(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"prompt": "a", "max_tokens": 5}) + "\n\n" + json.dumps("b") + "\n")
    items = bench.load_prompts(good)
    assert [(p.prompt.user, p.max_tokens) for p in items] == [("a", 5), ("b", None)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"promt": "x"}\nnot json\n{"prompt": "y", "max_tokens": 0}\n')
    with pytest.raises(SpecError) as info:
        bench.load_prompts(bad)
    text = info.value.render()
    assert f"{bad}:2:1: error: promt: unknown key" in text and "did you mean 'prompt'" in text
    assert f"{bad}:3:1: error: (line): not JSON" in text
    assert f"{bad}:4:1: error: max_tokens = 0: must be a whole number" in text


def test_smoke_gives_ttft_and_the_first_words(fake, tmp_path):
    fake.settings.ttft_ms = 40
    result = bench.smoke(_runtime(tmp_path), words=3)
    assert result.ok
    assert result.first_words == "the quick brown"
    assert result.ttft_ms >= 40
    assert fake.seen.requests[-1]["body"]["parameters"] == {"max_new_tokens": 16}


def test_slo_check_runs_at_the_slo_s_concurrency(fake, tmp_path):
    fake.settings.ttft_ms, fake.settings.tpot_ms, fake.settings.tokens = 60, 2, 2
    slo = Slo.model_validate({"ttftMs": 30, "tpotMs": 100, "atConcurrency": 3})
    check_ = bench.slo_check(_runtime(tmp_path), slo)
    assert check_.level.concurrency == 3 and len(check_.level.samples) == 8
    assert not check_.passed
    assert [b.figure for b in check_.breaches] == ["ttft_ms"]
