"""The example portfolio synthesized: cfn-lint, cdk-nag, stack layout, stable names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from llmdeploy.cli.main import app
from llmdeploy.plan import check
from llmdeploy.synth.assembly import synthesize

ENVS = ("dev", "prod")


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory) -> dict[str, tuple[Path, list]]:
    """Both environments of the examples, synthesized once with cdk-nag's AwsSolutions pack
    (an unacknowledged finding fails synthesis)."""
    out = {}
    for env in ENVS:
        (resolved,) = check([REPO / "models", REPO / "infra"], [env]).environments
        outdir = tmp_path_factory.mktemp(f"cdk-{env}")
        out[env] = (outdir, synthesize(resolved, outdir, nag=True))
    return out


def _templates(assemblies, env: str) -> dict[str, dict]:
    _outdir, summaries = assemblies[env]
    return {s.name: json.loads(s.template.read_text()) for s in summaries}


def _resources(template: dict, type_: str) -> list[dict]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == type_]


def test_one_stack_per_endpoint_and_per_model(assemblies):
    names = set(_templates(assemblies, "prod"))
    assert names == {
        "llm-prod-endpoint-codegen-g6",
        "llm-prod-endpoint-reasoning-p5en",
        "llm-prod-endpoint-neuron-inf2",
        "llm-prod-dashboards",  # the environment's dashboards (tests/synth/test_dashboards.py)
        *(
            f"llm-prod-model-{m}"
            for m in (
                "agent-planner",
                "block-generation",
                "flow-generation",
                "inline-completion",
                "reasoning-70b",
                "sql-generation",
                "summarizer-inf2",
                "text-evaluation",
            )
        ),
    }
    assert any(n.startswith("llmdeploy-dev-") for n in _templates(assemblies, "dev"))


@pytest.mark.parametrize("env", ENVS)
def test_templates_pass_cfn_lint(assemblies, env):
    _outdir, summaries = assemblies[env]
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--format",
            "json",
            *[str(s.template) for s in summaries],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]
    assert result.returncode in (0, 4, 8), result.stderr  # 4/8: warnings/informational only


@pytest.mark.parametrize("env", ENVS)
def test_cdk_nag_leaves_no_unacknowledged_finding(assemblies, env):
    # The fixture synthesized with the AwsSolutions pack: a finding would have failed it.
    # CDK lists only failing plugins in the report.
    outdir, _ = assemblies[env]
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_each_acknowledgment_is_needed(monkeypatch, tmp_path):
    """Without the constructs' acknowledgments the same synthesis fails: cdk-nag does run,
    and what it would flag is exactly what the acknowledgments explain."""
    from llmdeploy.constructs import _nag
    from llmdeploy.errors import LlmdeployError

    monkeypatch.setattr(_nag, "acknowledge", lambda *args: None)
    (resolved,) = check([REPO / "models", REPO / "infra"], ["prod"]).environments
    with pytest.raises(LlmdeployError, match="cdk-nag found unacknowledged findings"):
        synthesize(resolved, tmp_path, ["summarizer-inf2"], nag=True)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-IAM5[Resource::*]" in rules
    assert "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]" in rules
    assert any("s3:::acme-models/summarizer-inf2/2/*" in r for r in rules)


def test_cdk_nag_does_fail_on_an_unacknowledged_wildcard(tmp_path):
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from cdk_nag import AwsSolutionsChecks

    nag_app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(nag_app, "Bad")
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    cdk.Validations.of(nag_app).add_plugins(AwsSolutionsChecks(nag_app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        nag_app.synth()


def test_done_when_shapes(assemblies):
    t = _templates(assemblies, "prod")
    # P5en, FP8, tensor parallel 2 on 2 accelerators.
    planner = t["llm-prod-model-agent-planner"]
    (ic,) = _resources(planner, "AWS::SageMaker::InferenceComponent")
    assert ic["EndpointName"] == "llm-prod-reasoning-p5en"
    assert (
        ic["Specification"]["ComputeResourceRequirements"]["NumberOfAcceleratorDevicesRequired"]
        == 2
    )
    (model,) = _resources(planner, "AWS::SageMaker::Model")
    env = model["PrimaryContainer"]["Environment"]
    assert env["OPTION_TENSOR_PARALLEL_DEGREE"] == "2" and env["OPTION_QUANTIZE"] == "fp8"
    # Inferentia2: the endpoint config carries the key and an EBS volume.
    (config,) = _resources(t["llm-prod-endpoint-neuron-inf2"], "AWS::SageMaker::EndpointConfig")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.inf2.48xlarge"
    assert "KmsKeyId" in config and config["ProductionVariants"][0]["VolumeSizeInGB"] == 256
    (neuron,) = _resources(t["llm-prod-model-summarizer-inf2"], "AWS::SageMaker::Model")
    assert "neuronx" in neuron["PrimaryContainer"]["Image"]
    # Startup timeouts never undercut LMI's own 1800 s model-loading timeout.
    startup = ic["Specification"]["StartupParameters"]
    assert min(startup.values()) >= 1800 and max(startup.values()) <= 3600
    # Scale to zero: min 0, the step policy and the alarm that wakes it.
    flow = t["llm-prod-model-flow-generation"]
    (target,) = _resources(flow, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["MinCapacity"] == 0
    assert {
        p["PolicyType"] for p in _resources(flow, "AWS::ApplicationAutoScaling::ScalingPolicy")
    } == {"TargetTrackingScaling", "StepScaling"}
    assert any(
        a.get("MetricName") == "NoCapacityInvocationFailures"
        for a in _resources(flow, "AWS::CloudWatch::Alarm")
    )
    # Warm models never get the wake-from-zero policy.
    warm = t["llm-prod-model-inline-completion"]
    (warm_target,) = _resources(warm, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert warm_target["MinCapacity"] == 2
    assert len(_resources(warm, "AWS::ApplicationAutoScaling::ScalingPolicy")) == 1
    # The dedicated endpoint: model, config with the model, endpoint, variant autoscaling.
    ded = t["llm-prod-model-reasoning-70b"]
    (ded_config,) = _resources(ded, "AWS::SageMaker::EndpointConfig")
    assert ded_config["ProductionVariants"][0]["InstanceType"] == "ml.p5en.48xlarge"
    assert "ModelName" in ded_config["ProductionVariants"][0]
    (ded_target,) = _resources(ded, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert ded_target["ResourceId"] == "endpoint/llm-prod-reasoning-70b/variant/AllTraffic"


def test_model_stacks_depend_on_their_endpoint_without_exports(assemblies):
    outdir, _ = assemblies["prod"]
    manifest = json.loads((outdir / "manifest.json").read_text())
    deps = manifest["artifacts"]["llm-prod-model-flow-generation"]["dependencies"]
    assert "llm-prod-endpoint-codegen-g6" in deps
    for name, template in _templates(assemblies, "prod").items():
        text = json.dumps(template)
        assert "Fn::ImportValue" not in text, name
        assert not any("Export" in o for o in template.get("Outputs", {}).values()), name


def test_templates_deploy_without_cdk_bootstrap(assemblies):
    outdir, _ = assemblies["prod"]
    manifest = json.loads((outdir / "manifest.json").read_text())
    kinds = {a["type"] for a in manifest["artifacts"].values()}
    assert "cdk:asset-manifest" not in kinds  # no file assets to upload
    for name, template in _templates(assemblies, "prod").items():
        assert "BootstrapVersion" not in template.get("Parameters", {}), name
        assert "CheckBootstrapVersion" not in template.get("Rules", {}), name


def test_model_stacks_are_tagged(assemblies):
    t = _templates(assemblies, "prod")["llm-prod-model-block-generation"]
    (ic,) = _resources(t, "AWS::SageMaker::InferenceComponent")
    tags = {tag["Key"]: tag["Value"] for tag in ic["Tags"]}
    assert tags == {
        "llmdeploy:model": "block-generation",
        "llmdeploy:version": "7",
        "llmdeploy:owner": "codegen-team",
        "llmdeploy:environment": "prod",
    }


def test_no_amazon_sagemaker_full_access_anywhere(assemblies):
    for env in ENVS:
        for name, template in _templates(assemblies, env).items():
            assert "AmazonSageMakerFullAccess" not in json.dumps(template), name


def _physical_names(template: dict) -> dict[str, object]:
    keys = (
        "EndpointName",
        "InferenceComponentName",
        "AlarmName",
        "RoleName",
        "LogGroupName",
        "ResourceId",
        "Roles",
    )
    out = {}
    for logical, res in template["Resources"].items():
        props = res.get("Properties", {})
        for key in keys:
            if key in props:
                out[f"{logical}.{key}"] = props[key]
    return out


def test_a_version_bump_changes_no_physical_name(tmp_path, assemblies):
    shutil.copytree(REPO / "models", tmp_path / "models")
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    spec = tmp_path / "models" / "flow-generation.yaml"
    spec.write_text(
        spec.read_text()
        .replace("version: 3", "version: 4")
        .replace("flow-generation/3/", "flow-generation/4/")
    )
    (resolved,) = check([tmp_path / "models", tmp_path / "infra"], ["prod"]).environments
    (endpoint, bumped) = synthesize(resolved, tmp_path / "out", ["flow-generation"])
    before = _templates(assemblies, "prod")
    after = json.loads(bumped.template.read_text())
    old = before["llm-prod-model-flow-generation"]
    assert set(after["Resources"]) == set(old["Resources"])  # same logical ids
    assert _physical_names(after) == _physical_names(old)
    assert json.loads(endpoint.template.read_text()) == before["llm-prod-endpoint-codegen-g6"]
    (ic,) = _resources(after, "AWS::SageMaker::InferenceComponent")
    assert {"Key": "llmdeploy:version", "Value": "4"} in ic["Tags"]


def test_synth_of_one_model_builds_only_it_and_its_endpoint(tmp_path):
    (resolved,) = check([REPO / "models", REPO / "infra"], ["prod"]).environments
    summaries = synthesize(resolved, tmp_path, ["summarizer-inf2"])
    assert [s.name for s in summaries] == [
        "llm-prod-endpoint-neuron-inf2",
        "llm-prod-model-summarizer-inf2",
    ]


runner = CliRunner()


def test_cli_synth_prints_stacks_and_resource_counts(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(
        app, ["synth", "--env", "dev", "--out-dir", str(tmp_path), "text-evaluation"]
    )
    assert result.exit_code == 0, result.output
    assert "llmdeploy-dev-model-text-evaluation" in result.stdout
    assert (tmp_path / "llmdeploy-dev-model-text-evaluation.template.json").exists()


def test_cli_synth_stops_on_spec_errors_before_cdk(specs, tmp_path):
    from conftest import base_model, mutate

    specs.standard(None, mutate(base_model(), spec__lmi__tensorParallelDegree=3))
    out = tmp_path / "never"
    result = runner.invoke(
        app, ["synth", "--env", "prod", "--out-dir", str(out), "--specs", str(specs.root)]
    )
    assert result.exit_code == 1
    assert "tp-matches-accelerators" in result.stderr
    assert not out.exists()


def test_cli_synth_unknown_model(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["synth", "--env", "dev", "--out-dir", str(tmp_path), "nope"])
    assert result.exit_code == 1 and "no model 'nope' in environment 'dev'" in result.stderr


CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK_CLI.exists(), reason="the CDK CLI is installed by `npm ci` (README)")
def test_npx_cdk_synth_writes_the_same_templates(tmp_path, assemblies):
    result = subprocess.run(
        [str(CDK_CLI), "synth", "-c", "env=dev", "-o", str(tmp_path), "--quiet"],
        cwd=REPO,
        # cdk.json runs `llmdeploy cdk-app`: the virtualenv's scripts on PATH, as activated.
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ours = _templates(assemblies, "dev")
    theirs = {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in tmp_path.glob("*.template.json")
    }
    assert theirs == ours


def test_weights_load_from_opt_ml_model_and_both_timeouts_agree(assemblies):
    t = _templates(assemblies, "prod")
    # agent-planner is 70B: 1800 s + 40 × 20 s for SageMaker's download and health check,
    # and LMI's model-loading timeout is the same, so neither gives up before the other.
    planner = t["llm-prod-model-agent-planner"]
    (ic,) = _resources(planner, "AWS::SageMaker::InferenceComponent")
    assert ic["Specification"]["StartupParameters"] == {
        "ModelDataDownloadTimeoutInSeconds": 2600,
        "ContainerStartupHealthCheckTimeoutInSeconds": 2600,
    }
    (model,) = _resources(planner, "AWS::SageMaker::Model")
    env = model["PrimaryContainer"]["Environment"]
    assert env["OPTION_MODEL_LOADING_TIMEOUT"] == "2600"
    assert env["OPTION_MODEL_ID"] == "/opt/ml/model"  # where ModelDataSource puts the weights
    assert model["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]["CompressionType"] == "None"
    # The dedicated 70B endpoint: the same figures on its production variant.
    ded = t["llm-prod-model-reasoning-70b"]
    (config,) = _resources(ded, "AWS::SageMaker::EndpointConfig")
    variant = config["ProductionVariants"][0]
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 2600
    (ded_model,) = _resources(ded, "AWS::SageMaker::Model")
    assert ded_model["PrimaryContainer"]["Environment"]["OPTION_MODEL_LOADING_TIMEOUT"] == "2600"


def test_rolling_updates_stay_within_sagemakers_batch_bounds(assemblies):
    t = _templates(assemblies, "prod")
    for name, percent in (
        ("sql-generation", 50),  # one copy at most: half of it, which is one copy
        ("inline-completion", 16),  # 1 of copies.max 6
        ("agent-planner", 25),  # 1 of copies.max 4
    ):
        (ic,) = _resources(t[f"llm-prod-model-{name}"], "AWS::SageMaker::InferenceComponent")
        rolling = ic["DeploymentConfig"]["RollingUpdatePolicy"]
        size = {"Type": "CAPACITY_PERCENT", "Value": percent}
        assert rolling["MaximumBatchSize"] == size, name
        assert rolling["RollbackMaximumBatchSize"] == size, name
    # Endpoints that can run on one instance roll out all at once: no canary exists there.
    for name in ("codegen-g6", "reasoning-p5en", "neuron-inf2"):
        (endpoint,) = _resources(t[f"llm-prod-endpoint-{name}"], "AWS::SageMaker::Endpoint")
        routing = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"][
            "TrafficRoutingConfiguration"
        ]
        assert routing["Type"] == "ALL_AT_ONCE", name
