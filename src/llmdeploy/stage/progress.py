"""Progress of a staging run, on stderr: a rich display on a terminal, plain lines in logs
(and wherever NO_COLOR is set)."""

from __future__ import annotations

import sys
import threading
from typing import Protocol, TextIO


def size(n: int) -> str:
    """Bytes as people read them: 1.2 kB, 16.1 GB (decimal, as the Hub shows sizes)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


class Progress(Protocol):
    def begin(self, path: str, phase: str, total: int) -> None:
        """``phase``: "download" or "upload"."""

    def advance(self, n: int) -> None: ...

    def end(self, path: str, phase: str) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self) -> None: ...


class PlainProgress:
    """A line when a file starts and ends, and every quarter of a large one."""

    STEP_BYTES = 256 * 1024 * 1024  # files above this get lines at 25, 50 and 75%

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stderr
        self._lock = threading.Lock()  # the transfer manager calls back from its threads
        self._path, self._phase, self._total, self._done, self._shown = "", "", 0, 0, 0

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def begin(self, path: str, phase: str, total: int) -> None:
        with self._lock:
            self._path, self._phase, self._total, self._done, self._shown = (
                path,
                phase,
                total,
                0,
                0,
            )
        verb = "downloading" if phase == "download" else "uploading"
        self._line(f"{verb} {path} ({size(total)})")

    def advance(self, n: int) -> None:
        with self._lock:
            self._done += n
            if self._total < self.STEP_BYTES:
                return
            quarter = min(3, self._done * 4 // self._total)
            if quarter <= self._shown:
                return
            self._shown = quarter
        self._line(f"  {self._path}: {quarter * 25}% {self._phase}ed")

    def end(self, path: str, phase: str) -> None:
        self._line(f"{'downloaded' if phase == 'download' else 'uploaded'} {path}")

    def note(self, text: str) -> None:
        self._line(text)

    def close(self) -> None:
        pass


class RichProgress:
    """One bar for the file under way, one for all the bytes to upload."""

    def __init__(self, total_bytes: int):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bars

        self.console = Console(stderr=True)
        self.bars = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.phase = "download"
        self.file = self.bars.add_task("", total=1, visible=False)
        self.all = self.bars.add_task("all files (upload)", total=max(total_bytes, 1))
        self.bars.start()

    def begin(self, path: str, phase: str, total: int) -> None:
        from rich.markup import escape

        self.phase = phase
        self.bars.update(
            self.file,
            description=escape(f"{phase} {path}"),
            total=max(total, 1),
            completed=0,
            visible=True,
        )

    def advance(self, n: int) -> None:
        self.bars.advance(self.file, n)
        if self.phase == "upload":
            self.bars.advance(self.all, n)

    def end(self, path: str, phase: str) -> None:
        done = "downloaded" if phase == "download" else "uploaded"
        self.bars.console.print(f"{done} {path}", markup=False, highlight=False)

    def note(self, text: str) -> None:
        self.bars.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.bars.stop()


def for_terminal(total_bytes: int, *, plain: bool) -> Progress:
    """Plain lines (``plain``: not a terminal, NO_COLOR set...), else a rich display."""
    return PlainProgress() if plain else RichProgress(total_bytes)
