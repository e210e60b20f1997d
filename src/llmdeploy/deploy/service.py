"""What the diff, deploy, rollback, history and status commands do, over one environment."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from llmdeploy.deploy import actions, status
from llmdeploy.deploy import aws as aws_mod
from llmdeploy.deploy.diff import StackDiff
from llmdeploy.deploy.engine import Confirm, Engine, StackResult
from llmdeploy.deploy.history import HistoryStore, Record, open_history
from llmdeploy.deploy.report import Reporter
from llmdeploy.deploy.targets import Target, build_targets
from llmdeploy.errors import LlmdeployError
from llmdeploy.plan import check
from llmdeploy.plan.resolve import ResolvedEnvironment
from llmdeploy.synth.stacks import Names

LOCAL_HISTORY = Path(".llmdeploy/history")


@dataclass
class Context:
    env: ResolvedEnvironment
    aws: aws_mod.Aws
    who: str
    history: HistoryStore
    engine: Engine

    @property
    def names(self) -> Names:
        return Names(self.env.doc.spec.stack_prefix)


def open_environment(
    paths: Sequence[Path],
    env_name: str,
    reporter: Reporter,
    *,
    concurrency: int = 4,
    assume_yes: bool = False,
    confirm: Confirm | None = None,
    poll_seconds: float = 3.0,
    history_root: Path = LOCAL_HISTORY,
) -> Context:
    """Check the specs (errors stop here), connect, and check the caller's account."""
    (env,) = check(paths, [env_name]).environments
    spec = env.doc.spec
    conn = aws_mod.connect(spec)
    who = aws_mod.require_account(conn, spec)
    history = open_history(spec.spec.history.s3_uri, conn, history_root)
    engine = Engine(
        conn,
        history,
        env.name,
        who.arn,
        reporter,
        concurrency=concurrency,
        assume_yes=assume_yes,
        confirm=confirm,
        poll_seconds=poll_seconds,
    )
    return Context(env, conn, who.arn, history, engine)


def targets(ctx: Context, models: Sequence[str] = ()) -> list[Target]:
    with tempfile.TemporaryDirectory(prefix="llmdeploy-") as out:
        return build_targets(ctx.env, Path(out), models)


def diff(ctx: Context, models: Sequence[str] = ()) -> list[StackDiff]:
    return ctx.engine.diff(targets(ctx, models))


def deploy(ctx: Context, models: Sequence[str] = ()) -> list[StackResult]:
    return ctx.engine.deploy(targets(ctx, models))


def rollback(ctx: Context, model: str, to_version: int | None) -> tuple[StackResult, Record]:
    if model not in {m.name for m in ctx.env.models}:
        raise LlmdeployError(f"no model '{model}' in environment '{ctx.env.name}'")
    stack = ctx.names.model_stack(model)
    target, record = ctx.engine.rollback_target(stack, model, to_version)
    (result,) = ctx.engine.deploy([target], kind="rollback", record=record)
    return result, record


def history(ctx: Context, model: str | None = None) -> list[Record]:
    if model is not None and model not in {m.name for m in ctx.env.models}:
        raise LlmdeployError(f"no model '{model}' in environment '{ctx.env.name}'")
    stack = ctx.names.model_stack(model) if model else None
    return ctx.history.list(ctx.env.name, stack)


@dataclass(frozen=True)
class EnvironmentState:
    endpoints: list[status.EndpointState]
    components: list[status.ComponentState]


def live(ctx: Context) -> EnvironmentState:
    """Endpoints and inference components as SageMaker reports them, each component checked
    against the template of its stack as deployed."""
    try:
        return _live(ctx)
    except aws_mod.AWS_ERRORS as exc:
        raise LlmdeployError(
            f"cannot read the live state from SageMaker: {aws_mod.describe(exc)[:300]}"
        ) from exc


def _live(ctx: Context) -> EnvironmentState:
    sm = ctx.aws.client("sagemaker")
    cfn = ctx.aws.client("cloudformation")
    names = ctx.names
    endpoints = [
        status.endpoint_state(sm, names.endpoint(ep.name)) for ep in ctx.env.doc.spec.spec.endpoints
    ]
    endpoints += [
        status.endpoint_state(sm, names.endpoint(m.name)) for m in ctx.env.models if m.dedicated
    ]
    components = []
    for m in ctx.env.models:
        if m.dedicated or m.endpoint is None:
            continue
        stack = names.model_stack(m.name)
        template = actions.deployed_template(cfn, stack)
        components.append(
            status.component_state(
                sm,
                names.inference_component(m.name),
                names.endpoint(m.endpoint.name),
                template,
                _model_physical_name(cfn, stack, template),
            )
        )
    return EnvironmentState(endpoints, components)


def _model_physical_name(cfn, stack: str, template) -> str | None:
    if not template:
        return None
    logical = next(
        (
            k
            for k, r in template.get("Resources", {}).items()
            if r.get("Type") == "AWS::SageMaker::Model"
        ),
        None,
    )
    if logical is None:
        return None
    try:
        res = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical)
    except ClientError:  # a missing resource shows as a status problem instead
        return None
    return res["StackResourceDetail"].get("PhysicalResourceId")
