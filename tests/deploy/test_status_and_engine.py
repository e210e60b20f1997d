"""The parts moto cannot play: SageMaker's inference-component API (botocore's Stubber checks
every call against the real API model), stacks busy with someone else's update, Ctrl-C,
and destructive changes without a terminal to confirm them."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from llmdeploy.deploy import actions, status
from llmdeploy.deploy.actions import Change, ChangeSet, Interrupted
from llmdeploy.deploy.engine import Engine
from llmdeploy.deploy.history import LocalHistory, Record, S3History
from llmdeploy.deploy.report import PlainReporter
from llmdeploy.deploy.targets import Target

TEMPLATE = {
    "Resources": {
        "IC": {
            "Type": "AWS::SageMaker::InferenceComponent",
            "Properties": {
                "Specification": {
                    "Container": {
                        "Image": "img:2",
                        "Environment": {"OPTION_MAX_ROLLING_BATCH_SIZE": "32"},
                    },
                    "ComputeResourceRequirements": {
                        "NumberOfAcceleratorDevicesRequired": 2,
                        "MinMemoryRequiredInMb": 65536,
                    },
                },
                "RuntimeConfig": {"CopyCount": 1},
            },
        },
        "Target": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {"MinCapacity": 0, "MaxCapacity": 2},
        },
    }
}


def _sagemaker():
    return boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _live(image: str, batch: str, desired: int, state: str = "InService") -> dict:
    return {
        "InferenceComponentName": "ic",
        "InferenceComponentArn": "arn:aws:sagemaker:us-east-1:123456789012:inference-component/ic",
        "EndpointName": "pool",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/pool",
        "InferenceComponentStatus": state,
        "CreationTime": "2026-01-01T00:00:00Z",
        "LastModifiedTime": "2026-01-01T00:00:00Z",
        "Specification": {
            "Container": {
                "Environment": {"OPTION_MAX_ROLLING_BATCH_SIZE": batch},
                "DeployedImage": {"SpecifiedImage": image},
            },
            "ComputeResourceRequirements": {
                "NumberOfAcceleratorDevicesRequired": 2,
                "MinMemoryRequiredInMb": 65536,
            },
        },
        "RuntimeConfig": {"DesiredCopyCount": desired, "CurrentCopyCount": desired},
    }


def test_what_runs_is_what_was_deployed():
    sm = _sagemaker()
    with Stubber(sm) as stub:
        stub.add_response(
            "describe_inference_component",
            _live("img:2", "32", 1),
            {"InferenceComponentName": "ic"},
        )
        state = status.component_state(sm, "ic", "pool", TEMPLATE)
    assert state.problems == () and (state.copies_desired, state.copies_current) == (1, 1)


def test_a_rollback_by_sagemaker_is_reported_not_hidden():
    sm = _sagemaker()
    with Stubber(sm) as stub:
        stub.add_response(
            "describe_inference_component",
            _live("img:1", "16", 3),
            {"InferenceComponentName": "ic"},
        )
        state = status.component_state(sm, "ic", "pool", TEMPLATE)
    text = " | ".join(state.problems)
    assert "runs image img:1, deployed img:2" in text
    assert "OPTION_MAX_ROLLING_BATCH_SIZE" in text
    assert "3 copies, outside the deployed range 0-2" in text


def test_a_failed_or_missing_component():
    sm = _sagemaker()
    with Stubber(sm) as stub:
        failed = _live("img:2", "32", 1, state="Failed") | {"FailureReason": "OOM on load"}
        stub.add_response("describe_inference_component", failed)
        stub.add_client_error(
            "describe_inference_component",
            "ValidationException",
            "Could not find inference component",
        )
        first = status.component_state(sm, "ic", "pool", TEMPLATE)
        second = status.component_state(sm, "gone", "pool", TEMPLATE)
    assert first.problems[0] == "failed: OOM on load"
    assert (second.status, second.problems) == ("missing", ("not found on SageMaker",))


def test_a_component_that_runs_another_model():
    sm = _sagemaker()
    live = _live("img:2", "32", 1)
    live["Specification"] = {
        "ModelName": "old-model-abc",
        "ComputeResourceRequirements": live["Specification"]["ComputeResourceRequirements"],
    }
    with Stubber(sm) as stub:
        stub.add_response("describe_inference_component", live)
        state = status.component_state(sm, "ic", "pool", TEMPLATE, model_name="new-model-def")
    assert any("runs model old-model-abc, deployed new-model-def" in p for p in state.problems)


def test_endpoint_state():
    sm = _sagemaker()
    with Stubber(sm) as stub:
        stub.add_response(
            "describe_endpoint",
            {
                "EndpointName": "pool",
                "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/pool",
                "EndpointStatus": "InService",
                "CreationTime": "2026-01-01T00:00:00Z",
                "LastModifiedTime": "2026-01-01T00:00:00Z",
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "CurrentInstanceCount": 2,
                        "DesiredInstanceCount": 3,
                    }
                ],
            },
        )
        state = status.endpoint_state(sm, "pool")
    assert (state.status, state.instances_current, state.instances_desired) == ("InService", 2, 3)


# --- the engine, with a CloudFormation client that does what we tell it ----------------------


class FakeCfn:
    """Just enough CloudFormation for one stack, to put the engine in states moto cannot."""

    def __init__(self, stack_status="UPDATE_COMPLETE", changes=(), stays="UPDATE_IN_PROGRESS"):
        self.status, self.changes, self.stays = stack_status, list(changes), stays
        self.executed = self.deleted = 0
        self.live = {"Resources": {}}  # the template CloudFormation runs

    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status}]}

    def get_template(self, StackName, TemplateStage):
        return {"TemplateBody": self.live}

    def create_change_set(self, **kw):
        return {"Id": "cs-1"}

    def describe_change_set(self, **kw):
        return {"Status": "CREATE_COMPLETE", "Changes": self.changes}

    def delete_change_set(self, **kw):
        self.deleted += 1

    def execute_change_set(self, **kw):
        self.executed += 1
        self.status = self.stays

    def describe_stack_events(self, StackName):
        return {"StackEvents": []}


class FakeAws:
    def __init__(self, cfn):
        self.cfn = cfn

    def client(self, name):
        return self.cfn


TARGET = Target(
    "s",
    "model",
    "m",
    json.dumps({"Resources": {"X": {"Type": "AWS::SNS::Topic"}}}),
    {"metadata": {"version": 2}},
    "text",
    model="m",
    version=2,
)


def _engine(cfn, tmp_path: Path, **kw) -> tuple[Engine, LocalHistory]:
    history = LocalHistory(tmp_path)
    return Engine(
        FakeAws(cfn),
        history,
        "dev",
        "arn:aws:iam::1:user/me",
        PlainReporter(),
        poll_seconds=0.01,
        **kw,
    ), history


def test_a_stack_busy_with_someone_elses_update(tmp_path):
    engine, history = _engine(FakeCfn("UPDATE_IN_PROGRESS"), tmp_path)
    (result,) = engine.deploy([TARGET])
    assert result.outcome == "failed"
    assert "being changed by another operation (UPDATE_IN_PROGRESS)" in result.reason
    assert history.list("dev") == []  # nothing was done, nothing to record


def test_ctrl_c_stops_waiting_and_records_the_stack_as_interrupted(tmp_path):
    cfn = FakeCfn()
    engine, history = _engine(cfn, tmp_path)
    original = actions.stack_status
    calls = {"n": 0}

    def status_then_interrupt(client, stack):
        calls["n"] += 1
        if calls["n"] > 2:  # while waiting for the execution: the user presses Ctrl-C
            engine.stopping.set()
        return original(client, stack)

    actions.stack_status, saved = status_then_interrupt, actions.stack_status
    try:
        (result,) = engine.deploy([TARGET])
    finally:
        actions.stack_status = saved
    assert result.outcome == "interrupted" and cfn.executed == 1
    (record,) = history.list("dev")
    assert record.outcome == "interrupted" and "CloudFormation carries on" in record.reason


def test_execute_raises_interrupted_when_asked_to_stop():
    cfn = FakeCfn()
    with pytest.raises(Interrupted):
        actions.execute(
            cfn, "s", ChangeSet("cs-1"), poll=0.01, stop=lambda: True, on_event=lambda text: None
        )


REPLACE = {
    "ResourceChange": {
        "Action": "Modify",
        "LogicalResourceId": "Endpoint",
        "ResourceType": "AWS::SageMaker::Endpoint",
        "Replacement": "True",
    }
}


def test_a_replacement_without_yes_and_without_a_terminal_is_refused(tmp_path):
    cfn = FakeCfn(changes=[REPLACE])
    engine, _ = _engine(cfn, tmp_path)
    (result,) = engine.deploy([TARGET])
    assert result.outcome == "refused" and cfn.executed == 0 and cfn.deleted == 1
    assert "THE ENDPOINT WOULD BE REPLACED" in result.reason and "--yes" in result.reason


def test_a_replacement_is_asked_about_and_yes_allows_it(tmp_path):
    asked = []
    cfn = FakeCfn(changes=[REPLACE], stays="UPDATE_COMPLETE")
    engine, _ = _engine(cfn, tmp_path, confirm=lambda q: asked.append(q) or False)
    assert engine.deploy([TARGET])[0].outcome == "refused" and len(asked) == 1
    engine, history = _engine(
        FakeCfn(changes=[REPLACE], stays="UPDATE_COMPLETE"), tmp_path, assume_yes=True
    )
    assert engine.deploy([TARGET])[0].outcome == "deployed"
    assert history.list("dev")[-1].outcome == "succeeded"


def test_change_details():
    change = Change("Remove", "Old", "AWS::IAM::Policy", None)
    assert change.destructive
    assert not Change("Modify", "IC", "AWS::SageMaker::InferenceComponent", "False").destructive
    # A new version's Model (create-only properties) is replaced on every routine update.
    assert not Change("Modify", "Model", "AWS::SageMaker::Model", "True").destructive
    assert not Change("Modify", "Config", "AWS::SageMaker::EndpointConfig", "True").destructive
    assert Change("Modify", "Endpoint", "AWS::SageMaker::Endpoint", "True").destructive


def test_nothing_to_roll_back_to(tmp_path):
    engine, history = _engine(FakeCfn(), tmp_path)
    with pytest.raises(Exception, match="nothing to roll back to: no successful deployment"):
        engine.rollback_target("s", "m", None)
    history.append(
        Record.new(
            environment="dev",
            stack="s",
            kind="deploy",
            outcome="succeeded",
            who="me",
            template=json.dumps({"Resources": {}}),  # what FakeCfn runs
            spec={},
            spec_text="",
            model="m",
            version=2,
        )
    )
    with pytest.raises(Exception, match="no successful deployment of m on record before version 2"):
        engine.rollback_target("s", "m", None)
    with pytest.raises(Exception, match="already at version 2"):
        engine.rollback_target("s", "m", 2)
    with pytest.raises(
        Exception,
        match=r"no successful deployment of m version 1 on record \(recorded versions: 2\)",
    ):
        engine.rollback_target("s", "m", 1)


def test_local_and_s3_history_share_one_interface(tmp_path, aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="history")
    for store in (LocalHistory(tmp_path / "h"), S3History(s3, "s3://history/team/")):
        for version in (1, 2):
            store.append(
                Record.new(
                    environment="dev",
                    stack="s",
                    kind="deploy",
                    outcome="succeeded",
                    who="me",
                    template=f"t{version}",
                    spec={"v": version},
                    spec_text="",
                    model="m",
                    version=version,
                )
            )
        store.append(
            Record.new(
                environment="prod",
                stack="s",
                kind="deploy",
                outcome="failed",
                who="me",
                template="t",
                spec={},
                spec_text="",
            )
        )
        assert [r.template for r in store.list("dev")] == ["t1", "t2"]
        assert [r.outcome for r in store.list("prod", "s")] == ["failed"]
        assert store.list("dev", "other") == []


def test_an_aws_error_mid_deploy_is_a_failure_on_record_not_a_crash(tmp_path):
    from botocore.exceptions import EndpointConnectionError

    class Flaky(FakeCfn):
        def describe_stacks(self, StackName):
            if self.executed:
                raise EndpointConnectionError(endpoint_url="https://cloudformation")
            return super().describe_stacks(StackName)

    engine, history = _engine(Flaky(), tmp_path)
    (result,) = engine.deploy([TARGET])
    assert result.outcome == "failed" and "Could not connect" in result.reason
    (record,) = history.list("dev")
    assert record.outcome == "failed"


def _template(version: int) -> str:
    return json.dumps({"Resources": {}, "Description": f"v{version}"})


def _deployed(
    history, version: int, kind: str = "deploy", outcome: str = "succeeded", cfn=None
) -> None:
    """A record of ``version``; with ``cfn``, CloudFormation now runs it."""
    if cfn is not None:
        cfn.live = json.loads(_template(version))
    history.append(
        Record.new(
            environment="dev",
            stack="s",
            kind=kind,
            outcome=outcome,
            who="me",
            template=_template(version),
            spec={},
            spec_text="",
            model="m",
            version=version,
        )
    )


def test_rolling_back_twice_goes_further_back_never_forward(tmp_path):
    cfn = FakeCfn()
    engine, history = _engine(cfn, tmp_path)
    for version in (2, 3, 4):
        _deployed(history, version, cfn=cfn)
    target, chosen = engine.rollback_target("s", "m", None)
    assert chosen.version == 3 and target.template == _template(3)
    _deployed(history, 3, kind="rollback", cfn=cfn)
    _, chosen = engine.rollback_target("s", "m", None)
    assert chosen.version == 2
    _deployed(history, 2, kind="rollback", cfn=cfn)
    with pytest.raises(Exception, match="nothing to roll back to"):
        engine.rollback_target("s", "m", None)
    _, chosen = engine.rollback_target("s", "m", 4)  # forward only when asked
    assert chosen.version == 4


def test_a_settled_status_right_after_execute_is_not_taken_for_success(tmp_path):
    """Real CloudFormation may still show the previous UPDATE_COMPLETE just after
    ExecuteChangeSet: only the change set's own ExecutionStatus says when it ended."""

    class Racing(FakeCfn):
        polls = 0

        def describe_change_set(self, **kw):
            desc = super().describe_change_set(**kw)
            if self.executed:
                self.polls += 1
                desc["ExecutionStatus"] = (
                    "EXECUTE_IN_PROGRESS" if self.polls < 4 else ("EXECUTE_FAILED")
                )
                if self.polls >= 4:
                    self.status = "UPDATE_ROLLBACK_COMPLETE"
            return desc

    cfn = Racing(stays="UPDATE_COMPLETE")  # the old, settled status, until it rolls back
    engine, history = _engine(cfn, tmp_path)
    (result,) = engine.deploy([TARGET])
    assert result.outcome == "failed" and cfn.polls >= 4
    assert history.list("dev")[-1].outcome == "failed"


