"""What the diff, deploy, rollback, history and status commands do, over one environment."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from llmdeploy.deploy import actions, lock, status
from llmdeploy.deploy import aws as aws_mod
from llmdeploy.deploy.diff import StackDiff
from llmdeploy.deploy.engine import Confirm, Engine, StackResult
from llmdeploy.deploy.history import (
    HistoryStore,
    Pending,
    Record,
    Scan,
    last_success,
    open_history,
)
from llmdeploy.deploy.report import Reporter
from llmdeploy.deploy.retire import Orphan, Retired, Retirer, orphans
from llmdeploy.deploy.targets import Target, build_targets
from llmdeploy.deploy.vet import vet
from llmdeploy.errors import LlmdeployError, clip
from llmdeploy.plan import check
from llmdeploy.plan.names import Names
from llmdeploy.plan.resolve import ResolvedEnvironment
from llmdeploy.synth.assembly import SynthSettings

LOCAL_HISTORY = Path(".llmdeploy/history")


@dataclass
class Context:
    env: ResolvedEnvironment
    aws: aws_mod.Aws
    who: str
    history: HistoryStore
    engine: Engine
    retirer: Retirer
    lock_timeout: float = 0.0
    synth: SynthSettings = field(default_factory=SynthSettings)

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
    lock_timeout: float = 0.0,
    force: bool = False,
    flush_pending: bool = False,
    synth: SynthSettings | None = None,
) -> Context:
    """Check the specs (errors stop here), connect, and check the caller's account."""
    (env,) = check(paths, [env_name]).environments
    spec = env.doc.spec
    conn = aws_mod.connect(spec)
    who = aws_mod.require_account(conn, spec)
    history = open_history(spec.spec.history.s3_uri, conn, history_root)
    pending = Pending(history_root.parent / "pending")
    if flush_pending:  # commands that change things write what an earlier run could not
        written, problems = pending.flush(history, env.name, who.arn)
        if written:
            reporter.event("history", f"{written} record(s) kept from an earlier run written now")
        for p in problems:
            reporter.event("history", f"still pending: {p}")
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
        pending=pending,
    )
    retirer = Retirer(engine, Names(spec.stack_prefix), force=force)
    return Context(
        env, conn, who.arn, history, engine, retirer, lock_timeout, synth or SynthSettings()
    )


@dataclass(frozen=True)
class Records:
    """An environment's specs and its history store: all `history` needs, and the part of
    `status` that needs no AWS."""

    env: ResolvedEnvironment
    history: HistoryStore

    @property
    def names(self) -> Names:
        return Names(self.env.doc.spec.stack_prefix)


def open_records(
    paths: Sequence[Path], env_name: str, *, history_root: Path = LOCAL_HISTORY
) -> Records:
    """Check the specs and open the history store, without the account check: reading is not
    changing. A local store needs no AWS at all; an S3 store needs credentials to read it."""
    (env,) = check(paths, [env_name]).environments
    s3_uri = env.doc.environment_spec.history.s3_uri
    conn = aws_mod.connect(env.doc.spec) if s3_uri else None
    return Records(env, open_history(s3_uri, conn, history_root))


@dataclass(frozen=True)
class OnRecord:
    """A stack the specs produce and its latest successful deploy or rollback on record."""

    stack: str
    kind: str  # endpoint | model | dedicated | dashboards
    name: str  # the endpoint's or model's (the environment's, for its dashboards)
    version: int | None  # the spec's version (models)
    deployed_version: int | None
    deployed_when: str | None
    deployed_by: str | None


def on_record(records: Records | Context) -> list[OnRecord]:
    """Every stack the specs produce, with what the history says was last deployed."""
    out = []
    for stack, kind, name, version in produced(records):
        last = last_success(records.history.scan(records.env.name, stack).records)
        out.append(
            OnRecord(
                stack,
                kind,
                name,
                version,
                last.version if last else None,
                last.when if last else None,
                last.who if last else None,
            )
        )
    return out


@contextlib.contextmanager
def locked(ctx: Context, operation: str) -> Iterator[None]:
    """The environment's lock for one deploy, rollback or retire."""
    with lock.hold(
        ctx.history,
        ctx.env.name,
        ctx.who,
        operation,
        timeout=ctx.lock_timeout,
        warn=lambda text: ctx.engine.reporter.event("lock", text),
    ):
        yield


