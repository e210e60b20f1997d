"""The synth cache and the parallel synth write what one cold app writes, byte for byte.

The one tolerated difference is inside `<stack>.metadata.json`: construct traces name the jsii
runtime's temporary folders, new for every Node.js process, so two cold runs already differ
there (`pieces.comparable_metadata`)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, base_environment, base_model, mutate
from llmdeploy.cli.main import app
from llmdeploy.plan import check
from llmdeploy.synth import pieces, workers
from llmdeploy.synth.assembly import synthesize
from llmdeploy.synth.cache import SynthCache
from llmdeploy.synth.pieces import AppPiece, StackPiece, comparable_metadata


def _files(folder: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        out[path.name] = comparable_metadata(data) if path.name.endswith(".metadata.json") else data
    return out


def assert_same_assembly(cold: Path, other: Path) -> None:
    a, b = _files(cold), _files(other)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs from a cold synth"


def _env(root: Path, env: str = "prod"):
    (resolved,) = check([root / "models", root / "infra"], [env]).environments
    return resolved


@pytest.fixture(scope="module")
def examples_cold(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cold")
    synthesize(_env(REPO), out)
    return out


def test_examples_warm_equal_cold(examples_cold, tmp_path):
    cache = SynthCache(tmp_path / "cache")
    env = _env(REPO)
    first = synthesize(env, tmp_path / "first", cache=cache)
    assert not any(s.cached for s in first)
    assert_same_assembly(examples_cold, tmp_path / "first")
    second = synthesize(env, tmp_path / "second", cache=SynthCache(tmp_path / "cache"))
    assert all(s.cached for s in second)  # no CDK at all
    assert_same_assembly(examples_cold, tmp_path / "second")
    assert [s.fingerprint for s in first] == [s.fingerprint for s in second]
    # The manifest keeps CDK's dependencies: the model stacks after their endpoints.
    manifest = json.loads((tmp_path / "second" / "manifest.json").read_text())
    deps = manifest["artifacts"]["llm-prod-model-flow-generation"]["dependencies"]
    assert deps == ["llm-prod-endpoint-codegen-g6"]


def test_one_model_and_its_endpoint_from_the_cache(examples_cold, tmp_path):
    cache = SynthCache(tmp_path / "cache")
    env = _env(REPO)
    synthesize(env, tmp_path / "all", cache=cache)
    one = synthesize(env, tmp_path / "one", ["flow-generation"], cache=cache)
    assert [(s.name, s.cached) for s in one] == [
        ("llm-prod-endpoint-codegen-g6", True),
        ("llm-prod-model-flow-generation", True),
    ]
    cold = tmp_path / "one-cold"
    synthesize(env, cold, ["flow-generation"])
    assert_same_assembly(cold, tmp_path / "one")


POOL2 = {
    "name": "pool2",
    "instanceType": "ml.g6e.12xlarge",
    "instances": {"min": 0, "initial": 1, "max": 2},
}


def two_pools() -> dict:
    """The base environment with a second shared endpoint, pool2."""
    env = base_environment()
    env["spec"]["endpoints"].append(copy.deepcopy(POOL2))
    return env


def two_pools_portfolio(specs, *more: dict):
    """m1 and m2 on pool, m3 on pool2, and ``more`` model documents."""
    models = [base_model("m1"), base_model("m2"), mutate(base_model("m3"), spec__endpoint="pool2")]
    return specs.standard(two_pools(), *models, *more)


@pytest.fixture
def portfolio(specs):
    return two_pools_portfolio(specs)


def _rebuilt(summaries) -> set[str]:
    return {s.name for s in summaries if not s.cached}


@pytest.mark.parametrize(
    ("change", "rebuilt"),
    [
        (
            "field",
            {"llmdeploy-prod-model-m2"},
        ),
        ("add", {"llmdeploy-prod-model-m4", "llmdeploy-prod-dashboards"}),
        ("remove", {"llmdeploy-prod-dashboards"}),
        (
            "endpoint",
            {
                "llmdeploy-prod-endpoint-pool",
                "llmdeploy-prod-model-m1",
                "llmdeploy-prod-model-m2",
                "llmdeploy-prod-dashboards",
            },
        ),
        ("environment", "all"),
    ],
)
def test_a_mutated_portfolio_warm_equals_cold(portfolio, tmp_path, change, rebuilt):
    cache = SynthCache(tmp_path / "cache")
    synthesize(_env(portfolio.root), tmp_path / "before", cache=cache)
    if change == "field":
        portfolio.write(
            "models/m2.yaml", mutate(base_model("m2"), spec__lmi__maxRollingBatchSize=64)
        )
    elif change == "add":
        portfolio.write("models/m4.yaml", mutate(base_model("m4"), spec__endpoint="pool2"))
    elif change == "remove":
        (portfolio.root / "models/m2.yaml").unlink()
    else:
        env = two_pools()
        if change == "endpoint":  # its stack, its models' and the dashboards
            env["spec"]["endpoints"][0]["instances"]["max"] = 3
        else:  # every stack
            env["spec"]["security"] = {"networkIsolation": False}
        portfolio.write("infra/prod.yaml", env)
    env = _env(portfolio.root)
    warm = synthesize(env, tmp_path / "warm", cache=cache)
    synthesize(env, tmp_path / "cold")
    assert_same_assembly(tmp_path / "cold", tmp_path / "warm")
    assert _rebuilt(warm) == ({s.name for s in warm} if rebuilt == "all" else rebuilt)


def test_damaged_entries_are_rebuilt_never_trusted(portfolio, tmp_path):
    root = tmp_path / "cache"
    env = _env(portfolio.root)
    first = synthesize(env, tmp_path / "first", cache=SynthCache(root))
    by_name = {s.name: s for s in first}
    cache = SynthCache(root)
    truncated = cache._stack_path(by_name["llmdeploy-prod-model-m1"].fingerprint)
    truncated.write_bytes(truncated.read_bytes()[:-100])
    flipped = cache._stack_path(by_name["llmdeploy-prod-endpoint-pool"].fingerprint)
    data = bytearray(flipped.read_bytes())
    data[-10] ^= 1  # one bit of the template: the digest no longer matches
    flipped.write_bytes(bytes(data))
    moved = cache._stack_path(by_name["llmdeploy-prod-model-m2"].fingerprint)
    # An entry under another stack's fingerprint (renamed by hand): not this stack's.
    shutil.copy(moved, cache._stack_path(by_name["llmdeploy-prod-model-m3"].fingerprint))
    again = synthesize(env, tmp_path / "again", cache=cache)
    assert _rebuilt(again) == {
        "llmdeploy-prod-model-m1",
        "llmdeploy-prod-endpoint-pool",
        "llmdeploy-prod-model-m3",
    }
    assert len(cache.damaged) == 3
    assert_same_assembly(tmp_path / "first", tmp_path / "again")
    # Rebuilt and stored again: the next run takes everything from the cache.
    assert all(s.cached for s in synthesize(env, tmp_path / "third", cache=SynthCache(root)))


def test_what_cannot_be_merged_is_built_in_one_app(portfolio, tmp_path, monkeypatch):
    env = _env(portfolio.root)
    cache = SynthCache(tmp_path / "cache")
    synthesize(env, tmp_path / "cold", cache=cache)
    monkeypatch.setattr(pieces, "TREE_MAX_NODES", 10)  # as if CDK would split tree.json
    out = synthesize(env, tmp_path / "fallback", cache=cache)
    assert not any(s.cached for s in out)
    assert_same_assembly(tmp_path / "cold", tmp_path / "fallback")


def test_parallel_synth_writes_the_same_bytes(portfolio, tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "MIN_STACKS_PER_WORKER", 1)
    env = _env(portfolio.root)
    synthesize(env, tmp_path / "one", jobs=1)
    cache = SynthCache(tmp_path / "cache")
    two = synthesize(env, tmp_path / "two", jobs=2, cache=cache)
    assert_same_assembly(tmp_path / "one", tmp_path / "two")
    # Every stack came from a worker and was stored: a warm run needs no CDK.
    assert all(s.cached for s in synthesize(env, tmp_path / "warm", cache=cache))
    assert_same_assembly(tmp_path / "one", tmp_path / "warm")
    assert [s.name for s in two] == [s.name for s in synthesize(env, tmp_path / "x")]


def test_split_keeps_models_with_their_endpoint():
    from llmdeploy.synth.layout import PlannedStack

    planned = [
        PlannedStack("e-a", "endpoint", "a"),
        PlannedStack("e-b", "endpoint", "b"),
        *(PlannedStack(f"m{i}", "model", f"m{i}", (f"e-{'ab'[i % 2]}",)) for i in range(6)),
        PlannedStack("d", "dashboards", "env"),
    ]
    parts = workers.split(planned, planned[2:], 2)  # the endpoints are not to be built
    assert [taken for _, taken in parts] == [["m0", "m2", "m4", "m1"], ["m3", "m5", "d"]]
    # A model's endpoint is built beside it (CDK records the dependency), not taken; each
    # worker builds in the plan's order.
    assert [p.name for p in parts[0][0]] == ["e-a", "e-b", "m0", "m1", "m2", "m4"]
    assert [p.name for p in parts[1][0]] == ["e-b", "m3", "m5", "d"]


def _piece(name: str) -> StackPiece:
    return StackPiece(name, b"{}", None, {"type": "aws:cloudformation:stack"}, b"{}", 1)


def _age(root: Path, ns: int) -> None:
    for path in root.rglob("*"):
        if path.is_file() and path.name != "runs":
            os.utime(path, ns=(ns, ns))


def test_cache_evicts_entries_unused_in_the_last_runs(tmp_path):
    root = tmp_path / "cache"
    fps = [f"sha256:{i:064x}" for i in range(3)]
    t0 = time.time_ns() - 100 * 10**9  # runs 10 s apart, in the past
    first = SynthCache(root, keep_runs=2)
    first.started = t0
    for i, fp in enumerate(fps):
        first.put(fp, _piece(f"s{i}"))
    first.put_app("a" * 64, AppPiece({"version": "1"}, {"id": "App"}, "tree-0.1", {}))
    _age(root, t0 + 10**9)  # written during the first run
    assert first.finish() == 0
    second = SynthCache(root, keep_runs=2)
    second.started = t0 + 10 * 10**9
    assert second.get("s0", fps[0]) is not None  # used in the second run (now)
    assert second.finish() == 0  # the first run is one of the last two
    third = SynthCache(root, keep_runs=2)
    third.started = t0 + 20 * 10**9
    assert third.finish() == 3  # s1, s2 and the app part: used by neither of the last two
    assert SynthCache(root).get("s0", fps[0]) is not None
    assert SynthCache(root).get("s1", fps[1]) is None


def test_cache_is_bounded_by_size(tmp_path):
    root = tmp_path / "cache"
    old = SynthCache(root, max_bytes=1)
    old.started = time.time_ns() - 100 * 10**9
    old.put("sha256:" + "1" * 64, _piece("old"))
    _age(root, old.started)
    old.finish()
    new = SynthCache(root, max_bytes=1)
    new.put("sha256:" + "2" * 64, _piece("new"))
    new.finish()  # over the bound: the least recently used goes, never this run's
    assert new.get("old", "sha256:" + "1" * 64) is None
    assert new.get("new", "sha256:" + "2" * 64) is not None


runner = CliRunner()


def test_cli_no_cache_and_jobs(portfolio, tmp_path, monkeypatch):
    monkeypatch.chdir(portfolio.root)
    args = ["synth", "--env", "prod", "-o", "json", "--jobs", "1"]
    result = runner.invoke(app, [*args, "--out-dir", "a", "--no-cache"])
    assert result.exit_code == 0, result.output
    assert not (portfolio.root / ".llmdeploy/synth-cache").exists()
    result = runner.invoke(app, [*args, "--out-dir", "b"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*args, "--out-dir", "c"])
    assert result.exit_code == 0, result.output
    stacks = json.loads(result.stdout)["stacks"]
    assert all(s["cached"] and s["fingerprint"].startswith("sha256:") for s in stacks)
    assert_same_assembly(portfolio.root / "a", portfolio.root / "c")
