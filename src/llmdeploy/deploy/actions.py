"""The CloudFormation verbs the engine uses, each turning AWS errors into messages."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from llmdeploy.deploy.aws import AWS_ERRORS, describe
from llmdeploy.errors import LlmdeployError

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]  # we name roles; nothing else is needed
# CloudFormation's limit for a template passed in the request (not through S3). The largest
# stacks the spec allows stay well under it (tests/synth/test_limits.py).
MAX_TEMPLATE_BODY = 51_200
DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
ROLLED_BACK = {
    "ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "UPDATE_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
}


ENVIRONMENT_TAG = "llmdeploy:environment"  # on every stack llmdeploy deploys: its owner

ROUTINE_REPLACEMENTS = frozenset({"AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig"})


class StackBusy(LlmdeployError):
    """Someone else's operation is running on the stack."""


class StackForeign(LlmdeployError):
    """The stack belongs to another environment."""


class Interrupted(Exception):
    """The user pressed Ctrl-C while we waited."""


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str | None  # True | False | Conditional (Modify only)
    details: tuple[str, ...] = ()

    @property
    def destructive(self) -> bool:
        if self.action == "Remove":
            return True
        # Every property of a SageMaker Model or EndpointConfig is create-only: any change
        # replaces them under a new generated name, the inference component or endpoint moves
        # to the new one and nothing is lost. That is a routine update, not a replacement to
        # ask about.
        return (
            self.replacement in ("True", "Conditional")
            and self.resource_type not in ROUTINE_REPLACEMENTS
        )


@dataclass(frozen=True)
class ChangeSet:
    id: str
    changes: tuple[Change, ...] = field(default=())
    empty: bool = False


@dataclass(frozen=True)
class StackInfo:
    name: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    id: str = ""
    # When CloudFormation last changed the stack (LastUpdatedTime, else CreationTime) and the
    # id of the last change set executed on it: what `deploy/unchanged.py` checks a history
    # record against. None where CloudFormation did not say.
    changed_at: datetime | None = None
    change_set: str | None = None

    @property
    def environment(self) -> str | None:
        """The environment the stack belongs to, by its tag (None: untagged)."""
        return self.tags.get(ENVIRONMENT_TAG)

    @staticmethod
    def of(described: dict[str, Any]) -> StackInfo:
        return StackInfo(
            described.get("StackName", ""),
            described.get("StackStatus", ""),
            {t.get("Key", ""): t.get("Value", "") for t in described.get("Tags") or []},
            described.get("StackId", ""),
            _when(described.get("LastUpdatedTime") or described.get("CreationTime")),
            described.get("ChangeSetId") or None,
        )


