"""The environment's dashboards (docs/dashboards.md): one stack of them, named from the
specs, graphing every model of every endpoint, deterministic, within CloudFormation's and
CloudWatch's limits, and listed by `status` without CDK."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import aws_cdk as cdk
import pytest
import yaml

from conftest import REPO, base_environment, base_model, mutate
from llmdeploy.constructs.dashboards import (
    MAX_COMPONENTS,
    MAX_METRICS_PER_DASHBOARD,
    MAX_METRICS_PER_GRAPH,
    LlmDashboard,
    endpoint_body,
    fit_components,
)
from llmdeploy.deploy.status import dashboards
from llmdeploy.deploy.targets import build_targets
from llmdeploy.plan import check
from llmdeploy.plan.names import Names
from llmdeploy.synth.assembly import synthesize

DASHBOARDS = "llm-prod-dashboards"
MAX_TEMPLATE_BODY = 51_200


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    (env,) = check([REPO / "models", REPO / "infra"], ["prod"]).environments
    out = tmp_path_factory.mktemp("prod")
    summaries = {s.name: s for s in synthesize(env, out)}
    return env, summaries


def _dashboards(template: dict) -> dict[str, dict]:
    """Dashboard name → its body, parsed."""
    return {
        r["Properties"]["DashboardName"]: json.loads(r["Properties"]["DashboardBody"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Dashboard"
    }


def _metrics(body: dict) -> list[list]:
    """Every metric line of a body, with CloudWatch's "." (same as the line above) expanded."""
    out = []
    for w in body["widgets"]:
        previous: list = []
        for line in w["properties"].get("metrics", []):
            full = [previous[i] if v == "." else v for i, v in enumerate(line)]
            out.append(full)
            previous = full
    return out


def test_one_stack_holds_an_overview_and_a_dashboard_per_endpoint(prod):
    env, summaries = prod
    template = json.loads(summaries[DASHBOARDS].template.read_text())
    assert set(_dashboards(template)) == {
        "llm-prod-overview-us-east-1",
        "llm-prod-endpoint-codegen-g6-us-east-1",
        "llm-prod-endpoint-reasoning-p5en-us-east-1",
        "llm-prod-endpoint-neuron-inf2-us-east-1",
        "llm-prod-model-reasoning-70b-us-east-1",  # the dedicated model's endpoint
    }
    # Only dashboards: the stack holds nothing a deployment could break.
    assert {r["Type"] for r in template["Resources"].values()} == {"AWS::CloudWatch::Dashboard"}
    # status names exactly these, with console links, from the specs alone.
    listed = dashboards(env)
    assert {d.name for d in listed} == set(_dashboards(template))
    overview = listed[0]
    assert overview.shows == "overview" and overview.url == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#dashboards/dashboard/llm-prod-overview-us-east-1"
    )