def test_a_refused_new_stack_leaves_no_empty_stack_behind(tmp_path):
    from botocore.exceptions import ClientError

    class New(FakeCfn):
        created = deleted_stacks = 0

        def describe_stacks(self, StackName):
            if not self.created:
                raise ClientError(
                    {
                        "Error": {
                            "Code": "ValidationError",
                            "Message": f"Stack {StackName} does not exist",
                        }
                    },
                    "DescribeStacks",
                )
            return {"Stacks": [{"StackName": StackName, "StackStatus": "REVIEW_IN_PROGRESS"}]}

        def create_change_set(self, **kw):
            self.created = 1
            return super().create_change_set(**kw)

        def delete_stack(self, StackName):
            self.deleted_stacks += 1

    cfn = New(
        changes=[
            {
                "ResourceChange": {
                    "Action": "Remove",
                    "LogicalResourceId": "X",
                    "ResourceType": "AWS::SNS::Topic",
                }
            }
        ]
    )
    engine, _ = _engine(cfn, tmp_path)
    assert engine.deploy([TARGET])[0].outcome == "refused"
    assert cfn.deleted_stacks == 1


def test_a_stack_found_deployed_as_specified_is_recorded(tmp_path):
    """After Ctrl-C, CloudFormation finished on its own: the next deploy finds the template in
    place and records it, so diff and rollback start from what runs."""

    class Deployed(FakeCfn):
        def get_template(self, StackName, TemplateStage):
            return {"TemplateBody": json.loads(TARGET.template)}

    engine, history = _engine(Deployed(), tmp_path)
    history.append(
        Record.new(
            environment="dev",
            stack="s",
            kind="deploy",
            outcome="interrupted",
            who="me",
            template=TARGET.template,
            spec={},
            spec_text="",
            model="m",
            version=2,
        )
    )
    assert engine.deploy([TARGET])[0].outcome == "unchanged"
    last = history.list("dev")[-1]
    assert (last.outcome, last.version) == ("succeeded", 2)
    assert "found deployed" in last.reason
    engine.deploy([TARGET])  # already on record: nothing more is written
    assert len(history.list("dev")) == 2


