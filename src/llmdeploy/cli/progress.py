"""How far a long command is: a live line on a terminal (stacks done of total, elapsed), plain
timestamped lines otherwise (CI logs, pipes, NO_COLOR), always on stderr so that stdout stays
the command's report."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

from llmdeploy.cli.common import OutputFormat, plain_output


class PlainProgress:
    """One line per phase, and per stack at most every 10% (1,000 stacks: 10 lines)."""

    def __init__(self, title: str, stream=None):
        self.title = title
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self._next = 0.0

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"{self.title}: {text} ({elapsed:.1f} s)", file=self.stream, flush=True)

    def phase(self, text: str) -> None:
        self._line(text)

    def stack(self, done: int, total: int, name: str) -> None:
        if done >= total or done / total >= self._next:
            self._line(f"{done}/{total} stacks")
            self._next = done / total + 0.1


class LiveProgress:
    """A rich status line that redraws in place."""

    def __init__(self, title: str):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task(title, total=None)
        self.title = title
        self.bar.start()

    def phase(self, text: str) -> None:
        self.bar.update(self.task, description=f"{self.title}: {text}")

    def stack(self, done: int, total: int, name: str) -> None:
        self.bar.update(self.task, completed=done, total=total, description=f"{self.title}: {name}")

    def close(self) -> None:
        self.bar.stop()


@contextlib.contextmanager
def progress_for(output: OutputFormat, title: str) -> Iterator[PlainProgress | LiveProgress]:
    if output is OutputFormat.json or plain_output(sys.stderr):
        yield PlainProgress(title)
        return
    live = LiveProgress(title)
    try:
        yield live
    finally:
        live.close()
