"""When `diff` and `deploy` may call a stack unchanged without reading its template back.

Reading a live template costs a GetTemplate per stack: at 1,000 stacks most of what `diff`
spends after one model changed. A stack is taken as unchanged without it only when the
history and CloudFormation agree (docs/synthesis.md, "What diff trusts"):

- the history: the stack's latest successful deployment on record (no damaged record of the
  stack, whose digest was checked on read) was built from inputs of the same fingerprint as
  now, and its template is byte for byte the one synthesized now;
- CloudFormation: the stack is in a settled success (CREATE_COMPLETE, UPDATE_COMPLETE), it
  last changed (LastUpdatedTime, else CreationTime) no later than that record was written,
  and, where both name one, its last executed change set is the record's;
- and the record is not dated in the future (a hand-made record dated ahead would otherwise
  cover any change made before that date).

A stack updated outside llmdeploy since (UpdateStack, a change set, the console) moves its
LastUpdatedTime past the record and is compared as before. A record is evidence, not an
instruction: it can only make llmdeploy compare less, never deploy something, and `--no-cache`
compares every stack.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from llmdeploy.deploy.actions import DONE, StackInfo
from llmdeploy.deploy.history import Record, Scan, last_success

RECORD_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # Record.new's `when`
# A record written later than now (beyond this much clock skew) was not written by a deploy
# that happened: trusting it would let a stack changed before that time pass as unchanged.
FUTURE_SKEW = timedelta(minutes=5)


def as_recorded(
    info: StackInfo | None,
    scan: Scan,
    template: str,
    fingerprint: str | None,
    *,
    now: datetime | None = None,
) -> bool:
    """Whether the stack runs ``template`` by the evidence above (False: compare it)."""
    if info is None or info.status not in DONE or info.changed_at is None or scan.damaged:
        return False
    last = last_success(scan.records)
    if last is None or not _same_inputs(last, template, fingerprint):
        return False
    written = _written(last)
    if written is None or info.changed_at > written:
        return False
    if written > (now or datetime.now(UTC)) + FUTURE_SKEW:
        return False  # dated in the future: not evidence of anything
    return not (info.change_set and last.change_set and info.change_set != last.change_set)


def _same_inputs(record: Record, template: str, fingerprint: str | None) -> bool:
    return (
        fingerprint is not None
        and record.fingerprint == fingerprint
        and record.template == template
    )


def _written(record: Record) -> datetime | None:
    try:
        return datetime.strptime(record.when, RECORD_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None