def _when(value: Any) -> datetime | None:
    """botocore's timestamp (a datetime; a string from a fake client), timezone-aware."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def stack_info(cfn: Any, stack: str) -> StackInfo | None:
    """The stack's status and tags, or None if it does not exist (or was deleted)."""
    try:
        (info,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in describe(exc):
            return None
        raise LlmdeployError(f"{stack}: {describe(exc)}") from exc
    except (*AWS_ERRORS, KeyError, ValueError) as exc:  # the network, or a garbled answer
        raise LlmdeployError(f"{stack}: cannot read the stack: {describe(exc)}") from exc
    if info.get("StackStatus") in ("DELETE_COMPLETE", "REVIEW_IN_PROGRESS"):
        return None
    return StackInfo.of(info)


def all_stacks(cfn: Any) -> dict[str, StackInfo]:
    """Every live stack of the account and region by name, from one paginated DescribeStacks:
    for many stacks, far fewer calls than one `stack_info` each."""
    found: dict[str, StackInfo] = {}
    try:
        for page in cfn.get_paginator("describe_stacks").paginate():
            for described in page.get("Stacks") or []:
                if described.get("StackStatus") in ("DELETE_COMPLETE", "REVIEW_IN_PROGRESS"):
                    continue
                info = StackInfo.of(described)
                found[info.name] = info
    except (*AWS_ERRORS, KeyError, ValueError) as exc:
        raise LlmdeployError(f"cannot list the stacks: {describe(exc)}") from exc
    return found


def stack_status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None if it does not exist (or was deleted)."""
    info = stack_info(cfn, stack)
    return info.status if info else None


def refuse_foreign(stack: str, info: StackInfo | None, environment: str) -> None:
    """Never touch a stack that another environment's tag claims."""
    owner = info.environment if info else None
    if owner is not None and owner != environment:
        raise StackForeign(
            f"{stack} belongs to environment '{owner}' (its {ENVIRONMENT_TAG} tag), not "
            f"'{environment}': refusing to touch it. The two environments' stack names "
            "collide: give one of them its own spec.stackPrefix"
        )


def deployed_template(cfn: Any, stack: str) -> Any | None:
    """The template CloudFormation runs now, parsed (botocore parses JSON bodies)."""
    try:
        body = cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
        return json.loads(body) if isinstance(body, str) else body
    except ClientError as exc:
        if "does not exist" in describe(exc):
            return None
        raise LlmdeployError(f"{stack}: {describe(exc)}") from exc
    except (*AWS_ERRORS, KeyError, ValueError) as exc:  # the network, or a garbled answer
        raise LlmdeployError(f"{stack}: cannot read its template: {describe(exc)}") from exc


def template_property(template: dict[str, Any], resource_type: str, key: str) -> str | None:
    """A literal string property of the template's first resource of a type (our names)."""
    for res in (template.get("Resources") or {}).values():
        if isinstance(res, dict) and res.get("Type") == resource_type:
            value = (res.get("Properties") or {}).get(key)
            return value if isinstance(value, str) else None
    return None


def same_template(deployed: Any, text: str) -> bool:
    """Whether ``text`` (a template as written, perhaps a damaged record's) parses to the
    template ``deployed`` (as botocore or json gave it)."""
    if deployed is None:
        return False
    try:
        return json.loads(json.dumps(deployed)) == json.loads(text)
    except (ValueError, RecursionError):
        return False


def create_change_set(
    cfn: Any,
    stack: str,
    template: str,
    *,
    exists: bool,
    poll: float,
    stop: Callable[[], bool],
    parameters: list[dict[str, str]] | None = None,
    tags: dict[str, str] | None = None,
) -> ChangeSet:
    size = len(template.encode())
    if size > MAX_TEMPLATE_BODY:
        raise LlmdeployError(
            f"{stack}: the template is {size} bytes; CloudFormation takes at most "
            f"{MAX_TEMPLATE_BODY} in a request. Split the model's settings or report this: "
            "llmdeploy's stacks are meant to stay far below it"
        )
    name = f"llmdeploy-{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03d}"
    try:
        created = cfn.create_change_set(
            StackName=stack,
            ChangeSetName=name,
            TemplateBody=template,
            ChangeSetType="UPDATE" if exists else "CREATE",
            Capabilities=CAPABILITIES,
            Description="llmdeploy",
            Parameters=parameters or [],
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )
    except AWS_ERRORS as exc:
        raise LlmdeployError(f"{stack}: cannot create a change set: {describe(exc)}") from exc
    cs_id = created["Id"]
    while True:
        if stop():
            raise Interrupted
        desc = cfn.describe_change_set(ChangeSetName=cs_id, StackName=stack)
        status = desc["Status"]
        if status == "CREATE_COMPLETE":
            break
        if status == "FAILED":
            reason = desc.get("StatusReason", "")
            if "didn't contain changes" in reason or "No updates" in reason:
                delete_change_set(cfn, stack, cs_id)
                return ChangeSet(cs_id, empty=True)
            raise LlmdeployError(f"{stack}: the change set failed: {reason}")
        time.sleep(poll)
    changes = []
    for c in desc.get("Changes", []):
        rc = c.get("ResourceChange", {})
        details = tuple(
            d.get("Target", {}).get("Name") or d.get("Target", {}).get("Attribute", "")
            for d in rc.get("Details", [])
        )
        changes.append(
            Change(
                rc.get("Action", "?"),
                rc.get("LogicalResourceId", "?"),
                rc.get("ResourceType", "?"),
                rc.get("Replacement"),
                tuple(x for x in details if x),
            )
        )
    return ChangeSet(cs_id, tuple(changes))


def delete_change_set(cfn: Any, stack: str, cs_id: str) -> None:
    # Best effort: an unexecuted change set costs nothing and expires.
    with contextlib.suppress(ClientError):
        cfn.delete_change_set(ChangeSetName=cs_id, StackName=stack)


def execute(
    cfn: Any,
    stack: str,
    change_set: ChangeSet,
    *,
    poll: float,
    stop: Callable[[], bool],
    on_event: Callable[[str], None],
) -> tuple[bool, str | None]:
    """Execute and wait. Returns (succeeded, CloudFormation's reason for a failure)."""
    seen = {e["EventId"] for e in _events(cfn, stack)}
    try:
        cfn.execute_change_set(ChangeSetName=change_set.id, StackName=stack)
    except AWS_ERRORS as exc:
        raise LlmdeployError(f"{stack}: cannot execute the change set: {describe(exc)}") from exc
    reason = None
    while True:
        found = _report_events(cfn, stack, seen, on_event)  # always: they are progress
        reason = reason or found
        # Right after ExecuteChangeSet the stack may still show its previous, settled status
        # (or REVIEW_IN_PROGRESS for a new one): decide only once the change set itself says
        # its execution has ended.
        if not _executing(cfn, stack, change_set.id):
            status = stack_status(cfn, stack)
            if status in DONE:
                return True, None
            if status in ROLLED_BACK or status is None:
                return False, reason or f"stack ended in {status}"
        if stop():
            raise Interrupted
        time.sleep(poll)


_PENDING = {"UNAVAILABLE", "AVAILABLE", "EXECUTE_IN_PROGRESS"}


def _executing(cfn: Any, stack: str, cs_id: str) -> bool:
    try:
        desc = cfn.describe_change_set(ChangeSetName=cs_id, StackName=stack)
    except ClientError:
        return False  # gone: the stack's status is all there is to go by
    return desc.get("ExecutionStatus") in _PENDING


def discard_new_stack(cfn: Any, stack: str) -> None:
    """Delete the empty REVIEW_IN_PROGRESS stack that a CREATE change set leaves behind when
    it is not executed (refused, or failed to create)."""
    with contextlib.suppress(*AWS_ERRORS):
        (info,) = cfn.describe_stacks(StackName=stack)["Stacks"]
        if info["StackStatus"] == "REVIEW_IN_PROGRESS":
            cfn.delete_stack(StackName=stack)


def _report_events(
    cfn: Any, stack: str, seen: set[str], on_event: Callable[[str], None]
) -> str | None:
    """Report the stack's events not seen yet, oldest first; the first failure's reason."""
    reason = None
    for event in reversed(_events(cfn, stack)):
        if event["EventId"] in seen:
            continue
        seen.add(event["EventId"])
        text = f"{event.get('LogicalResourceId')} {event.get('ResourceStatus')}"
        if event.get("ResourceStatusReason"):
            text += f": {event['ResourceStatusReason']}"
            if event.get("ResourceStatus", "").endswith("FAILED") and reason is None:
                reason = f"{event.get('LogicalResourceId')}: {event['ResourceStatusReason']}"
        on_event(text)
    return reason


def _events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    try:
        return cfn.describe_stack_events(StackName=stack)["StackEvents"][:100]
    except ClientError:
        return []


def delete(
    cfn: Any,
    info: StackInfo,
    *,
    poll: float,
    stop: Callable[[], bool],
    on_event: Callable[[str], None],
) -> tuple[bool, str | None]:
    """Delete the stack and wait. Returns (deleted, CloudFormation's reason for a failure)."""
    ref = info.id or info.name  # a deleted stack is found by its id only
    seen = {e["EventId"] for e in _events(cfn, ref)}
    try:
        cfn.delete_stack(StackName=ref)
    except AWS_ERRORS as exc:
        raise LlmdeployError(f"{info.name}: cannot delete the stack: {describe(exc)}") from exc
    reason = None
    while True:
        found = _report_events(cfn, ref, seen, on_event)  # always: they are progress
        reason = reason or found
        try:
            stacks = cfn.describe_stacks(StackName=ref)["Stacks"]
        except ClientError as exc:
            if "does not exist" in describe(exc):
                return True, None
            raise LlmdeployError(f"{info.name}: {describe(exc)}") from exc
        status = stacks[0]["StackStatus"] if stacks else "DELETE_COMPLETE"
        if status == "DELETE_COMPLETE":
            return True, None
        if status == "DELETE_FAILED":
            return False, reason or "stack ended in DELETE_FAILED"
        if stop():
            raise Interrupted
        time.sleep(poll)


def list_stacks(
    cfn: Any, prefixes: tuple[str, ...], listing: dict[str, StackInfo] | None = None
) -> list[StackInfo]:
    """Live stacks whose names start with one of ``prefixes``, with their tags, by name: from
    ``listing`` (an `all_stacks` this command already made) or a new one."""
    listing = all_stacks(cfn) if listing is None else listing
    return sorted(
        (s for s in listing.values() if s.name.startswith(prefixes)), key=lambda s: s.name
    )