def test_an_endpoint_dashboard_graphs_every_model_on_it(prod):
    env, summaries = prod
    bodies = _dashboards(json.loads(summaries[DASHBOARDS].template.read_text()))
    body = bodies["llm-prod-endpoint-codegen-g6-us-east-1"]
    models = {f"llm-prod-{m.name}" for m in env.models_on("codegen-g6")}
    assert len(models) == 5
    per_metric: dict[tuple[str, str], set[str]] = {}
    for line in _metrics(body):
        if line[2] == "InferenceComponentName":
            per_metric.setdefault((line[0], line[1]), set()).add(line[3])
    assert set(per_metric) == {
        ("AWS/SageMaker", "Invocations"),
        ("AWS/SageMaker", "ModelLatency"),
        ("AWS/SageMaker", "Invocation4XXErrors"),
        ("AWS/SageMaker", "Invocation5XXErrors"),
        ("AWS/SageMaker", "InvocationModelErrors"),
        ("AWS/SageMaker", "NoCapacityInvocationFailures"),
        ("AWS/SageMaker", "ConcurrentRequestsPerCopy"),
        ("/aws/sagemaker/InferenceComponents", "CPUUtilizationNormalized"),
    }
    assert all(names == models for names in per_metric.values())
    stats = {
        w["properties"]["title"]: w["properties"]["stat"]
        for w in body["widgets"]
        if w["type"] == "metric"
    }
    assert stats["Model latency p50"] == "p50" and stats["Model latency p95"] == "p95"
    instances = {
        (line[0], line[1])
        for line in _metrics(body)
        if line[2:] == ["EndpointName", "llm-prod-codegen-g6", "VariantName", "AllTraffic"]
    }
    assert ("/aws/sagemaker/Endpoints", "GPUUtilizationNormalized") in instances
    assert ("/aws/sagemaker/Endpoints", "MemoryUtilization") in instances
    regions = {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"}
    assert regions == {"us-east-1"}


def test_the_dedicated_and_overview_dashboards_use_endpoint_dimensions(prod):
    _, summaries = prod
    bodies = _dashboards(json.loads(summaries[DASHBOARDS].template.read_text()))
    dedicated = _metrics(bodies["llm-prod-model-reasoning-70b-us-east-1"])
    assert {line[3] for line in dedicated} == {"llm-prod-reasoning-70b"}
    assert ["AWS/SageMaker", "ModelLatency"] in [line[:2] for line in dedicated]
    overview = _metrics(bodies["llm-prod-overview-us-east-1"])
    assert {line[3] for line in overview} == {
        "llm-prod-codegen-g6",
        "llm-prod-reasoning-p5en",
        "llm-prod-neuron-inf2",
        "llm-prod-reasoning-70b",
    }


def test_widgets_are_laid_out_on_the_grid_without_overlap(prod):
    _, summaries = prod
    for body in _dashboards(json.loads(summaries[DASHBOARDS].template.read_text())).values():
        cells = set()
        for w in body["widgets"]:
            assert w["x"] + w["width"] <= 24
            for x in range(w["x"], w["x"] + w["width"]):
                for y in range(w["y"], w["y"] + w["height"]):
                    assert (x, y) not in cells
                    cells.add((x, y))


def test_a_model_added_changes_the_dashboards_and_never_its_endpoint_stack(prod, tmp_path):
    _, before = prod
    shutil.copytree(REPO / "models", tmp_path / "models")
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    doc = yaml.safe_load((tmp_path / "models" / "sql-generation.yaml").read_text())
    doc["metadata"]["name"] = "sql-review"
    doc["spec"]["source"]["s3Uri"] = doc["spec"]["source"]["s3Uri"].replace(
        "sql-generation", "sql-review"
    )
    (tmp_path / "models" / "sql-review.yaml").write_text(yaml.safe_dump(doc))
    (env,) = check([tmp_path / "models", tmp_path / "infra"], ["prod"]).environments
    after = {s.name: s for s in synthesize(env, tmp_path / "out")}
    changed = {
        name
        for name in before
        if before[name].template.read_text() != after[name].template.read_text()
    }
    assert changed == {DASHBOARDS}  # and the new model's own stack
    assert set(after) - set(before) == {"llm-prod-model-sql-review"}
    body = _dashboards(json.loads(after[DASHBOARDS].template.read_text()))[
        "llm-prod-endpoint-" + doc["spec"]["endpoint"] + "-us-east-1"
    ]
    assert "llm-prod-sql-review" in {line[3] for line in _metrics(body)}


def test_the_template_is_the_same_on_every_synthesis(prod, tmp_path):
    env, summaries = prod
    again = {s.name: s for s in synthesize(env, tmp_path)}
    assert again[DASHBOARDS].template.read_text() == summaries[DASHBOARDS].template.read_text()


def test_synthesizing_some_models_leaves_the_dashboards_out(tmp_path):
    (env,) = check([REPO / "models", REPO / "infra"], ["prod"]).environments
    targets = build_targets(env, tmp_path, ["summarizer-inf2"])
    assert [t.kind for t in targets] == ["endpoint", "model"]


def test_the_whole_environment_deploys_the_dashboards_as_a_target(prod, tmp_path):
    env, _ = prod
    (target,) = [t for t in build_targets(env, tmp_path) if t.kind == "dashboards"]
    assert target.stack == DASHBOARDS and target.depends_on == ()
    assert target.spec["models"]["neuron-inf2"] == ["summarizer-inf2"]
    assert target.spec["dedicated"] == ["reasoning-70b"]


def test_hundreds_of_models_fit_one_template_and_the_rest_are_named(specs, tmp_path):
    """An endpoint dashboard stays within CloudWatch's limits whatever the models, and within
    the template's budget once capped; the header says how many are graphed."""
    names = [f"llmdeploy-production-{i:04d}-a-model-with-a-long-name" for i in range(1000)]
    body = endpoint_body("llmdeploy-production-pool", "ap-southeast-1", names)
    metrics = _metrics(json.loads(body))
    assert len(metrics) <= MAX_METRICS_PER_DASHBOARD
    widgets = json.loads(body)["widgets"]
    assert all(len(w["properties"].get("metrics", [])) <= MAX_METRICS_PER_GRAPH for w in widgets)
    assert f"the graphs show {MAX_COMPONENTS} (by name)" in widgets[0]["properties"]["markdown"]

    # With names of a usual length, about a hundred models fit the budget of one template.
    names = [f"llmdeploy-prod-model-{i:04d}" for i in range(1000)]
    cap = fit_components([("llmdeploy-production-pool", names)], "ap-southeast-1", 45_000)
    assert 80 < cap < MAX_COMPONENTS
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    LlmDashboard(
        stack,
        "D",
        dashboard_name="llmdeploy-production-pool-ap-southeast-1",
        body=endpoint_body(
            "llmdeploy-production-pool", "ap-southeast-1", names, max_components=cap
        ),
    )
    template = app.synth().get_stack_by_name("S").template
    assert len(json.dumps(template)) < MAX_TEMPLATE_BODY


def test_an_environment_of_many_models_keeps_its_dashboards_within_the_limit(specs, tmp_path):
    env = mutate(
        base_environment(), spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 400}
    )
    specs.write("infra/prod.yaml", env)
    model = mutate(base_model("m0000"), spec__copies={"min": 0, "initial": 1, "max": 1})
    for i in range(400):
        text = yaml.safe_dump(model).replace("m0000", f"model-number-{i:04d}")
        (specs.root / "models").mkdir(exist_ok=True)
        (specs.root / f"models/m{i:04d}.yaml").write_text(text)
    (resolved,) = specs.check().environments
    # Only the dashboards stack: synthesize it alone (400 model stacks would take minutes).
    from llmdeploy.synth import stacks

    app = cdk.App(outdir=str(tmp_path))
    stack = stacks._dashboards_stack(app, resolved, Names(resolved.doc.spec.stack_prefix))
    template = app.synth().get_stack_by_name(stack.stack_name).template
    assert len(json.dumps(template, indent=1)) < MAX_TEMPLATE_BODY
    (body,) = [b for n, b in _dashboards(template).items() if "-endpoint-pool-" in n]
    graphed = {line[3] for line in _metrics(body) if line[2] == "InferenceComponentName"}
    assert 50 < len(graphed) < 400
    assert (
        f"400 model(s) on it; the graphs show {len(graphed)}"
        in (body["widgets"][0]["properties"]["markdown"])
    )


def test_names_are_global_so_the_region_is_part_of_them():
    names = Names("llmdeploy-prod")
    assert names.dashboard("pool", "us-east-1") != names.dashboard("pool", "eu-west-1")
    assert names.overview_dashboard("us-east-1") == "llmdeploy-prod-overview-us-east-1"
    assert names.dedicated_dashboard("big", "us-east-1") == "llmdeploy-prod-model-big-us-east-1"


def test_a_dashboard_name_outside_cloudwatchs_alphabet_is_refused():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="A-Z, a-z, 0-9, - and _"):
        LlmDashboard(stack, "D", dashboard_name="no spaces", body="{}")


def test_status_lists_dashboards_without_importing_cdk():
    code = (
        "import sys; from llmdeploy.deploy import status; "
        "print([m for m in sys.modules if m.startswith(('aws_cdk', 'jsii', 'constructs'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
