"""Progress of a deployment: stack events as they arrive. A rich display on a terminal,
plain timestamped lines elsewhere (CI logs)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Protocol


class Reporter(Protocol):
    def event(self, stack: str, text: str) -> None: ...

    def done(self, stack: str, outcome: str, reason: str | None = None) -> None: ...

    def close(self) -> None: ...

    def suspended(self) -> contextlib.AbstractContextManager: ...


class PlainReporter:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self.lock:
            print(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream, flush=True)

    def event(self, stack: str, text: str) -> None:
        self._line(f"{stack}: {text}")

    def done(self, stack: str, outcome: str, reason: str | None = None) -> None:
        self._line(f"{stack}: {outcome.upper()}" + (f" — {reason}" if reason else ""))

    def close(self) -> None:
        pass

    def suspended(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


class RichReporter:
    """A spinner line per stack under way, events scrolling above it."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.tasks: dict[str, int] = {}
        self.lock = threading.Lock()
        self.progress.start()

    def _task(self, stack: str) -> int:
        if stack not in self.tasks:
            self.tasks[stack] = self.progress.add_task(stack, total=None)
        return self.tasks[stack]

    def event(self, stack: str, text: str) -> None:
        with self.lock:
            self.progress.update(self._task(stack), description=f"{stack}: {text[:80]}")
            self.progress.console.log(f"[dim]{stack}[/dim] {text}", markup=True)

    def done(self, stack: str, outcome: str, reason: str | None = None) -> None:
        style = {"deployed": "green", "unchanged": "dim", "rolled back": "green"}.get(
            outcome, "red"
        )
        with self.lock:
            if stack in self.tasks:
                self.progress.remove_task(self.tasks.pop(stack))
            self.progress.console.print(
                f"[{style}]{outcome:>11}[/{style}] {stack}" + (f" — {reason}" if reason else "")
            )

    def close(self) -> None:
        self.progress.stop()  # idempotent; shows the cursor again

    @contextlib.contextmanager
    def suspended(self):
        self.progress.stop()
        try:
            yield
        finally:
            self.progress.start()


def live_display() -> bool:
    """A live display only on a terminal, and not with NO_COLOR (https://no-color.org) or
    TERM=dumb: plain lines there."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def reporter_for_terminal(plain_stream=None) -> Reporter:
    """A live display on a terminal, plain lines (on ``plain_stream``, default stdout)
    otherwise."""
    return RichReporter() if live_display() else PlainReporter(plain_stream)