def produced(ctx: Context | Records) -> list[tuple[str, str, str, int | None]]:
    """Every stack the environment's specs produce: (stack, kind, name, the spec's version)."""
    names = ctx.names
    rows = [
        (names.endpoint_stack(ep.name), "endpoint", ep.name, None)
        for ep in ctx.env.doc.environment_spec.endpoints
    ]
    rows += [
        (
            names.model_stack(m.name),
            "dedicated" if m.dedicated else "model",
            m.name,
            m.spec.metadata.version,
        )
        for m in ctx.env.models
    ]
    rows.append((names.dashboards_stack(), "dashboards", ctx.env.name, None))
    return rows


def produced_stacks(ctx: Context | Records) -> set[str]:
    """Every stack the environment's specs produce."""
    return {stack for stack, *_ in produced(ctx)}


def find_orphans(ctx: Context, *, fresh: bool = False) -> list[Orphan]:
    """The stacks no spec produces, from the listing `diff` made if it made one, unless
    ``fresh`` (before retiring anything: then only a new listing will do)."""
    listing = None if fresh else ctx.engine.listing
    return orphans(
        ctx.engine.cfn, ctx.names, ctx.env.name, produced_stacks(ctx), ctx.history, listing
    )


class _SynthEvents:
    """Synthesis progress as the engine's events ("synth: building stacks")."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def phase(self, text: str) -> None:
        self.reporter.event("synth", text)

    def stack(self, done: int, total: int, name: str) -> None:
        self.reporter.event("synth", f"{done}/{total} stacks built")


def targets(ctx: Context, models: Sequence[str] = ()) -> list[Target]:
    with tempfile.TemporaryDirectory(prefix="llmdeploy-") as out:
        return build_targets(
            ctx.env, Path(out), models, _SynthEvents(ctx.engine.reporter), ctx.synth
        )


def diff(ctx: Context, models: Sequence[str] = ()) -> list[StackDiff]:
    # --no-cache trusts nothing stored: neither the synth cache nor the history's evidence.
    return ctx.engine.diff(targets(ctx, models), trust_records=ctx.synth.cache)


def deploy(
    ctx: Context, models: Sequence[str] = (), *, prune: bool = False
) -> tuple[list[StackResult], list[Retired]]:
    """Deploy; with ``prune``, then retire every orphan (only after a clean deploy)."""
    with locked(ctx, "deploy"):
        results = ctx.engine.deploy(targets(ctx, models), trust_records=ctx.synth.cache)
        retired: list[Retired] = []
        if prune and all(r.outcome in ("deployed", "unchanged") for r in results):
            retired = _prune(ctx)
    return results, retired


def _prune(ctx: Context) -> list[Retired]:
    """Models first: an orphaned endpoint goes only once nothing is left on it."""
    found = find_orphans(ctx, fresh=True)
    out = []
    for o in sorted(found, key=lambda o: o.kind != "model"):
        out.append(_retire_orphan(ctx, o.stack, o.kind, o.name))
    return out


def _retire_orphan(ctx: Context, stack: str, kind: str, name: str) -> Retired:
    """Retire a stack no spec produces; a refusal (busy, not ours after all) is its outcome,
    so that what was done before it is still reported."""
    try:
        survey = ctx.retirer.survey(stack, kind, name, in_spec=False)
    except LlmdeployError as exc:
        ctx.engine.reporter.done(stack, "refused", str(exc))
        return Retired(stack, "refused", str(exc))
    return ctx.retirer.retire(survey)


_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _checked_name(name: str, what: str) -> str:
    """A model or endpoint name from the command line, before it reaches any AWS call."""
    if not _NAME.fullmatch(name):
        raise LlmdeployError(
            f"{what} {clip(repr(name), 80)} is not a name llmdeploy gives: lower-case letters, "
            "digits and hyphens, at most 63 characters"
        )
    return name


def retire(ctx: Context, name: str, *, endpoint: bool = False) -> list[Retired]:
    """Retire a model's stack (and its endpoint's, when no spec keeps the endpoint and no
    model is left on it), or with ``endpoint`` an endpoint's stack."""
    _checked_name(name, "endpoint" if endpoint else "model")
    names = ctx.names
    if endpoint:
        in_spec = name in {ep.name for ep in ctx.env.doc.environment_spec.endpoints}
        stack, kind = names.endpoint_stack(name), "endpoint"
    else:
        in_spec = name in {m.name for m in ctx.env.models}
        stack, kind = names.model_stack(name), "model"
    with locked(ctx, "retire"):
        survey = ctx.retirer.survey(stack, kind, name, in_spec=in_spec)
        out = [ctx.retirer.retire(survey)]
        if out[0].outcome == "retired":
            spec_endpoints = {ep.name for ep in ctx.env.doc.environment_spec.endpoints}
            left = ctx.retirer.endpoint_left_empty(survey, spec_endpoints)
            if left is not None:
                ep_name = left.removeprefix(f"{names.prefix}-endpoint-")
                out.append(_retire_orphan(ctx, left, "endpoint", ep_name))
    return out


