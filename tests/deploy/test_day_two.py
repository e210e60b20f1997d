"""Day two on the local server (moto with inference components, tests/moto_support.py):
live capacity kept across deploys, orphans listed and retired, stacks of another
environment never touched, one deploy per environment at a time."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
from typer.testing import CliRunner

from llmdeploy.cli.main import app
from llmdeploy.deploy.history import LocalHistory
from llmdeploy.deploy.lock import LockInfo

runner = CliRunner()
REGION = "us-west-2"  # infra/dev.yaml
FLOW = "llmdeploy-dev-model-flow-generation"


def _run(*args: str):
    return runner.invoke(app, [*args, "--specs", "models", "--specs", "infra"])


def _json(result) -> dict:
    assert result.stdout, result.output
    return json.loads(result.stdout)


def _sm():
    return boto3.client("sagemaker", region_name=REGION)


def _copies(component: str) -> int:
    return _sm().describe_inference_component(InferenceComponentName=component)["RuntimeConfig"][
        "DesiredCopyCount"
    ]


def _bump(portfolio, model: str, old: str, new: str) -> None:
    path = portfolio / "models" / f"{model}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _history(env: str) -> list[dict]:
    result = _run("history", "--env", env, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_done_when_a_redeploy_keeps_the_copies_autoscaling_set(aws, portfolio):
    # Deploy dev with verification on: the local server has inference components.
    result = _run("deploy", "--env", "dev", "-o", "json")
    assert result.exit_code == 0, result.output
    out = _json(result)
    assert out["problems"] == [] and {s["outcome"] for s in out["stacks"]} == {"deployed"}
    component = "llmdeploy-dev-inline-completion"
    assert _copies(component) == 1  # the spec's initial

    # Autoscaling (here: by hand) takes it to 3 copies.
    _sm().update_inference_component_runtime_config(
        InferenceComponentName=component, DesiredRuntimeConfig={"CopyCount": 3}
    )
    # A version bump during peak.
    _bump(portfolio, "inline-completion", "version: 12", "version: 13")
    diff = _run("diff", "--env", "dev", "inline-completion")
    assert diff.exit_code == 0, diff.output
    assert "copies: 3 running, kept; spec initial 1" in diff.stdout

    result = _run("deploy", "--env", "dev", "-o", "json", "inline-completion")
    assert result.exit_code == 0, result.output
    stacks = {s["stack"]: s["outcome"] for s in _json(result)["stacks"]}
    assert stacks["llmdeploy-dev-model-inline-completion"] == "deployed"
    assert _copies(component) == 3  # still 3, not reset to initial
    (last,) = [r for r in _history("dev") if r["stack"].endswith("inline-completion")][-1:]
    assert last["parameters"] == {"CopyCount": "3"} and last["version"] == 13


def test_running_copies_beyond_the_new_range_are_clamped_into_it(aws, portfolio):
    result = _run("deploy", "--env", "dev", "flow-generation")
    assert result.exit_code == 0, result.output
    component = "llmdeploy-dev-flow-generation"
    _sm().update_inference_component_runtime_config(
        InferenceComponentName=component, DesiredRuntimeConfig={"CopyCount": 2}
    )
    # The new version allows one copy at most: 2 running become 1, and diff says so.
    _bump(portfolio, "flow-generation", "version: 3", "version: 4")
    _bump(portfolio, "flow-generation", "max: 2}", "max: 1}")
    diff = _run("diff", "--env", "dev", "flow-generation")
    assert "copies: 2 running, set to 1 (the spec's max); spec initial 1" in diff.stdout
    result = _run("deploy", "--env", "dev", "flow-generation")
    assert result.exit_code == 0, result.output
    assert _copies(component) == 1


def test_a_removed_model_is_named_by_diff_and_status_and_retire_takes_it_down(aws, portfolio):
    assert _run("deploy", "--env", "dev").exit_code == 0
    (portfolio / "models" / "text-evaluation.yaml").unlink()
    stack = "llmdeploy-dev-model-text-evaluation"

    diff = _run("diff", "--env", "dev", "-o", "json")
    assert diff.exit_code == 0, diff.output
    orphans = _json(diff)["orphans"]
    assert [(o["stack"], o["kind"], o["name"]) for o in orphans] == [
        (stack, "model", "text-evaluation")
    ]
    text = _run("diff", "--env", "dev")
    assert f"- {stack}: no spec produces it" in text.stdout
    assert "llmdeploy retire text-evaluation" in text.stdout
    status = _run("status", "--env", "dev")
    assert f"orphan: {stack}" in status.stdout

    # Without a terminal and without --yes, nothing is deleted.
    refused = _run("retire", "text-evaluation", "--env", "dev")
    assert refused.exit_code == 1 and "pass --yes" in refused.output
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"].endswith("COMPLETE")

    result = _run("retire", "text-evaluation", "--env", "dev", "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    assert _json(result)["retired"] == [{"stack": stack, "outcome": "retired", "reason": None}]
    names = [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert stack not in names
    components = _sm().list_inference_components()["InferenceComponents"]
    assert "llmdeploy-dev-text-evaluation" not in {c["InferenceComponentName"] for c in components}
    # The shared endpoint stays: the spec keeps it, other models run on it.
    assert "llmdeploy-dev-endpoint-codegen-g6" in names

    rows = [r for r in _history("dev") if r["stack"] == stack]
    assert [(r["kind"], r["outcome"]) for r in rows][-1] == ("retire", "succeeded")
    assert rows[-1]["version"] == rows[0]["version"]  # the version that went down
    assert "retire" in _run("history", "--env", "dev").stdout
    assert _json(_run("diff", "--env", "dev", "-o", "json"))["orphans"] == []


def test_diff_lists_the_region_once_for_its_stacks_and_its_orphans(aws, portfolio, monkeypatch):
    from llmdeploy.deploy import actions, engine

    assert _run("deploy", "--env", "dev").exit_code == 0
    (portfolio / "models" / "text-evaluation.yaml").unlink()
    monkeypatch.setattr(engine, "BULK_DESCRIBE", 2)  # the examples have 12 stacks
    listed = []
    real = actions.all_stacks
    monkeypatch.setattr(actions, "all_stacks", lambda cfn: listed.append(1) or real(cfn))
    diff = _run("diff", "--env", "dev", "-o", "json")
    assert diff.exit_code == 0, diff.output
    orphans = [o["stack"] for o in _json(diff)["orphans"]]
    assert orphans == ["llmdeploy-dev-model-text-evaluation"]
    assert len(listed) == 1  # one DescribeStacks listing served both


def test_retire_refuses_a_model_that_served_requests_in_the_last_hour(aws, portfolio):
    assert _run("deploy", "--env", "dev", "sql-generation").exit_code == 0
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "InferenceComponentName", "Value": "llmdeploy-dev-sql-generation"}
                ],
                "Timestamp": datetime.now(UTC),
                "Value": 12,
            }
        ],
    )
    refused = _run("retire", "sql-generation", "--env", "dev", "--yes")
    assert refused.exit_code == 1
    assert "served 12 invocation(s) in the last hour" in refused.output
    assert "--force" in refused.output
    rows = [r for r in _history("dev") if r["kind"] == "retire"]
    assert rows == []  # nothing was done

    forced = _run("retire", "sql-generation", "--env", "dev", "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    # Its spec is still there: retire warned that the next deploy brings it back.
    diff = _json(_run("diff", "--env", "dev", "-o", "json", "sql-generation"))
    assert {d["stack"]: d["status"] for d in diff["stacks"]}[
        "llmdeploy-dev-model-sql-generation"
    ] == "new"


def test_deploy_prune_retires_orphaned_models_then_their_empty_endpoint(aws, portfolio):
    assert _run("deploy", "--env", "dev").exit_code == 0
    # The Inferentia pool and its only model leave the specs.
    (portfolio / "models" / "summarizer-inf2.yaml").unlink()
    infra = portfolio / "infra" / "dev.yaml"
    text = infra.read_text()
    start = text.index("    - name: neuron-inf2")
    infra.write_text(text[:start])
    orphans = _json(_run("diff", "--env", "dev", "-o", "json"))["orphans"]
    assert {o["stack"] for o in orphans} == {
        "llmdeploy-dev-model-summarizer-inf2",
        "llmdeploy-dev-endpoint-neuron-inf2",
    }
    result = _run("deploy", "--env", "dev", "--prune", "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    retired = _json(result)["retired"]
    # The model first, then the endpoint it left empty.
    assert [(r["stack"], r["outcome"]) for r in retired] == [
        ("llmdeploy-dev-model-summarizer-inf2", "retired"),
        ("llmdeploy-dev-endpoint-neuron-inf2", "retired"),
    ]
    sm = _sm()
    assert "llmdeploy-dev-neuron-inf2" not in {
        e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
    }


def test_an_orphaned_endpoint_with_models_on_it_is_never_retired(aws, portfolio):
    assert _run("deploy", "--env", "dev", "summarizer-inf2").exit_code == 0
    result = _run("retire", "neuron-inf2", "--endpoint", "--env", "dev", "--yes", "--force")
    assert result.exit_code == 1
    assert "inference component(s) still run on it" in result.output
    assert "llmdeploy-dev-summarizer-inf2" in result.output


def test_a_stack_of_another_environment_is_never_touched(aws, portfolio):
    # Someone else's stack holds a name this environment would use.
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack = "llmdeploy-dev-model-text-evaluation"
    cfn.create_stack(
        StackName=stack,
        TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}),
        Tags=[{"Key": "llmdeploy:environment", "Value": "staging"}],
    )
    result = _run("deploy", "--env", "dev", "-o", "json", "text-evaluation")
    assert result.exit_code == 1
    outcomes = {s["stack"]: s for s in _json(result)["stacks"]}
    assert outcomes[stack]["outcome"] == "failed"
    assert "belongs to environment 'staging'" in outcomes[stack]["reason"]
    assert cfn.get_template(StackName=stack)["TemplateBody"]["Resources"].keys() == {"T"}

    retire = _run("retire", "text-evaluation", "--env", "dev", "--yes", "--force")
    assert retire.exit_code == 1 and "belongs to environment 'staging'" in retire.output
    # Not listed as this environment's orphan either.
    (portfolio / "models" / "text-evaluation.yaml").unlink()
    assert _json(_run("diff", "--env", "dev", "-o", "json"))["orphans"] == []


def test_stacks_carry_their_environment_tag(aws, portfolio):
    assert _run("deploy", "--env", "dev", "text-evaluation").exit_code == 0
    cfn = boto3.client("cloudformation", region_name=REGION)
    (described,) = cfn.describe_stacks(StackName="llmdeploy-dev-model-text-evaluation")["Stacks"]
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert tags["llmdeploy:environment"] == "dev"
    assert tags["llmdeploy:model"] == "text-evaluation"


def test_a_second_deploy_of_the_environment_stops_with_who_holds_the_lock(aws, portfolio):
    history = LocalHistory(portfolio / ".llmdeploy" / "history")
    assert history.try_lock(LockInfo.new("dev", "deploy", "arn:aws:iam::1:user/alice")) is None
    for command in (
        ("deploy", "--env", "dev"),
        ("rollback", "flow-generation", "--env", "dev"),
        ("retire", "flow-generation", "--env", "dev", "--yes"),
    ):
        result = _run(*command)
        assert result.exit_code == 1, command
        assert "environment 'dev' is locked: deploy by arn:aws:iam::1:user/alice" in result.output
    # Nothing was deployed while locked.
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks()["Stacks"] == []
    # The other environment is not locked.
    assert _run("diff", "--env", "dev").exit_code == 0  # diff never takes the lock

    refused = _run("unlock", "--env", "dev")
    assert refused.exit_code == 1 and "pass --yes to break it" in refused.output
    broken = _run("unlock", "--env", "dev", "--yes")
    assert broken.exit_code == 0 and "lock broken" in broken.output
    assert history.read_lock("dev") is None
    assert _run("deploy", "--env", "dev", "text-evaluation").exit_code == 0
    assert history.read_lock("dev") is None  # released after the deploy


def test_a_dedicated_endpoint_keeps_the_instances_autoscaling_added(aws, portfolio):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="acme-llmdeploy-history")
    result = _run("deploy", "--env", "prod", "reasoning-70b")
    assert result.exit_code == 0, result.output
    sm = boto3.client("sagemaker", region_name="us-east-1")
    endpoint = "llm-prod-reasoning-70b"
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 3}],
    )
    _bump(portfolio, "reasoning-70b", "maxModelLen: 32768", "maxModelLen: 16384")
    text = (portfolio / "models" / "reasoning-70b.yaml").read_text()
    version = int(text.split("version: ", 1)[1].split()[0])
    _bump(portfolio, "reasoning-70b", f"version: {version}", f"version: {version + 1}")
    diff = _run("diff", "--env", "prod", "reasoning-70b")
    assert "instances: 3 running, kept; spec initial 1" in diff.stdout, diff.output
    result = _run("deploy", "--env", "prod", "--yes", "reasoning-70b")
    assert result.exit_code == 0, result.output
    (variant,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    assert variant["DesiredInstanceCount"] == 3  # not the spec's initial 1


def test_prune_reports_each_orphan_even_when_one_cannot_go(aws, portfolio, monkeypatch):
    from llmdeploy.deploy import actions
    from llmdeploy.deploy.retire import Retirer

    assert _run("deploy", "--env", "dev").exit_code == 0
    (portfolio / "models" / "summarizer-inf2.yaml").unlink()
    (portfolio / "models" / "text-evaluation.yaml").unlink()
    survey = Retirer.survey

    def busy_for_one(self, stack, *args, **kw):
        if stack.endswith("text-evaluation"):
            raise actions.StackBusy(f"{stack} is being changed by another operation")
        return survey(self, stack, *args, **kw)

    monkeypatch.setattr(Retirer, "survey", busy_for_one)
    result = _run("deploy", "--env", "dev", "--prune", "--yes", "-o", "json")
    assert result.exit_code == 1  # not everything went
    retired = {r["stack"]: r for r in _json(result)["retired"]}
    assert retired["llmdeploy-dev-model-text-evaluation"]["outcome"] == "refused"
    assert "being changed" in retired["llmdeploy-dev-model-text-evaluation"]["reason"]
    assert retired["llmdeploy-dev-model-summarizer-inf2"]["outcome"] == "retired"


def test_prune_needs_every_spec(aws, portfolio):
    for args in (
        ("deploy", "--env", "dev", "--prune", "--yes", "sql-generation"),
        (
            "deploy",
            "--env",
            "dev",
            "--prune",
            "--yes",
            "--specs",
            "models/sql-generation.yaml",
            "--specs",
            "infra/dev.yaml",
        ),
    ):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 1, result.output
        assert "--prune retires every stack no spec produces" in result.output
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks()["Stacks"] == []  # refused before anything ran


def test_a_name_with_control_characters_never_reaches_aws(aws, portfolio):
    result = _run("retire", "x\x1b[31m", "--env", "dev", "--yes")
    assert result.exit_code == 1
    assert "is not a name llmdeploy gives" in result.output and "Traceback" not in result.output


def test_a_garbled_aws_answer_is_an_error_not_a_traceback(aws, portfolio, monkeypatch):
    import http.server
    import threading

    class Garbled(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"<oops/>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv(
            "AWS_ENDPOINT_URL_CLOUDFORMATION", f"http://127.0.0.1:{server.server_port}"
        )
        for command in (("diff", "--env", "dev"), ("retire", "sql-generation", "--env", "dev")):
            result = _run(*command)
            assert result.exit_code == 1, (command, result.output)
            assert "Traceback" not in result.output and "error:" in result.output
    finally:
        server.shutdown()


def test_an_empty_endpoint_that_served_requests_goes_with_force(aws, portfolio):
    assert _run("deploy", "--env", "dev", "summarizer-inf2").exit_code == 0
    assert _run("retire", "summarizer-inf2", "--env", "dev", "--yes").exit_code == 0
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": "llmdeploy-dev-neuron-inf2"},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": datetime.now(UTC),
                "Value": 3,
            }
        ],
    )
    refused = _run("retire", "neuron-inf2", "--endpoint", "--env", "dev", "--yes")
    assert refused.exit_code == 1 and "served 3 invocation(s)" in refused.output
    forced = _run("retire", "neuron-inf2", "--endpoint", "--env", "dev", "--yes", "--force")
    assert forced.exit_code == 0, forced.output


def test_ctrl_c_while_a_retirement_waits_is_recorded_as_interrupted(aws, portfolio, monkeypatch):
    from llmdeploy.deploy import actions

    assert _run("deploy", "--env", "dev", "sql-generation").exit_code == 0

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(actions, "delete", interrupted)
    result = _run("retire", "sql-generation", "--env", "dev", "--yes")
    assert result.exit_code == 130, result.output
    assert "interrupted: stopped waiting" in result.output
    rows = [r for r in _history("dev") if r["kind"] == "retire"]
    assert [(r["stack"], r["outcome"]) for r in rows] == [
        ("llmdeploy-dev-model-sql-generation", "interrupted")
    ]
