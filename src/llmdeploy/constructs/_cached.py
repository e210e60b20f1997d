"""aws-cdk-lib values that never change, asked of Node.js once per process: every jsii call is
a round trip of about half a millisecond, and a model stack asked these a dozen times.
Durations are immutable and the pseudo parameters (`Aws.PARTITION`…) are one token each for
the life of the runtime, so sharing them across stacks and apps changes no template."""

from __future__ import annotations

import weakref
from functools import cache

from aws_cdk import Aws, Duration

_SECONDS: weakref.WeakKeyDictionary[Duration, float] = weakref.WeakKeyDictionary()
_MILLIS: weakref.WeakKeyDictionary[Duration, float] = weakref.WeakKeyDictionary()


@cache
def minutes(amount: int) -> Duration:
    return Duration.minutes(amount)


@cache
def seconds(amount: int) -> Duration:
    return Duration.seconds(amount)


@cache
def millis(amount: int) -> Duration:
    return Duration.millis(amount)


def to_milliseconds(value: Duration) -> float:
    """`value.to_milliseconds()`, asked once per Duration object."""
    known = _MILLIS.get(value)
    if known is None:
        known = _MILLIS[value] = value.to_milliseconds()
    return known


def to_seconds(value: Duration) -> float:
    """`value.to_seconds()`, asked once per Duration object."""
    known = _SECONDS.get(value)
    if known is None:
        known = _SECONDS[value] = value.to_seconds()
    return known


@cache
def partition() -> str:
    return Aws.PARTITION


@cache
def region() -> str:
    return Aws.REGION


@cache
def account_id() -> str:
    return Aws.ACCOUNT_ID
