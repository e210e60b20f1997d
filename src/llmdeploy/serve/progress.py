"""Progress of a bench: a live display on a terminal, plain lines elsewhere (CI logs, NO_COLOR).

Both write to stderr, so that stdout holds only the results (`-o json` stays parseable).
"""

from __future__ import annotations

import sys
import threading
import time

from llmdeploy.serve.bench import Level, Sample


def _brief(level: Level) -> str:
    ttft = level.percentile_ms("ttft_s", 50)
    tpot = level.percentile_ms("tpot_s", 50)
    text = f"{len(level.samples)} done"
    if ttft is not None:
        text += f", TTFT p50 {ttft:.1f} ms"
    if tpot is not None:
        text += f", TPOT p50 {tpot:.1f} ms"
    if level.failures:
        text += f", {level.failures} failed"
    return text


class PlainProgress:
    """A line when a level starts, one at each quarter of its requests (or every 10 s of a
    duration), and one when it ends."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.total: int | None = None
        self.next_mark = 0
        self.last_line = 0.0

    def _line(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream, flush=True)

    def level_started(self, concurrency: int, total: int | None, duration_s: float | None):
        with self.lock:
            self.total = total
            self.next_mark = 1
            self.last_line = time.monotonic()
            what = f"{total} requests" if total is not None else f"{duration_s:g} s"
            self._line(f"concurrency {concurrency}: {what}")

    def sample(self, level: Level, sample: Sample) -> None:
        with self.lock:
            n = len(level.samples)
            if self.total is not None:
                if self.next_mark < 4 and n >= self.total * self.next_mark / 4:
                    self.next_mark += 1
                    self._line(f"concurrency {level.concurrency}: {_brief(level)}")
            elif time.monotonic() - self.last_line >= 10:
                self.last_line = time.monotonic()
                self._line(f"concurrency {level.concurrency}: {_brief(level)}")

    def level_done(self, level: Level) -> None:
        with self.lock:
            self._line(
                f"concurrency {level.concurrency}: finished in {level.wall_s:.1f} s, "
                + _brief(level)
            )

    def close(self) -> None:
        pass


class RichProgress:
    """A bar per level with its running figures; finished levels stay as a line above."""

    REFRESH_S = 0.1

    def __init__(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]concurrency {task.fields[concurrency]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[brief]}"),
            console=self.console,
            transient=True,
        )
        self.task = None
        self.lock = threading.Lock()
        self.last = 0.0
        self.progress.start()

    def level_started(self, concurrency: int, total: int | None, duration_s: float | None):
        with self.lock:
            self.task = self.progress.add_task(
                "", total=total, concurrency=concurrency, brief="starting"
            )
            self.duration_s = duration_s
            self.started = time.monotonic()

    def sample(self, level: Level, sample: Sample) -> None:
        with self.lock:
            now = time.monotonic()
            self.progress.advance(self.task)
            if now - self.last < self.REFRESH_S:
                return
            self.last = now
            self.progress.update(self.task, brief=_brief(level))

    def level_done(self, level: Level) -> None:
        with self.lock:
            self.progress.remove_task(self.task)
            self.progress.console.print(
                f"concurrency {level.concurrency}: {level.wall_s:.1f} s, {_brief(level)}",
                highlight=False,
            )

    def close(self) -> None:
        self.progress.stop()
