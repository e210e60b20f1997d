"""The words of deployment, as `StrEnum`s: what a stack or a history record is, and how an
operation on it ended. Each member is also the string written to records and JSON, so records
written before these existed read the same."""

from __future__ import annotations

from enum import StrEnum


class StackKind(StrEnum):
    ENDPOINT = "endpoint"  # a shared endpoint's stack
    MODEL = "model"  # a model on a shared endpoint
    DEDICATED = "dedicated"  # a model with an endpoint of its own
    DASHBOARDS = "dashboards"  # the environment's dashboards


class Kind(StrEnum):
    """What a history record records."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    RETIRE = "retire"


class Outcome(StrEnum):
    """How a recorded operation ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    REFUSED = "refused"


class StackOutcome(StrEnum):
    """What `deploy` or `rollback` did to one stack."""

    DEPLOYED = "deployed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    REFUSED = "refused"
    INTERRUPTED = "interrupted"
    ROLLED_BACK = "rolled back"


class RetireOutcome(StrEnum):
    """What `retire` did to one stack."""

    RETIRED = "retired"
    REFUSED = "refused"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


def coerce(obj: object, field: str, kind: type[StrEnum]) -> None:
    """Set a frozen dataclass's ``field`` to its enum member: a value outside ``kind`` is a
    bug (ValueError), never a silent new word in records."""
    object.__setattr__(obj, field, kind(getattr(obj, field)))
