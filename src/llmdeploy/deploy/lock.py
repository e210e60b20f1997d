"""One deploy, rollback or retire per environment at a time.

The lock lives in the environment's history store, where every operator's runs meet: a file
created exclusively in the local folder, an object written with S3's conditional
`If-None-Match: *` in the S3 store. A second run waits up to its timeout, then stops and
says who holds the lock and since when. A lock whose run died stays until it is broken
explicitly (`llmdeploy unlock`): guessing that a run on another machine is dead would let
two deploys run at once, which is what the lock is for.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from llmdeploy.errors import LlmdeployError, printable


@dataclass(frozen=True)
class LockInfo:
    environment: str
    operation: str  # deploy | rollback | retire
    who: str
    host: str
    pid: int
    since: str  # ISO 8601, UTC
    id: str

    @staticmethod
    def new(environment: str, operation: str, who: str) -> LockInfo:
        return LockInfo(
            environment,
            operation,
            who,
            socket.gethostname(),
            os.getpid(),
            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            uuid.uuid4().hex[:12],
        )

    @staticmethod
    def parse(data: Any, environment: str) -> LockInfo:
        """A lock as stored; an unreadable one still names what it can (and still locks)."""
        d = data if isinstance(data, dict) else {}

        def text(key: str) -> str:
            value = d.get(key)
            return printable(value[:200]) if isinstance(value, str) and value else "unknown"

        pid = d.get("pid")
        return LockInfo(
            environment,
            text("operation"),
            text("who"),
            text("host"),
            pid if isinstance(pid, int) and not isinstance(pid, bool) else -1,
            text("since"),
            text("id"),
        )

    def describe(self) -> str:
        age = _age(self.since)
        where = f"{self.host}, pid {self.pid}" if self.pid >= 0 else self.host
        return (
            f"{self.operation} by {self.who} ({where}) since {self.since}"
            + (f", {age} ago" if age else "")
            + (" — that process is no longer running on this host" if self.dead_here else "")
        )

    @property
    def dead_here(self) -> bool:
        """The holder ran on this machine and its process is gone: the lock is stale."""
        if self.host != socket.gethostname() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False


class LockStore(Protocol):
    def try_lock(self, info: LockInfo) -> LockInfo | None:
        """Take the lock: None when taken, or the holder's lock."""

    def read_lock(self, environment: str) -> LockInfo | None: ...

    def unlock(self, environment: str, lock_id: str) -> None:
        """Release the lock if it is still ``lock_id``'s."""

    def break_lock(self, environment: str) -> None:
        """Remove the lock whoever holds it."""


class Locked(LlmdeployError):
    """Another run holds the environment's lock."""


@contextlib.contextmanager
def hold(
    store: LockStore,
    environment: str,
    who: str,
    operation: str,
    *,
    timeout: float = 0.0,
    poll: float = 2.0,
    warn: Callable[[str], None] | None = None,
) -> Iterator[LockInfo]:
    """Hold the environment's lock for the block; wait up to ``timeout`` seconds for it.
    A lock that cannot be released (the store unreachable) is reported through ``warn``,
    never raised over the block's own outcome."""
    mine = LockInfo.new(environment, operation, who)
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        holder = store.try_lock(mine)
        if holder is None:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            waited = f" after waiting {timeout:g} s" if timeout > 0 else ""
            raise Locked(
                f"environment '{environment}' is locked{waited}: {holder.describe()}. Wait for "
                f"it (--lock-timeout SECONDS), or, if that run is gone, break the lock with "
                f"`llmdeploy unlock --env {environment}`"
            )
        time.sleep(min(poll, left))
    try:
        yield mine
    finally:
        try:
            store.unlock(environment, mine.id)
        except LlmdeployError as exc:
            if warn is None:
                raise
            warn(
                f"{exc}; the lock stays: break it with `llmdeploy unlock --env {environment}` "
                "once you have checked that nothing else runs"
            )


def _age(since: str) -> str | None:
    try:
        then = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
