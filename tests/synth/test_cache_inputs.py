"""What the synth cache must notice: every input a stack's template is built from moves the
stack's fingerprint (`synth.fingerprint`), or a stale template is served silently (and `diff`
and `deploy` trust it). The toolchain's inputs, then each realistic spec change, synthesized
warm (from a cache holding the portfolio before it) and cold, byte for byte."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from test_adapters import adapter
from test_cache import POOL2, assert_same_assembly

from conftest import Specs, base_environment, base_model, mutate
from llmdeploy.plan.resolve import ResolvedEnvironment
from llmdeploy.synth import fingerprint
from llmdeploy.synth.assembly import synthesize
from llmdeploy.synth.cache import SynthCache
from llmdeploy.synth.pieces import comparable_metadata

# --- the toolchain -----------------------------------------------------------------------------


def _loaded_jsii_distributions() -> set[str]:
    """The distributions whose jsii bundle (the JavaScript CDK runs) this process loaded."""
    import aws_cdk  # noqa: F401
    import cdk_nag  # noqa: F401

    loaded = {m for m in sys.modules if m.endswith("._jsii")}
    tops = {m.partition(".")[0] for m in loaded}
    names = {
        d
        for top, dists in importlib.metadata.packages_distributions().items()
        if top in tops
        for d in dists
    }
    out = set()
    for name in names:
        for f in importlib.metadata.distribution(name).files or ():
            path = PurePosixPath(str(f))
            if path.name.endswith(".jsii.tgz") and ".".join(path.parent.parts) in loaded:
                out.add(name)
    return out


class _OtherBuild:
    """A distribution as if another version of it were installed."""

    def __init__(self, dist: importlib.metadata.Distribution):
        self._dist = dist

    @property
    def version(self) -> str:
        return self._dist.version + ".post1"

    def __getattr__(self, name: str):
        return getattr(self._dist, name)


def test_the_toolchain_moves_with_every_jsii_bundle_cdk_loads(monkeypatch):
    """aws-cdk-lib loads the bundles of other distributions (cloud-assembly-schema writes
    manifest.json): a new version of any of them must rebuild every stack."""
    loaded = _loaded_jsii_distributions()
    assert {"aws-cdk-lib", "constructs", "cdk-nag", "aws-cdk.cloud-assembly-schema"} <= loaded
    before = fingerprint.toolchain(nag=False)
    real = importlib.metadata.distribution
    for name in sorted(loaded | {"jsii"}):

        def other(asked: str, name: str = name):
            dist = real(asked)
            same = fingerprint._normalized(asked) == fingerprint._normalized(name)
            return _OtherBuild(dist) if same else dist

        with monkeypatch.context() as m:
            m.setattr(importlib.metadata, "distribution", other)
            assert fingerprint.toolchain(nag=False) != before, name
    assert fingerprint.toolchain(nag=False) == before


def test_the_toolchain_moves_with_what_cdk_reads_besides_the_specs(monkeypatch):
    before = fingerprint.toolchain(nag=False)
    assert fingerprint.toolchain(nag=True) != before  # cdk-nag and CDK's own validation run
    for name in ("CDK_CONTEXT_JSON", "JSII_RUNTIME", "NODE_OPTIONS", "AWS_REGION"):
        with monkeypatch.context() as m:
            m.setenv(name, "changed")
            assert fingerprint.toolchain(nag=False) != before, name
    with monkeypatch.context() as m:
        m.setattr(fingerprint, "source_digest", lambda: "an edited module")
        assert fingerprint.toolchain(nag=False) != before
    monkeypatch.setenv("LLMDEPLOY_UNRELATED", "1")  # what no part of synth reads
    assert fingerprint.toolchain(nag=False) == before


# --- the specs: each change, warm from the cache of the portfolio before it, equals cold --------

ENV = "infra/prod.yaml"
M1, M2, D1, ADAPTER = "models/m1.yaml", "models/m2.yaml", "models/d1.yaml", "models/a-lora.yaml"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# A dedicated endpoint's shape: d1's, and m2's when it becomes dedicated.
DEDICATED = {"instanceType": "ml.g6e.2xlarge", "instances": {"min": 1, "initial": 1, "max": 2}}
SCHEDULE = {"cron": "0 8 ? * MON-FRI *", "timezone": "Europe/Paris", "min": 1, "max": 2}


def _documents() -> dict[str, dict[str, Any]]:
    """Two shared endpoints (one without local NVMe, no models), two models on the first, the
    first with a LoRA adapter, the second with a schedule, and a dedicated model: every kind
    of stack."""
    env = base_environment()
    env["spec"]["endpoints"].append(
        {
            "name": "neuron",
            "instanceType": "ml.inf2.24xlarge",
            "instances": {"min": 0, "initial": 1, "max": 1},
            "volumeSizeGB": 256,
        }
    )
    dedicated = mutate(
        base_model("d1"),
        spec__endpoint=None,
        spec__resources=None,
        spec__copies=None,
        spec__dedicated=DEDICATED,
    )
    return {
        ENV: env,
        M1: base_model("m1"),
        M2: mutate(base_model("m2"), spec__autoscaling__schedule=[SCHEDULE]),
        ADAPTER: adapter("a-lora", "m1"),
        D1: dedicated,
    }


Edit = Callable[[dict[str, dict[str, Any]]], None]


def edit(file: str, **changes: Any) -> Edit:
    """Set dotted paths in one document (`conftest.mutate`: None deletes)."""

    def apply(docs: dict[str, dict[str, Any]]) -> None:
        docs[file] = mutate(docs[file], **changes)

    return apply


def add(file: str, doc: dict[str, Any]) -> Edit:
    return lambda docs: docs.__setitem__(file, doc)


def remove(file: str) -> Edit:
    return lambda docs: docs.__delitem__(file)


def rename(old: str, new: str) -> Edit:
    return lambda docs: docs.__setitem__(new, docs.pop(old))


def add_pool2(docs: dict[str, dict[str, Any]]) -> None:
    docs[ENV]["spec"]["endpoints"].append(copy.deepcopy(POOL2))


def swap_endpoints(docs: dict[str, dict[str, Any]]) -> None:
    docs[ENV]["spec"]["endpoints"].reverse()


def _case(id: str, touched: set[str] | str, *edits: Edit):
    """``touched``: the stacks whose output the change reaches ("*": every one)."""
    return pytest.param(edits, touched, id=id)


CASES = [
    # The environment: every field, read by every stack or by none.
    _case("environment account", "*", edit(ENV, spec__account="444455556666")),
    _case("environment region", "*", edit(ENV, spec__region="us-west-2")),
    _case(
        "environment renamed, same stack prefix",
        "*",
        edit(ENV, metadata__name="production", spec__stackPrefix="llmdeploy-prod"),
    ),
    _case("environment stack prefix", "*", edit(ENV, spec__stackPrefix="llm-prod")),
    _case(
        "environment kms key",
        # The model stacks import the key too (their tree), unused in their templates.
        {"pool", "neuron", "d1", "m1", "m2"},
        edit(ENV, spec__security__kmsKeyArn=KEY),
    ),
    _case(
        "environment vpc",
        # Every stack but the dashboards acknowledges the environment's network choice.
        {"pool", "neuron", "m1", "m2", "d1", "a-lora"},
        edit(
            ENV,
            spec__security__vpc={"subnetIds": ["subnet-0a1"], "securityGroupIds": ["sg-0b2"]},
        ),
    ),
    _case(
        "environment network isolation off",
        {"pool", "neuron", "m1", "m2", "d1", "a-lora"},
        edit(ENV, spec__security__networkIsolation=False),
    ),
    _case(
        "environment image registries",
        set(),
        edit(ENV, spec__security__imageRegistries=["444455556666.dkr.ecr.us-east-1.amazonaws.com"]),
    ),
    _case(
        "environment foreign kms keys allowed",
        set(),
        edit(ENV, spec__security__allowForeignKmsKey=True),
    ),
    _case("environment history", set(), edit(ENV, spec__history__s3Uri="s3://bucket/history/")),
    _case("environment pricing", set(), edit(ENV, spec__pricing={"ml.g6e.12xlarge": 9.5})),
    _case(
        "environment traffic",
        set(),
        edit(ENV, spec__traffic={"hoursPerDay": {"min": 12, "initial": 8, "max": 4}}),
    ),
    # A shared endpoint: its own stack; its models and the dashboards name it only.
    _case("endpoint instances", {"pool"}, edit(ENV, spec__endpoints__0__instances__max=3)),
    _case(
        "endpoint instance type",
        {"pool"},
        edit(ENV, spec__endpoints__0__instanceType="ml.g6e.24xlarge"),
    ),
    _case("endpoint routing", {"pool"}, edit(ENV, spec__endpoints__0__routing="random")),
    _case(
        "endpoint rollout wait", {"pool"}, edit(ENV, spec__endpoints__0__rollout__waitSeconds=60)
    ),
    _case(
        "endpoint canary rollout",
        {"pool"},
        edit(
            ENV,
            spec__endpoints__0__instances={"min": 2, "initial": 2, "max": 3},
            spec__endpoints__0__rollout={"strategy": "canary", "trafficPercent": 20},
        ),
    ),
    _case("endpoint volume", {"neuron"}, edit(ENV, spec__endpoints__1__volumeSizeGB=300)),
    _case("endpoint added", {"pool2", "dashboards"}, add_pool2),
    _case("endpoint removed", {"dashboards"}, lambda docs: docs[ENV]["spec"]["endpoints"].pop()),
    _case("endpoints reordered", {"dashboards"}, swap_endpoints),
    # A model on a shared endpoint: its stack.
    _case("model version", {"m1"}, edit(M1, metadata__version=2)),
    _case("model owner", {"m1"}, edit(M1, metadata__owner="other-team")),
    _case("model weights", {"m1"}, edit(M1, spec__source__s3Uri="s3://bucket/m1/2/")),
    # (m2: m1's adapter must run in its base's container.)
    _case("model container version", {"m2"}, edit(M2, spec__container__version="0.34.0")),
    _case(
        "model explicit image",
        {"m2"},
        edit(
            M2,
            spec__container__image="763104351884.dkr.ecr.us-east-1.amazonaws.com/"
            "djl-inference:0.33.0-lmi15.0.0-cu128-v1.1",
        ),
    ),
    _case("model lmi batch", {"m1"}, edit(M1, spec__lmi__maxRollingBatchSize=64)),
    _case("model lmi dtype", {"m1"}, edit(M1, spec__lmi__dtype="fp16")),
    _case("model lmi max loras", {"m1"}, edit(M1, spec__lmi__maxLoras=8)),
    _case("model lmi extra env", {"m1"}, edit(M1, spec__lmi__extraEnv={"OPTION_X": "1"})),
    _case(
        "model loading timeout",
        {"m1"},
        edit(M1, spec__lmi__extraEnv={"OPTION_MODEL_LOADING_TIMEOUT": "3000"}),
    ),
    _case("model size, same startup timeout", set(), edit(M1, spec__sizeBillions=14)),
    _case(
        "model accelerators",
        {"m1"},
        edit(M1, spec__resources__accelerators=2, spec__lmi__tensorParallelDegree=2),
    ),
    _case("model memory", {"m1"}, edit(M1, spec__resources__memoryMiB=40960)),
    _case("model cpu cores", {"m1"}, edit(M1, spec__resources__cpuCores=8)),
    _case("model copies", {"m1"}, edit(M1, spec__copies__max=3)),
    _case("model scales to zero", {"m1"}, edit(M1, spec__copies__min=0)),
    _case("model autoscaling target", {"m1"}, edit(M1, spec__autoscaling__target=8)),
    _case(
        "model autoscaling metric",
        {"m1"},
        edit(M1, spec__autoscaling__metric="invocations-per-copy"),
    ),
    _case(
        "model autoscaling cooldowns",
        {"m1"},
        edit(M1, spec__autoscaling__scaleInCooldownSeconds=600),
    ),
    _case("model without autoscaling", {"m1"}, edit(M1, spec__autoscaling=None)),
    _case("model schedule added", {"m1"}, edit(M1, spec__autoscaling__schedule=[SCHEDULE])),
    _case(
        "model schedule to zero",
        {"m2"},
        edit(M2, spec__autoscaling__schedule=[{**SCHEDULE, "min": 0}]),
    ),
    _case(
        "model schedule timezone",
        {"m2"},
        edit(M2, spec__autoscaling__schedule=[{**SCHEDULE, "timezone": "UTC"}]),
    ),
    _case(
        "model schedule cron",
        {"m2"},
        edit(M2, spec__autoscaling__schedule=[{**SCHEDULE, "cron": "0 9 ? * MON-FRI *"}]),
    ),
    _case(
        "model schedule name",
        {"m2"},
        edit(M2, spec__autoscaling__schedule=[{**SCHEDULE, "name": "office-hours"}]),
    ),
    _case("model rollout", {"m1"}, edit(M1, spec__rollout__waitSeconds=300)),
    _case(
        "model rollback alarms",
        {"m1"},
        edit(M1, spec__rollout__rollbackOn={"errorRatePercent": 5, "p95LatencyMs": 20000}),
    ),
    _case("model slo", set(), edit(M1, spec__slo={"ttftMs": 500})),
    _case(
        "model traffic",
        set(),
        edit(M1, spec__traffic={"hoursPerDay": {"min": 12, "initial": 8, "max": 4}}),
    ),
    _case("model request format", set(), edit(M1, spec__requestFormat="chat-completions")),
    _case(
        "model architecture",
        set(),
        edit(M1, spec__architecture={"layers": 32, "kvHeads": 8, "headDim": 128}),
    ),
    _case(
        "model environment override",
        {"m1"},
        edit(M1, spec__environments={"prod": {"copies": {"min": 1, "initial": 1, "max": 3}}}),
    ),
    _case(
        "model moved to another endpoint",
        {"pool2", "m2", "dashboards"},
        add_pool2,
        edit(M2, spec__endpoint="pool2"),
    ),
    _case(
        "model becomes dedicated",
        {"m2", "dashboards"},
        edit(
            M2,
            spec__endpoint=None,
            spec__resources=None,
            spec__copies=None,
            spec__autoscaling__schedule=None,
            spec__dedicated=DEDICATED,
        ),
    ),
    _case("model added", {"m3", "dashboards"}, add("models/m3.yaml", base_model("m3"))),
    _case("model removed", {"dashboards"}, remove(M2)),
    _case("models reordered", set(), rename(M2, "models/0-m2.yaml")),
    # A dedicated endpoint: its stack.
    _case(
        "dedicated instance type",
        {"d1"},
        edit(D1, spec__dedicated__instanceType="ml.g6e.4xlarge"),
    ),
    _case("dedicated instances", {"d1"}, edit(D1, spec__dedicated__instances__max=3)),
    _case("dedicated version", {"d1"}, edit(D1, metadata__version=2)),
    _case("dedicated lmi", {"d1"}, edit(D1, spec__lmi__maxRollingBatchSize=64)),
    _case("dedicated schedule", {"d1"}, edit(D1, spec__autoscaling__schedule=[SCHEDULE])),
    _case(
        "dedicated rollback alarms",
        {"d1"},
        edit(D1, spec__rollout__rollbackOn={"p95LatencyMs": 20000}),
    ),
    _case(
        "dedicated becomes shared",
        {"d1", "dashboards"},
        edit(
            D1,
            spec__dedicated=None,
            spec__endpoint="pool",
            spec__resources={"accelerators": 1, "memoryMiB": 32768, "cpuCores": 4},
            spec__copies={"min": 1, "initial": 1, "max": 2},
        ),
    ),
    # LoRA adapters: their stacks and their bases' (the base's role reads their weights).
    _case(
        "adapter weights",
        {"a-lora", "m1"},
        edit(ADAPTER, spec__source__s3Uri="s3://bucket/a-lora/2/adapter.tar.gz"),
    ),
    _case("adapter version", {"a-lora"}, edit(ADAPTER, metadata__version=2)),
    _case(
        "second adapter",
        {"b-lora", "m1", "dashboards"},
        add("models/b-lora.yaml", adapter("b-lora", "m1")),
    ),
    _case(
        "first adapter of another base",
        {"b-lora", "m2", "dashboards"},
        add("models/b-lora.yaml", adapter("b-lora", "m2")),
    ),
    _case(
        "adapter moved to another base", {"a-lora", "m1", "m2"}, edit(ADAPTER, spec__adapterOf="m2")
    ),
    _case(
        "adapter's base moved to another endpoint",
        {"pool2", "m1", "a-lora", "dashboards"},
        add_pool2,
        edit(M1, spec__endpoint="pool2"),
    ),
    _case("adapter removed", {"m1", "dashboards"}, remove(ADAPTER)),
]


def _check(root: Path, docs: dict[str, dict[str, Any]]) -> ResolvedEnvironment:
    specs = Specs(root)
    for name, doc in docs.items():
        specs.write(name, doc)
    (env,) = specs.check().environments
    return env


def _cache(root: Path) -> SynthCache:
    return SynthCache(root, keep_runs=1000)  # every case's entries stay: more to be fooled by


@pytest.fixture(scope="module")
def before(tmp_path_factory) -> tuple[Path, Path]:
    """The portfolio before any change, synthesized cold into a cache the cases share."""
    root = tmp_path_factory.mktemp("before")
    env = _check(root / "specs", _documents())
    built = synthesize(env, root / "cold", cache=_cache(root / "cache"))
    assert len(built) == 7 and not any(s.cached for s in built)
    return root / "cold", root / "cache"


def _stack_name(short: str) -> str:
    if short == "dashboards":
        return "llmdeploy-prod-dashboards"
    if short in ("pool", "pool2", "neuron"):
        return f"llmdeploy-prod-endpoint-{short}"
    return f"llmdeploy-prod-model-{short}"


def _output(folder: Path, stack: str) -> tuple[Any, ...] | None:
    """All a stack writes: its template, its metadata (construct traces aside), its artifact
    in manifest.json and its subtree of tree.json."""
    template = folder / f"{stack}.template.json"
    if not template.exists():
        return None
    manifest = json.loads((folder / "manifest.json").read_text())
    tree = json.loads((folder / "tree.json").read_text())
    metadata = comparable_metadata((folder / f"{stack}.metadata.json").read_bytes())
    return (
        template.read_bytes(),
        metadata,
        manifest["artifacts"][stack],
        tree["tree"]["children"][stack],
    )


@pytest.mark.parametrize(("edits", "touched"), CASES)
def test_a_changed_spec_synthesizes_warm_as_cold(before, tmp_path, edits, touched):
    cold_before, cache = before
    docs = _documents()
    for change in edits:
        change(docs)
    env = _check(tmp_path / "specs", docs)
    warm = synthesize(env, tmp_path / "warm", cache=_cache(cache))
    synthesize(env, tmp_path / "cold")
    assert_same_assembly(tmp_path / "cold", tmp_path / "warm")
    # The change reaches exactly these stacks: the case tests what it says it does.
    stacks = {s.name for s in warm}
    changed = {s for s in stacks if _output(tmp_path / "cold", s) != _output(cold_before, s)}
    assert changed == (stacks if touched == "*" else {_stack_name(t) for t in touched})
    if docs[ENV] == _documents()[ENV]:
        # The warm run used the cache: the endpoint no model change reaches came from it.
        assert next(s for s in warm if s.name == _stack_name("neuron")).cached


def test_an_adapter_alone_from_the_cache_synthesizes_as_cold(before, tmp_path):
    """`synth a-lora` takes its endpoint and its base along (plan_stacks): all three from the
    cache the whole portfolio filled, as a cold synth of the three writes them."""
    _, cache = before
    env = _check(tmp_path / "specs", _documents())
    warm = synthesize(env, tmp_path / "warm", ["a-lora"], cache=_cache(cache))
    assert [(s.name, s.cached) for s in warm] == [
        (_stack_name("pool"), True),
        (_stack_name("m1"), True),
        (_stack_name("a-lora"), True),
    ]
    synthesize(env, tmp_path / "cold", ["a-lora"])
    assert_same_assembly(tmp_path / "cold", tmp_path / "warm")