def test_rollback_goes_to_the_version_before_what_runs(tmp_path):
    # v8 and v9 succeeded; v10 was interrupted, but CloudFormation completed it.
    cfn = FakeCfn()
    engine, history = _engine(cfn, tmp_path)
    _deployed(history, 8, cfn=cfn)
    _deployed(history, 9, cfn=cfn)
    _deployed(history, 10, outcome="interrupted", cfn=cfn)
    _, chosen = engine.rollback_target("s", "m", None)
    assert chosen.version == 9  # not 8: v10 is what runs
    last = history.list("dev", "s")[-1]
    assert (last.version, last.outcome) == (10, "succeeded")
    assert "found running: the interrupted deploy" in last.reason


def test_rollback_when_cloudformation_rolled_the_last_deploy_back(tmp_path):
    cfn = FakeCfn()
    engine, history = _engine(cfn, tmp_path)
    for version in (1, 2, 3):
        _deployed(history, version)
    cfn.live = json.loads(_template(2))  # v3's update was rolled back: v2 runs
    _, chosen = engine.rollback_target("s", "m", None)
    assert chosen.version == 1


def test_rollback_refuses_when_what_runs_matches_no_record(tmp_path):
    cfn = FakeCfn()
    engine, history = _engine(cfn, tmp_path)
    _deployed(history, 1)
    _deployed(history, 2)
    cfn.live = {"Resources": {"Handmade": {"Type": "AWS::SNS::Topic"}}}
    with pytest.raises(Exception, match="what runs in s matches no template in its history"):
        engine.rollback_target("s", "m", None)
    _, chosen = engine.rollback_target("s", "m", 1)  # an explicit version still works
    assert chosen.version == 1


