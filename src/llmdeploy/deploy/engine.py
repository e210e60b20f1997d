"""Runs diffs, deployments and rollbacks over CloudFormation change sets.

Stacks go in dependency batches (endpoints before the models that live on them), each batch
in parallel up to ``concurrency``. A stack whose deployed template already equals the new one
is skipped without a change set. Replacing or removing a resource needs confirmation (or
``assume_yes``); without a terminal to ask, it is refused. A failed stack is reported with
CloudFormation's reason and its dependants are skipped; the others go on. Every deployment,
rollback and failure is recorded in the history store; Ctrl-C stops the waiting, records what
was under way as interrupted, and leaves CloudFormation to finish or roll back.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from llmdeploy.deploy import actions, capacity, unchanged
from llmdeploy.deploy.actions import ChangeSet, Interrupted, StackInfo
from llmdeploy.deploy.aws import AWS_ERRORS, Aws, describe
from llmdeploy.deploy.diff import StackDiff, field_changes, version_warning
from llmdeploy.deploy.history import HistoryStore, Pending, Record, last_success, write_record
from llmdeploy.deploy.kinds import StackOutcome, coerce
from llmdeploy.deploy.report import Reporter
from llmdeploy.deploy.targets import Target
from llmdeploy.errors import LlmdeployError

Confirm = Callable[[str], bool]
# From this many stacks on, diff and deploy list every stack with one paginated DescribeStacks.
BULK_DESCRIBE = 20
# Progress reports of a diff or deploy over many stacks, at most (`Engine._counter`).
PROGRESS_STEPS = 20


@dataclass(frozen=True)
class StackResult:
    stack: str
    outcome: StackOutcome
    reason: str | None = None
    change_sets: int = 0

    def __post_init__(self) -> None:
        coerce(self, "outcome", StackOutcome)


class Engine:
    def __init__(
        self,
        aws: Aws,
        history: HistoryStore,
        environment: str,
        who: str,
        reporter: Reporter,
        *,
        concurrency: int = 4,
        assume_yes: bool = False,
        confirm: Confirm | None = None,
        poll_seconds: float = 3.0,
        pending: Pending | None = None,
    ):
        self.aws = aws
        self.pending = pending
        self.cfn = aws.client("cloudformation")
        self.history = history
        self.environment = environment
        self.who = who
        self.reporter = reporter
        self.concurrency = max(1, concurrency)
        self.assume_yes = assume_yes
        self.confirm = confirm
        self.poll = poll_seconds
        # The stacks of the region as `diff` listed them (past BULK_DESCRIBE), for the same
        # command's orphans: a second listing of 1,000 stacks cost it over a second.
        self.listing: dict[str, StackInfo] | None = None
        self.stopping = threading.Event()
        self.confirm_lock = threading.Lock()
        self.executing: set[str] = set()  # stacks whose change set is executing now
        self.slots: dict[str, threading.Lock] = {}  # per shared endpoint stack: see _update_slot
        self.slots_lock = threading.Lock()

    # --- diff ----------------------------------------------------------------------------

    def diff(self, targets: Sequence[Target], *, trust_records: bool = False) -> list[StackDiff]:
        """What deploying ``targets`` would change. ``trust_records``: a stack whose history
        and CloudFormation agree that it runs the same template is not read back
        (`deploy/unchanged.py`)."""
        tick = self._counter(len(targets), "compared")
        live = self.listing = self._live(targets)
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(
                pool.map(lambda t: tick(self._diff_guarded(t, live, trust_records)), targets)
            )

    def _live(self, targets: Sequence[Target]) -> dict[str, StackInfo] | None:
        """Past BULK_DESCRIBE stacks, every stack's status and tags from one paginated
        DescribeStacks (a page holds many stacks) instead of one call each; None below."""
        if len(targets) < BULK_DESCRIBE:
            return None
        return actions.all_stacks(self.cfn)

    def _info(self, stack: str, live: dict[str, StackInfo] | None) -> StackInfo | None:
        return live.get(stack) if live is not None else actions.stack_info(self.cfn, stack)

    def _counter(self, total: int, verb: str) -> Callable[[Any], Any]:
        """A pass-through that reports "n/total stacks <verb>" as stacks finish: the overall
        progress next to each stack's own events. At most PROGRESS_STEPS reports and the
        last: a line per stack was 1,000 lines of a CI log for a diff of 1,000 stacks."""
        done = [0]
        lock = threading.Lock()
        step = max(1, total // PROGRESS_STEPS)

        def tick(value: Any) -> Any:
            with lock:
                done[0] += 1
                n = done[0]
                if n % step == 0 or n == total:
                    self.reporter.event("progress", f"{n}/{total} stacks {verb}")
            return value

        return tick

    def _diff_guarded(
        self, t: Target, live: dict[str, StackInfo] | None, trust_records: bool
    ) -> StackDiff:
        try:
            return self._diff_one(t, live, trust_records)
        except AWS_ERRORS as exc:
            raise LlmdeployError(f"{t.stack}: {describe(exc)}") from exc

    def last_deployed(self, stack: str) -> Record | None:
        """The stack's latest successful deploy or rollback on record."""
        return last_success(self.history.list(self.environment, stack))

    def _diff_one(
        self, t: Target, live: dict[str, StackInfo] | None, trust_records: bool
    ) -> StackDiff:
        info = self._info(t.stack, live)
        actions.refuse_foreign(t.stack, info, self.environment)
        status = info.status if info else None
        scan = self.history.scan(self.environment, t.stack)
        last = last_success(scan.records)
        fields = tuple(field_changes(last.spec, t.spec)) if last else None
        # Compared with an older record than the damaged ones: say so.
        warnings = [f"{p} (compared with the last readable record)" for p in scan.damaged]
        old_version = last.version if last else None
        if fields is not None and t.version is not None:
            w = version_warning(list(fields), old_version, t.version)
            if w:
                warnings.append(w)
        if status is not None and last is None:
            warnings.append("no deployment of this stack on record: spec-level changes unknown")
        if status is not None:
            self._refuse_busy(t.stack, status)
            if (
                trust_records and unchanged.as_recorded(info, scan, t.template, t.fingerprint)
            ) or actions.same_template(actions.deployed_template(self.cfn, t.stack), t.template):
                return StackDiff(
                    t.stack,
                    t.kind,
                    t.name,
                    "unchanged",
                    fields,
                    old_version,
                    t.version,
                    (),
                    tuple(warnings),
                )
        kept = capacity.plan(self.aws, t.template, exists=status is not None)
        if status is None:
            # A new stack adds every resource of its template. A CREATE change set would tell
            # nothing more and leave an empty stack behind in REVIEW_IN_PROGRESS.
            cs = actions.ChangeSet(
                "",
                tuple(
                    actions.Change("Add", logical, res.get("Type", "?"), None)
                    for logical, res in json.loads(t.template).get("Resources", {}).items()
                ),
            )
        else:
            cs = actions.create_change_set(
                self.cfn,
                t.stack,
                t.template,
                exists=True,
                poll=self.poll,
                stop=self.stopping.is_set,
                parameters=[k.as_parameter() for k in kept],
                tags=self._tags(t),
            )
            if not cs.empty:
                actions.delete_change_set(self.cfn, t.stack, cs.id)
        state = "new" if status is None else ("unchanged" if cs.empty else "changed")
        return StackDiff(
            t.stack,
            t.kind,
            t.name,
            state,
            fields,
            old_version,
            t.version,
            cs.changes,
            tuple(warnings),
            tuple(k.describe() for k in kept),
        )

    def _tags(self, t: Target) -> dict[str, str]:
        """Stack tags: the owner first (`actions.refuse_foreign` reads it)."""
        tags = {actions.ENVIRONMENT_TAG: self.environment}
        if t.model is not None:
            tags["llmdeploy:model"] = t.model
        elif t.kind == "endpoint":
            tags["llmdeploy:endpoint"] = t.name
        return tags

    def _refuse_busy(self, stack: str, status: str) -> None:
        if status.endswith("_IN_PROGRESS"):
            raise actions.StackBusy(
                f"{stack} is being changed by another operation ({status}); wait for it to "
                "finish (`aws cloudformation wait stack-update-complete`) and try again"
            )
        if status == "ROLLBACK_COMPLETE":
            raise actions.StackBusy(
                f"{stack} failed to create and is in ROLLBACK_COMPLETE; CloudFormation cannot "
                f"update it: delete it (`aws cloudformation delete-stack --stack-name {stack}`) "
                "and deploy again"
            )

    # --- deploy --------------------------------------------------------------------------

    def deploy(
        self,
        targets: Sequence[Target],
        *,
        kind: str = "deploy",
        record: Record | None = None,
        trust_records: bool = False,
    ) -> list[StackResult]:
        """Deploy ``targets`` in dependency order. ``record`` replaces the spec fields of the
        history record (rollback redeploys an old template under its old spec).
        ``trust_records``: as for `diff`; a stack not taken as unchanged is read afresh."""
        # Read once before anything deploys: only to skip stacks, never to change one.
        live = self._live(targets) if trust_records else None
        results: dict[str, StackResult] = {}
        remaining = list(targets)
        names = {t.stack for t in targets}
        tick = self._counter(len(targets), "done")
        while remaining:
            ready = [
                t for t in remaining if all(d in results or d not in names for d in t.depends_on)
            ]
            if not ready:  # a cycle cannot come from our stacks; guard anyway
                raise LlmdeployError(
                    "stack dependencies form a cycle: " + ", ".join(t.stack for t in remaining)
                )
            batch, skipped = [], []
            for t in ready:
                failed = [
                    d
                    for d in t.depends_on
                    if d in results and results[d].outcome not in ("deployed", "unchanged")
                ]
                (skipped if failed else batch).append((t, failed))
            for t, failed in skipped:
                results[t.stack] = StackResult(
                    t.stack, "skipped", f"{', '.join(failed)} did not deploy"
                )
                self.reporter.done(t.stack, "skipped", results[t.stack].reason)
                tick(None)
            with ThreadPoolExecutor(self.concurrency) as pool:
                futures = {
                    t.stack: pool.submit(lambda t=t: tick(self._deploy_one(t, kind, record, live)))
                    for t, _ in batch
                }
                try:
                    for stack, future in futures.items():
                        results[stack] = future.result()
                except KeyboardInterrupt:
                    self.stopping.set()
                    for stack, future in futures.items():
                        results[stack] = future.result()
                    raise Interrupted from None
            remaining = [t for t in remaining if t.stack not in results]
        return [results[t.stack] for t in targets]

    def _deploy_one(
        self, t: Target, kind: str, record: Record | None, live: dict[str, StackInfo] | None
    ) -> StackResult:
        try:
            result = self._deploy_checked(t, kind, record, live)
        except Interrupted:
            result = StackResult(
                t.stack,
                "interrupted",
                "stopped waiting; CloudFormation carries on: see "
                "`llmdeploy status` or the CloudFormation console",
            )
            if t.stack in self.executing:
                self.executing.discard(t.stack)
                self._record(t, kind, "interrupted", result.reason, record, None)
        except LlmdeployError as exc:
            result = StackResult(t.stack, "failed", str(exc))
        except AWS_ERRORS as exc:  # throttled past retries, network gone...
            result = StackResult(t.stack, "failed", describe(exc))
            if t.stack in self.executing:
                self.executing.discard(t.stack)
                self._record(t, kind, "failed", result.reason, record, None)
        self.reporter.done(t.stack, result.outcome, result.reason)
        return result

    def _deploy_checked(
        self, t: Target, kind: str, record: Record | None, live: dict[str, StackInfo] | None
    ) -> StackResult:
        if live is not None and record is None:
            before = live.get(t.stack)
            if before is not None and before.environment == self.environment:
                scan = self.history.scan(self.environment, t.stack)
                if unchanged.as_recorded(before, scan, t.template, t.fingerprint):
                    return StackResult(t.stack, "unchanged")
        info = actions.stack_info(self.cfn, t.stack)
        actions.refuse_foreign(t.stack, info, self.environment)
        status = info.status if info else None
        if status is not None:
            self._refuse_busy(t.stack, status)
            if actions.same_template(actions.deployed_template(self.cfn, t.stack), t.template):
                self._reconcile(t, kind, record)
                return StackResult(t.stack, "unchanged")
        with self._update_slot(t, status):
            return self._change(t, kind, record, status)

    @contextlib.contextmanager
    def _update_slot(self, t: Target, status: str | None) -> Iterator[None]:
        """One rolling update at a time per shared endpoint: `validate` checks that
        instances.max has room for one model's update batch on top of every model's minimum
        copies, not for several at once. New models and other endpoints go in parallel."""
        if status is None or t.kind != "model" or not t.depends_on:
            yield
            return
        with self.slots_lock:
            slot = self.slots.setdefault(t.depends_on[0], threading.Lock())
        while not slot.acquire(timeout=self.poll):
            if self.stopping.is_set():
                raise Interrupted
        try:
            yield
        finally:
            slot.release()

    def _change(
        self, t: Target, kind: str, record: Record | None, status: str | None
    ) -> StackResult:
        # What runs wins over the template's initial: copies and instances that autoscaling
        # set are passed back (clamped into the new range), never reset. Read here, right
        # before the change set, so that a wait for the endpoint's slot reads it fresh.
        kept = capacity.plan(self.aws, t.template, exists=status is not None)
        for k in kept:
            self.reporter.event(t.stack, k.describe())
        parameters = {k.parameter: str(k.value) for k in kept} or None
        try:
            cs = actions.create_change_set(
                self.cfn,
                t.stack,
                t.template,
                exists=status is not None,
                poll=self.poll,
                stop=self.stopping.is_set,
                parameters=[k.as_parameter() for k in kept],
                tags=self._tags(t),
            )
        except LlmdeployError:
            if status is None:
                actions.discard_new_stack(self.cfn, t.stack)
            raise
        if cs.empty:
            return StackResult(t.stack, "unchanged", change_sets=1)
        refusal = self._approve(t, cs, every_change=kind == "rollback")
        if refusal:
            actions.delete_change_set(self.cfn, t.stack, cs.id)
            if status is None:
                actions.discard_new_stack(self.cfn, t.stack)
            return StackResult(t.stack, "refused", refusal, change_sets=1)
        self.executing.add(t.stack)
        try:
            ok, reason = actions.execute(
                self.cfn,
                t.stack,
                cs,
                poll=self.poll,
                stop=self.stopping.is_set,
                on_event=lambda text: self.reporter.event(t.stack, text),
            )
        except LlmdeployError as exc:  # refused at execution: still a failure on record
            self.executing.discard(t.stack)
            self._record(t, kind, "failed", str(exc), record, cs.id, parameters)
            raise
        self.executing.discard(t.stack)
        self._record(t, kind, "succeeded" if ok else "failed", reason, record, cs.id, parameters)
        if not ok:
            return StackResult(t.stack, "failed", reason, change_sets=1)
        return StackResult(
            t.stack, "rolled back" if kind == "rollback" else "deployed", change_sets=1
        )

    def _reconcile(self, t: Target, kind: str, record: Record | None) -> None:
        """The stack already runs this template but the history does not say so (the last
        run was interrupted and CloudFormation finished on its own, or the stack was deployed
        without llmdeploy): record it, so that diff and rollback start from the truth."""
        last = self.last_deployed(t.stack)
        if last is not None and actions.same_template(json.loads(t.template), last.template):
            return
        self._record(
            t, kind, "succeeded", "found deployed as specified; recorded now", record, None
        )

    def _approve(self, t: Target, cs: ChangeSet, *, every_change: bool = False) -> str | None:
        """None to go ahead, or why not. ``every_change``: ask about any change (a rollback
        deploys a recorded template: the operator sees what it changes in the live stack)."""
        risky = list(cs.changes) if every_change else [c for c in cs.changes if c.destructive]
        if not risky or self.assume_yes:
            return None
        what = "; ".join(
            f"{_verb(c)} {c.logical_id} ({c.resource_type})"
            + (f" [{', '.join(c.details[:4])}]" if c.details and c.action == "Modify" else "")
            for c in risky
        )
        if any(c.resource_type == "AWS::SageMaker::Endpoint" for c in risky):
            what = "THE ENDPOINT WOULD BE REPLACED (downtime, every model on it): " + what
        if self.confirm is None:
            return f"{what}; pass --yes to allow it"
        with self.confirm_lock:  # one question at a time
            if self.confirm(f"{t.stack}: {what}. Go ahead?"):
                return None
        return f"not confirmed: {what}"

    def _record(
        self,
        t: Target,
        kind: str,
        outcome: str,
        reason: str | None,
        record: Record | None,
        change_set: str | None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        rec = Record.new(
            environment=self.environment,
            stack=t.stack,
            kind=kind,
            outcome=outcome,
            who=self.who,
            template=t.template,
            spec=record.spec if record else t.spec,
            spec_text=record.spec_text if record else t.recorded_text,
            model=t.model,
            version=record.version if record else t.version,
            reason=reason,
            change_set=change_set,
            parameters=parameters,
            fingerprint=record.fingerprint if record else t.fingerprint,
        )
        write_record(
            self.history, self.pending, rec, lambda text: self.reporter.event(t.stack, text)
        )

    # --- rollback ------------------------------------------------------------------------

    def rollback_target(
        self, stack: str, model: str, to_version: int | None
    ) -> tuple[Target, Record]:
        """The recorded deployment to go back to: the version before the one that runs
        (found by comparing the live template with the records), or ``to_version``'s latest
        successful one."""
        scan = self.history.scan(self.environment, stack)
        if scan.damaged:
            more = f" (and {len(scan.damaged) - 1} more)" if len(scan.damaged) > 1 else ""
            raise LlmdeployError(
                f"cannot choose a version of {model} to roll back to: {scan.damaged[0]}{more}"
            )
        if not any(r.outcome == "succeeded" for r in scan.records):
            raise LlmdeployError(
                f"nothing to roll back to: no successful deployment of "
                f"{model} in {self.environment} on record"
            )
        running = self._running_record(stack, scan.records, to_version is None)
        done = [
            r
            for r in self.history.list(self.environment, stack)
            if r.outcome == "succeeded" and r.kind != "retire"
        ]
        if not done:
            raise LlmdeployError(
                f"nothing to roll back to: no successful deployment of "
                f"{model} in {self.environment} on record"
            )
        current = running or done[-1]
        # Versions go back along the deployments, never forward: after a rollback to v3, the
        # next rollback goes to what was deployed before v3 was first deployed, not to v4.
        deploys = [r for r in done if r.kind == "deploy"]
        introduced = next(
            (i for i in range(len(deploys) - 1, -1, -1) if deploys[i].version == current.version),
            len(deploys),
        )
        earlier = [r for r in deploys[:introduced] if r.version != current.version]
        if to_version is not None:
            picks = [r for r in done if r.version == to_version]
            if not picks:
                known = sorted({r.version for r in done if r.version is not None})
                raise LlmdeployError(
                    f"no successful deployment of {model} version {to_version} on record "
                    f"(recorded versions: {', '.join(map(str, known)) or 'none'})"
                )
            if to_version == current.version:
                raise LlmdeployError(
                    f"{model} is already at version {to_version} (its latest successful deployment)"
                )
            chosen = picks[-1]
        elif earlier:
            chosen = earlier[-1]
        else:
            raise LlmdeployError(
                f"nothing to roll back to: no successful deployment of {model} on record "
                f"before version {current.version} (give --to VERSION to go elsewhere)"
            )
        if running is not None and json.loads(chosen.template) == json.loads(running.template):
            raise LlmdeployError(
                f"{model} already runs the template of version {chosen.version} "
                f"(recorded {chosen.when}): nothing to roll back"
            )
        target = Target(
            stack,
            "model",
            model,
            chosen.template,
            chosen.spec,
            chosen.spec_text,
            model=model,
            version=chosen.version,
        )
        return target, chosen

    def _running_record(self, stack: str, records: list[Record], required: bool) -> Record | None:
        """The latest record whose template is what CloudFormation runs. A deployment that
        was interrupted (or whose record says failed) but completed is recorded now as what
        it became, so that rollback goes to the version before it, not before the last one
        on record as succeeded."""
        live = actions.deployed_template(self.cfn, stack)
        if live is None:
            return None
        matching = [
            r for r in records if r.kind != "retire" and actions.same_template(live, r.template)
        ]
        if not matching:
            if required:
                raise LlmdeployError(
                    f"what runs in {stack} matches no template in its history (deployed "
                    "outside llmdeploy, or records lost): refusing to guess which version is "
                    "current; give --to VERSION"
                )
            return None
        found = matching[-1]
        if found.outcome == "succeeded":
            return found
        reconciled = Record.new(
            environment=found.environment,
            stack=found.stack,
            kind=found.kind,
            outcome="succeeded",
            who=self.who,
            template=found.template,
            spec=found.spec,
            spec_text=found.spec_text,
            model=found.model,
            version=found.version,
            reason=f"found running: the {found.outcome} {found.kind} of {found.when} completed; "
            "recorded now",
            parameters=found.parameters,
            fingerprint=found.fingerprint,
        )
        write_record(
            self.history, self.pending, reconciled, lambda text: self.reporter.event(stack, text)
        )
        return reconciled


def _verb(c: actions.Change) -> str:
    if c.action == "Remove":
        return "REMOVE"
    if c.replacement in ("True", "Conditional"):
        return "REPLACE"
    return c.action.upper()
