"""The synth worker started ahead of need (`workers.Worker`): it builds the first part
with the bytes one app writes, is stopped when nothing needs it (after synthesis, on spec
errors, when it has died), and its failures are errors, not tracebacks. Also what a worker
is sent (`layout.built_from`) and the assembly written without touching unchanged files."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from test_adapters import adapter
from test_cache import assert_same_assembly, two_pools_portfolio
from typer.testing import CliRunner

from conftest import base_model, mutate, processes
from llmdeploy.cli.main import app
from llmdeploy.errors import LlmdeployError
from llmdeploy.synth import workers
from llmdeploy.synth.assembly import synthesize
from llmdeploy.synth.cache import SynthCache
from llmdeploy.synth.layout import built_from, plan_stacks

runner = CliRunner()


@pytest.fixture
def portfolio(specs):
    """Two models on one endpoint, a third on another; m1 is the base of two adapters."""
    return two_pools_portfolio(specs, adapter("a-lora", "m1"), adapter("b-lora", "m1"))


def _env(specs):
    (resolved,) = specs.check().environments
    return resolved


def test_a_worker_is_sent_what_its_stacks_are_built_from(portfolio):
    env = _env(portfolio)
    planned = {p.subject: p for p in plan_stacks(env)}
    models = {m.name: m for m in env.models}

    def sent(*subjects: str) -> dict:
        part = built_from(env, [planned[s] for s in subjects])
        return {m.name: m for m in part.models}

    # A base with all its adapters; an adapter with its base (and the base's other adapter).
    assert sorted(sent("m1")) == ["a-lora", "b-lora", "m1"]
    assert sorted(sent("a-lora")) == ["a-lora", "b-lora", "m1"]
    assert sorted(sent("m3", "pool2")) == ["m3"]
    assert sent("pool") == {}
    # Linked again in the part, each model is what it is in the whole environment.
    for name, model in sent("m1").items():
        assert model == models[name]
    assert sent("m1")["m1"].adapters == ("a-lora", "b-lora")
    # The dashboards read every model.
    assert built_from(env, [planned["prod"]]) is env


def test_the_prestarted_worker_builds_the_change_as_one_app_would(portfolio, tmp_path):
    cache = SynthCache(tmp_path / "cache")
    synthesize(_env(portfolio), tmp_path / "out", cache=cache)
    portfolio.write("models/m2.yaml", mutate(base_model("m2"), spec__lmi__maxRollingBatchSize=64))
    env = _env(portfolio)
    warm = workers.Worker()
    out = synthesize(env, tmp_path / "out", cache=cache, jobs=2, warm=warm)
    assert {s.name for s in out if not s.cached} == {"llmdeploy-prod-model-m2"}
    assert not warm.free()  # used once, then stopped
    assert not warm._process.is_alive()
    synthesize(env, tmp_path / "cold")
    assert_same_assembly(tmp_path / "cold", tmp_path / "out")


def test_the_worker_started_ahead_builds_a_part_beside_a_new_one(portfolio, tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "MIN_STACKS_PER_WORKER", 1)
    env = _env(portfolio)
    synthesize(env, tmp_path / "one", jobs=1)
    warm = workers.Worker()
    synthesize(env, tmp_path / "two", jobs=2, warm=warm)
    assert not warm._process.is_alive()
    assert_same_assembly(tmp_path / "one", tmp_path / "two")


def test_an_unneeded_worker_is_stopped(portfolio, tmp_path):
    cache = SynthCache(tmp_path / "cache")
    env = _env(portfolio)
    synthesize(env, tmp_path / "out", cache=cache)
    warm = workers.Worker()
    out = synthesize(env, tmp_path / "out", cache=cache, jobs=2, warm=warm)
    assert all(s.cached for s in out)  # nothing to build: the worker was never sent a part
    assert not warm._process.is_alive()
    assert warm not in workers._STARTED


def test_a_dead_worker_is_passed_over(portfolio, tmp_path):
    warm = workers.Worker()
    warm._process.kill()
    warm._process.join()
    assert not warm.take()
    out = synthesize(_env(portfolio), tmp_path / "out", jobs=2, warm=warm)
    assert all(not s.cached for s in out) and len(out) == 8  # built in this process instead


def test_a_failure_in_the_worker_is_an_error_naming_it(tmp_path):
    warm = workers.Worker()
    assert warm.take()
    warm.send(b"not a pickle", [], tmp_path / "w0", False, tmp_path)
    with pytest.raises(LlmdeployError, match="CDK failed in a synth worker: UnpicklingError"):
        warm.result()
    assert not warm._process.is_alive()


def test_commands_stop_their_worker_on_spec_errors(portfolio, monkeypatch):
    monkeypatch.chdir(portfolio.root)
    portfolio.write("models/m2.yaml", mutate(base_model("m2"), spec__copies__min=9))
    started = []
    real = workers.Worker.__init__

    def spy(self):
        real(self)
        started.append(self)

    monkeypatch.setattr(workers.Worker, "__init__", spy)
    # As in a command's own process: CDK not imported yet (this test process has it).
    monkeypatch.delitem(sys.modules, "aws_cdk")
    result = runner.invoke(app, ["synth", "--env", "prod", "--jobs", "2"])
    assert result.exit_code == 1, result.output
    if (os.cpu_count() or 1) > 1:
        assert len(started) == 1
    assert all(not w._process.is_alive() for w in started)
    assert workers._STARTED == []
    # --jobs 1 asks for one process: no worker at all.
    started.clear()
    runner.invoke(app, ["synth", "--env", "prod", "--jobs", "1"])
    assert started == []


def test_no_worker_ahead_where_it_cannot_help(monkeypatch):
    import aws_cdk  # noqa: F401  CDK already runs in this process: it builds a few stacks sooner

    assert workers.prestart(4) is None
    monkeypatch.delitem(sys.modules, "aws_cdk")
    assert workers.prestart(1) is None  # --jobs 1: one process
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert workers.prestart(None) is None and workers.prestart(4) is None  # one core
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    warm = workers.prestart(None)
    assert warm is not None
    warm.stop()
    assert not warm._process.is_alive()


def test_a_warm_synth_rewrites_only_the_files_that_changed(portfolio, tmp_path):
    cache = SynthCache(tmp_path / "cache")
    out = tmp_path / "out"
    synthesize(_env(portfolio), out, cache=cache)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    time.sleep(0.01)
    portfolio.write("models/m2.yaml", mutate(base_model("m2"), spec__lmi__maxRollingBatchSize=64))
    synthesize(_env(portfolio), out, cache=cache)
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    touched = {name for name in after if after[name] != before.get(name)}
    assert "llmdeploy-prod-model-m2.template.json" in touched
    assert "llmdeploy-prod-model-m1.template.json" not in touched
    assert "llmdeploy-prod-endpoint-pool.template.json" not in touched
    synthesize(_env(portfolio), tmp_path / "cold")
    assert_same_assembly(tmp_path / "cold", out)


def _running(pids) -> list[int]:
    """Those of ``pids`` still running (neither gone nor zombies)."""
    return [p.pid for p in processes() if p.pid in pids and p.state != "Z"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_stopped_unused_leaves_no_node_process():
    warm = workers.Worker()
    node: set[int] = set()
    deadline = time.monotonic() + 120
    while not node and time.monotonic() < deadline:  # jsii's Node.js, started by the imports
        node = {
            p.pid
            for p in processes()
            if p.ppid == warm._process.pid and p.state != "Z" and "node" in p.cmdline
        }
        time.sleep(0.05)
    assert node, "the worker never started Node.js"
    warm.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(node):
        time.sleep(0.05)
    assert _running(node) == []


def test_a_part_the_worker_cannot_take_goes_to_a_new_worker(portfolio, tmp_path, monkeypatch):
    # The worker dies between being claimed and being sent its part.
    monkeypatch.setattr(workers, "MIN_STACKS_PER_WORKER", 1)
    warm = workers.Worker()
    real_take = warm.take

    def take_then_die() -> bool:
        taken = real_take()
        warm._process.kill()
        warm._process.join()
        return taken

    monkeypatch.setattr(warm, "take", take_then_die)
    env = _env(portfolio)
    synthesize(env, tmp_path / "one", jobs=1)
    synthesize(env, tmp_path / "two", jobs=2, warm=warm)
    assert_same_assembly(tmp_path / "one", tmp_path / "two")


def test_one_failing_part_stops_every_worker(portfolio, tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "MIN_STACKS_PER_WORKER", 1)
    real_pickle, pickled = workers._pickle, []

    def second_part_unreadable(value):
        pickled.append(value)
        return b"not a pickle" if len(pickled) == 2 else real_pickle(value)

    started = []
    real_init = workers.Worker.__init__

    def spy(self):
        real_init(self)
        started.append(self)

    monkeypatch.setattr(workers, "_pickle", second_part_unreadable)
    monkeypatch.setattr(workers.Worker, "__init__", spy)
    with pytest.raises(LlmdeployError, match="CDK failed in a synth worker: UnpicklingError"):
        synthesize(_env(portfolio), tmp_path / "out", jobs=2)
    assert len(started) == 2
    assert all(not w._process.is_alive() for w in started)
    assert workers._STARTED == []