def test_rollback_refuses_to_choose_among_damaged_records(tmp_path):
    cfn = FakeCfn()
    engine, history = _engine(cfn, tmp_path)
    _deployed(history, 1)
    _deployed(history, 2, cfn=cfn)
    (path,) = [p for p in (tmp_path / "dev" / "s").glob("*.json") if "v1" in p.read_text()]
    record = json.loads(path.read_text())
    record["template"] = record["template"].replace("v1", "v0")  # edited by hand
    path.write_text(json.dumps(record))
    with pytest.raises(Exception, match="does not match its digest"):
        engine.rollback_target("s", "m", None)


def test_updates_of_models_on_one_endpoint_run_one_at_a_time(tmp_path):
    """validate checks room for one model's update batch per endpoint: the engine never
    rolls two models of one endpoint at once, but other endpoints' models go in parallel."""
    import threading
    import time as _time

    class Cfn:
        def __init__(self):
            self.lock = threading.Lock()
            self.running: dict[str, set[str]] = {}
            self.most: dict[str, int] = {}
            self.done: dict[str, int] = {}

        def _endpoint(self, stack):
            return stack.split("-")[0]

        def describe_stacks(self, StackName):
            return {"Stacks": [{"StackName": StackName, "StackStatus": "UPDATE_COMPLETE"}]}

        def get_template(self, StackName, TemplateStage):
            return {"TemplateBody": {"Resources": {}}}

        def create_change_set(self, StackName, **kw):
            return {"Id": f"cs-{StackName}"}

        def describe_change_set(self, ChangeSetName, StackName):
            with self.lock:
                polls = self.done.get(StackName)
                if polls is None:
                    return {"Status": "CREATE_COMPLETE", "Changes": []}
                if polls > 0:
                    self.done[StackName] = polls - 1
                    return {"Status": "CREATE_COMPLETE", "ExecutionStatus": "EXECUTE_IN_PROGRESS"}
                self.running[self._endpoint(StackName)].discard(StackName)
                return {"Status": "CREATE_COMPLETE", "ExecutionStatus": "EXECUTE_COMPLETE"}

        def execute_change_set(self, ChangeSetName, StackName):
            with self.lock:
                ep = self._endpoint(StackName)
                self.running.setdefault(ep, set()).add(StackName)
                self.most[ep] = max(self.most.get(ep, 0), len(self.running[ep]))
                self.done[StackName] = 3

        def describe_stack_events(self, StackName):
            _time.sleep(0.005)
            return {"StackEvents": []}

        def delete_change_set(self, **kw):
            pass

    cfn = Cfn()
    engine, _ = _engine(cfn, tmp_path, concurrency=8)
    template = json.dumps({"Resources": {"X": {"Type": "AWS::SNS::Topic"}}})
    targets = [
        Target(f"{ep}-m{i}", "model", f"m{i}", template, {}, "", model=f"m{i}", depends_on=(ep,))
        for ep in ("a", "b")
        for i in range(3)
    ]
    results = engine.deploy(targets)
    assert {r.outcome for r in results} == {"deployed"}
    assert cfn.most == {"a": 1, "b": 1}


class _Lines:
    def __init__(self):
        self.events: list[tuple[str, str]] = []

    def event(self, stack: str, text: str) -> None:
        self.events.append((stack, text))


@pytest.mark.parametrize(("total", "reports"), [(3, 3), (20, 20), (1011, 21)])
def test_progress_is_reported_in_steps_not_per_stack(tmp_path, total, reports):
    from concurrent.futures import ThreadPoolExecutor

    engine, _ = _engine(FakeCfn("UPDATE_COMPLETE"), tmp_path)
    engine.reporter = lines = _Lines()
    tick = engine._counter(total, "compared")
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(tick, range(total))) == list(range(total))  # passes values on
    texts = [text for _, text in lines.events]
    assert len(texts) == reports
    assert texts[-1] == f"{total}/{total} stacks compared"  # the end is always reported
    done = [int(t.split("/")[0]) for t in texts]
    assert done == sorted(done)  # in order, though stacks finish on several threads