def unlock(ctx: Context) -> lock.LockInfo | None:
    """Break the environment's lock; the lock that was broken (None: there was none)."""
    held = ctx.history.read_lock(ctx.env.name)
    if held is not None:
        ctx.history.break_lock(ctx.env.name)
    return held


def rollback(ctx: Context, model: str, to_version: int | None) -> tuple[StackResult, Record]:
    _checked_name(model, "model")
    if model not in {m.name for m in ctx.env.models}:
        raise LlmdeployError(f"no model '{model}' in environment '{ctx.env.name}'")
    stack = ctx.names.model_stack(model)
    with locked(ctx, "rollback"):
        target, record = ctx.engine.rollback_target(stack, model, to_version)
        vet(ctx.env, record, stack)  # a record is evidence, not an instruction
        (result,) = ctx.engine.deploy([target], kind="rollback", record=record)
    return result, record


def history(ctx: Context | Records, model: str | None = None) -> Scan:
    """The environment's records (or one model's), and the damaged ones. A model whose spec
    was removed still has its history (its retirement, for one)."""
    stack = ctx.names.model_stack(model) if model else None
    scan = ctx.history.scan(ctx.env.name, stack)
    if model is not None and not scan.records and model not in {m.name for m in ctx.env.models}:
        raise LlmdeployError(f"no model '{model}' in environment '{ctx.env.name}'")
    return scan


@dataclass(frozen=True)
class EnvironmentState:
    endpoints: list[status.EndpointState]
    components: list[status.ComponentState]
    orphans: list[Orphan]


def live(ctx: Context, *, orphans: bool = True) -> EnvironmentState:
    """Endpoints and inference components as SageMaker reports them, each component checked
    against the template of its stack as deployed; with ``orphans``, the stacks no spec
    produces (a listing of every stack in the region)."""
    try:
        return _live(ctx, orphans)
    except aws_mod.AWS_ERRORS as exc:
        raise LlmdeployError(
            f"cannot read the live state from SageMaker: {aws_mod.describe(exc)[:300]}"
        ) from exc


def verify(ctx: Context, results: Sequence[StackResult]) -> list[str]:
    """After a deploy: whether SageMaker runs what the deployed model stacks say (SageMaker
    can roll an update back by itself while CloudFormation reports success)."""
    deployed = {r.stack for r in results if r.outcome in ("deployed", "rolled back")}
    if not deployed:
        return []
    try:
        state = live(ctx, orphans=False)  # the command lists them itself
    except LlmdeployError as exc:
        return [f"could not check what SageMaker runs: {exc}"]
    mine = {
        ctx.names.inference_component(m.name)
        for m in ctx.env.models
        if ctx.names.model_stack(m.name) in deployed
    }
    return [f"{c.name}: {p}" for c in state.components if c.name in mine for p in c.problems]


def _live(ctx: Context, orphans: bool) -> EnvironmentState:
    sm = ctx.aws.client("sagemaker")
    cfn = ctx.aws.client("cloudformation")
    names = ctx.names
    endpoints = [
        status.endpoint_state(sm, names.endpoint(ep.name))
        for ep in ctx.env.doc.environment_spec.endpoints
    ]
    endpoints += [
        status.endpoint_state(sm, names.endpoint(m.name)) for m in ctx.env.models if m.dedicated
    ]
    components = []
    for m in ctx.env.models:
        if m.dedicated or m.runs_on is None:  # an adapter: on its base's endpoint
            continue
        stack = names.model_stack(m.name)
        template = actions.deployed_template(cfn, stack)
        if template is None:  # in the spec, never deployed (or retired): nothing to check
            components.append(
                status.ComponentState(
                    names.inference_component(m.name),
                    names.endpoint(m.runs_on.name),
                    "not deployed",
                )
            )
            continue
        components.append(
            status.component_state(
                sm,
                names.inference_component(m.name),
                names.endpoint(m.runs_on.name),
                template,
                _model_physical_name(cfn, stack, template),
            )
        )
    return EnvironmentState(endpoints, components, find_orphans(ctx) if orphans else [])


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
    physical = (res.get("StackResourceDetail") or {}).get("PhysicalResourceId")
    # CloudFormation's physical id of an AWS::SageMaker::Model is its ARN (what Ref returns:
    # arn:aws:sagemaker:<region>:<account>:model/<name>); SageMaker reports the name.
    if isinstance(physical, str) and physical.startswith("arn:") and ":model/" in physical:
        return physical.split(":model/", 1)[1]
    return physical
