"""A closed-loop load test of one model, judged against its SLO.

At each concurrency level, that many worker threads send streamed requests back to back (one
boto3 client, thread-safe, with a connection per worker), for a number of requests or a
duration. Each request records its time to first token (TTFT), its mean time per output token
after the first (TPOT: (last token − first token) ÷ (tokens − 1)), its end-to-end latency and
its output tokens (one per streamed token line). Each level reports their percentiles, the
request and output-token throughput, and failures by AWS error code, throttling apart.

Threads rather than asyncio: botocore is synchronous, its clients are thread-safe, and a worker
blocked on a socket costs nothing; the timestamps are taken on the worker as each PayloadPart
is handed over. bench/serve.py measures how close the figures come to a runtime's known timing
and the request rate at which the harness's own overhead starts to show.

SLO: a model's `spec.slo` holds at `atConcurrency`. The level equal to it is judged; when the
levels asked for do not include it, it is added (`levels_for`), so a run always judges the
SLO where it is stated.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from llmdeploy.errors import Diagnostic, LlmdeployError, SpecError, clip
from llmdeploy.serve import stats
from llmdeploy.serve.formats import Prompt
from llmdeploy.serve.runtime import InvokeError, Runtime
from llmdeploy.spec.diagnose import suggest
from llmdeploy.spec.models import Slo

_CODE = """def merge_intervals(intervals):
    intervals = sorted(intervals)
    out = []
    for start, end in intervals:
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out
"""

_DOC = (
    "Release notes, version 4.2. The scheduler now places jobs on the least loaded worker "
    "instead of the first free one, which cut the p95 queueing delay in our staging cluster "
    "from 2.1 s to 0.4 s. Workers report their load every second over the control channel; a "
    "worker silent for five seconds is drained and its jobs are re-queued with their original "
    "priority. The retry policy changed too: a job that fails with a transient error is retried "
    "up to three times with exponential backoff starting at 200 ms, and a job that fails with a "
    "permanent error is sent to the dead-letter queue at once with the error attached. The "
    "command-line tool gained a --dry-run flag that prints the placement decisions without "
    "starting anything, and the dashboard shows per-worker queue depth. Known issues: workers "
    "on the old protocol (4.0 and earlier) do not report load and are treated as idle, so mixed "
    "clusters should upgrade every worker before enabling the new placement. "
)

# Short and long prompts: the long ones make prefill (and so TTFT) count.
BUILTIN_PROMPTS: tuple[Prompt, ...] = (
    Prompt("What is the capital of France? Answer in one sentence."),
    Prompt("Write a haiku about autumn rain."),
    Prompt("Explain what a hash map is to a new programmer."),
    Prompt("List three uses of a binary search."),
    Prompt("Review this Python function and suggest improvements:\n\n" + _CODE * 3),
    Prompt("Summarise these release notes for a customer newsletter:\n\n" + _DOC * 3),
    Prompt("Translate to German: 'The meeting moved to Thursday at ten.'"),
    Prompt(
        "Answer the questions about this text, one line each. What changed in placement? "
        "What is the retry policy? What are the known issues?\n\n" + _DOC * 2
    ),
)


@dataclass(frozen=True)
class BenchPrompt:
    prompt: Prompt
    max_tokens: int | None = None  # None: the run's --max-tokens


_PROMPT_KEYS = ("prompt", "system", "max_tokens")


def load_prompts(path: Path) -> list[BenchPrompt]:
    """Prompts from a JSON-lines file: one ``{"prompt": "...", "system": "...",
    "max_tokens": 64}`` per line (``system`` and ``max_tokens`` optional), or a bare JSON
    string. Every bad line is reported with its line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LlmdeployError(f"--prompts {path}: cannot read it ({exc})") from None
    out: list[BenchPrompt] = []
    problems: list[Diagnostic] = []

    def bad(line: int, where: str, message: str, fix: str, value=None) -> None:
        extra = {} if value is None else {"value": value}
        problems.append(Diagnostic(str(path), line, 1, where, message, fix=fix, **extra))

    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as exc:
            bad(number, "(line)", f"not JSON: {exc.msg}", 'write {"prompt": "..."} on one line')
            continue
        before = len(problems)
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict):
            bad(number, "(line)", "a prompt is a JSON object or string", 'write {"prompt": "..."}')
            continue
        unknown = [k for k in item if k not in _PROMPT_KEYS]
        for key in unknown:
            bad(number, key, "unknown key", suggest(key, _PROMPT_KEYS, "allowed keys"))
        user, system, limit = item.get("prompt"), item.get("system"), item.get("max_tokens")
        if not isinstance(user, str) or not user.strip():
            bad(number, "prompt", "must be a non-empty string", 'add "prompt": "..."', value=user)
        if system is not None and not isinstance(system, str):
            bad(number, "system", "must be a string", "quote it", value=system)
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000
        ):
            bad(
                number,
                "max_tokens",
                "must be a whole number from 1 to 100000",
                "e.g. 128",
                value=limit,
            )
        if len(problems) == before:
            out.append(BenchPrompt(Prompt(user, system), limit))
    if problems:
        raise SpecError(problems)
    if not out:
        raise LlmdeployError(
            f"--prompts {path}: no prompts in it; write one JSON object per line, "
            'e.g. {"prompt": "Explain TCP slow start.", "max_tokens": 128}'
        )
    return out


def builtin_prompts() -> list[BenchPrompt]:
    return [BenchPrompt(p) for p in BUILTIN_PROMPTS]


# --- Measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One request: its timing (seconds), or what went wrong."""

    started_s: float  # from the level's start
    e2e_s: float
    ttft_s: float | None = None
    tpot_s: float | None = None
    tokens: int = 0
    error: str | None = None  # the error kind (AWS error code, connection, timeout, format)
    throttle: bool = False
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Level:
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    def figures(self, name: str) -> list[float]:
        """Seconds (or tokens) of the successful requests that have the figure."""
        return [v for s in self.ok if (v := getattr(s, name)) is not None]

    def percentile_ms(self, name: str, q: float) -> float | None:
        value = stats.percentile(self.figures(name), q)
        return None if value is None else value * 1000

    @property
    def failures(self) -> int:
        return len(self.samples) - len(self.ok)

    @property
    def error_rate_percent(self) -> float:
        return 100 * self.failures / len(self.samples) if self.samples else 0.0

    def to_dict(self) -> dict:
        ok = self.ok
        tokens = sum(s.tokens for s in ok)
        wall = self.wall_s or float("nan")
        errors = Counter(s.error for s in self.samples if s.error and not s.throttle)
        throttles = Counter(s.error for s in self.samples if s.error and s.throttle)
        messages = {}
        for s in self.samples:
            if s.error and s.error not in messages:
                messages[s.error] = clip(s.message or "", 300)
        return {
            "concurrency": self.concurrency,
            "requests": len(self.samples),
            "succeeded": len(ok),
            "duration_s": self.wall_s,
            "requests_per_s": len(ok) / wall if self.wall_s else 0.0,
            "output_tokens_per_s": tokens / wall if self.wall_s else 0.0,
            "ttft_ms": stats.summary(self.figures("ttft_s"), 1000),
            "tpot_ms": stats.summary(self.figures("tpot_s"), 1000),
            "e2e_ms": stats.summary(self.figures("e2e_s"), 1000),
            "output_tokens": stats.summary([s.tokens for s in ok]),
            "error_rate_percent": self.error_rate_percent,
            "errors": dict(errors),
            "throttles": dict(throttles),
            "first_messages": messages,
        }


class Progress(Protocol):
    def level_started(self, concurrency: int, total: int | None, duration_s: float | None): ...

    def sample(self, level: Level, sample: Sample) -> None: ...

    def level_done(self, level: Level) -> None: ...


class _Quiet:
    def level_started(self, concurrency, total, duration_s):
        pass

    def sample(self, level, sample):
        pass

    def level_done(self, level):
        pass


def default_requests(concurrency: int) -> int:
    """Requests per level when neither --requests nor --duration is given: four rounds of
    the level's workers, at least 16, so that p90 rests on more than a handful."""
    return max(16, 4 * concurrency)


def run_level(
    runtime: Runtime,
    prompts: Sequence[BenchPrompt],
    concurrency: int,
    *,
    max_tokens: int,
    requests: int | None = None,
    duration_s: float | None = None,
    progress: Progress | None = None,
) -> Level:
    """``concurrency`` workers send streamed requests back to back: ``requests`` in all, or
    as many as they start within ``duration_s``."""
    if requests is None and duration_s is None:
        requests = default_requests(concurrency)
    progress = progress or _Quiet()
    level = Level(concurrency)
    lock = threading.Lock()
    issued = 0
    progress.level_started(concurrency, requests, duration_s)
    start = time.perf_counter()
    deadline = None if duration_s is None else start + duration_s

    def next_index() -> int | None:
        nonlocal issued
        with lock:
            if requests is not None and issued >= requests:
                return None
            if deadline is not None and time.perf_counter() >= deadline:
                return None
            issued += 1
            return issued - 1

    def worker() -> None:
        while (index := next_index()) is not None:
            item = prompts[index % len(prompts)]
            began = time.perf_counter()
            try:
                reply = runtime.stream(item.prompt, max_tokens=item.max_tokens or max_tokens)
                sample = Sample(
                    began - start,
                    reply.e2e_s,
                    reply.ttft_s,
                    reply.tpot_s,
                    reply.tokens,
                )
            except InvokeError as exc:
                sample = Sample(
                    began - start,
                    time.perf_counter() - began,
                    error=exc.kind,
                    throttle=exc.throttle,
                    message=str(exc),
                )
            with lock:
                level.samples.append(sample)
            progress.sample(level, sample)

    threads = [
        threading.Thread(target=worker, name=f"bench-{concurrency}-{i}", daemon=True)
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    level.wall_s = time.perf_counter() - start
    level.samples.sort(key=lambda s: s.started_s)
    progress.level_done(level)
    return level


# Failures that no level can get past: stop before the levels instead of counting them.
_FATAL = frozenset(
    {
        "connection",
        "NoCredentials",
        "ValidationError",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "format",
    }
)


def warm_up(runtime: Runtime) -> None:
    """One uncounted request: botocore's first call loads its endpoint rules and credentials
    and opens a connection (tens of ms), which would otherwise land in the first sample.
    Raises the InvokeError of a failure no level could get past (no such endpoint, no
    credentials, no connection, an answer in another format); a throttle is left to the run."""
    try:
        runtime.stream(SMOKE_PROMPT, max_tokens=1)
    except InvokeError as exc:
        if exc.kind in _FATAL:
            raise


def levels_for(levels: Sequence[int], slo: Slo | None) -> list[int]:
    """The levels to run: those asked for, plus the SLO's atConcurrency, ascending."""
    wanted = set(levels)
    if slo is not None:
        wanted.add(slo.at_concurrency)
    return sorted(wanted)


def parse_levels(text: str) -> list[int]:
    """``"1,8,32"`` → [1, 8, 32]; a located error for anything else."""
    out: list[int] = []
    for part in text.split(","):
        item = part.strip()
        if not item.isdigit() or not 1 <= int(item) <= 1024:
            raise LlmdeployError(
                f"--concurrency {text}: {item!r} is not a whole number from 1 to 1024; "
                "give levels separated by commas, e.g. --concurrency 1,8,32"
            )
        out.append(int(item))
    return sorted(set(out))


# --- The SLO ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    figure: str  # ttft_ms, tpot_ms, p95_latency_ms, error_rate_percent
    measured: float | None  # None: no successful request to measure
    limit: float
    concurrency: int
    message: str

    def to_dict(self) -> dict:
        return {
            "figure": self.figure,
            "measured": self.measured,
            "slo": self.limit,
            "concurrency": self.concurrency,
            "message": self.message,
        }


_FIGURES = (
    # (SLO field, label, sample figure, percentile)
    ("ttft_ms", "TTFT p50", "ttft_s", 50),
    ("tpot_ms", "TPOT p50", "tpot_s", 50),
    ("p95_latency_ms", "latency p95", "e2e_s", 95),
)


def _num(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def judge(level: Level, slo: Slo) -> list[Breach]:
    """What ``level`` breaks of ``slo``, each figure with its excess."""
    out: list[Breach] = []
    c = level.concurrency
    for key, label, figure, q in _FIGURES:
        limit = getattr(slo, key)
        if limit is None:
            continue
        measured = level.percentile_ms(figure, q)
        if measured is None:
            out.append(
                Breach(
                    key,
                    None,
                    limit,
                    c,
                    f"{label}: no successful request to measure at "
                    f"concurrency {c} (SLO {_num(limit)} ms)",
                )
            )
        elif measured > limit:
            excess = 100 * (measured - limit) / limit
            out.append(
                Breach(
                    key,
                    measured,
                    limit,
                    c,
                    f"{label} {measured:.1f} ms > SLO "
                    f"{_num(limit)} ms (+{excess:.0f}%) at concurrency {c}",
                )
            )
    limit = slo.error_rate_percent
    if limit is not None and level.error_rate_percent > limit:
        rate = level.error_rate_percent
        out.append(
            Breach(
                "error_rate_percent",
                rate,
                limit,
                c,
                f"error rate {rate:.1f}% > SLO "
                f"{_num(limit)}% (+{rate - limit:.1f} points) at concurrency {c} "
                f"({level.failures} of {len(level.samples)} requests failed)",
            )
        )
    return out


def judged_level(levels: Sequence[Level], slo: Slo) -> Level | None:
    return next((lv for lv in levels if lv.concurrency == slo.at_concurrency), None)


# --- For deploy: one smoke request, a short SLO check -----------------------------------------

SMOKE_PROMPT = Prompt("Reply with a short greeting.")


@dataclass(frozen=True)
class Smoke:
    ttft_ms: float | None
    e2e_ms: float
    tokens: int
    first_words: str

    @property
    def ok(self) -> bool:
        return self.tokens > 0

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "ttft_ms": self.ttft_ms,
            "e2e_ms": self.e2e_ms,
            "tokens": self.tokens,
            "first_words": self.first_words,
        }


def smoke(runtime: Runtime, *, max_tokens: int = 16, words: int = 12) -> Smoke:
    """One streamed request: its TTFT and the first words of the answer. Raises InvokeError
    when the request fails."""
    reply = runtime.stream(SMOKE_PROMPT, max_tokens=max_tokens)
    first = " ".join(reply.text.split()[:words])
    return Smoke(
        None if reply.ttft_s is None else reply.ttft_s * 1000,
        reply.e2e_s * 1000,
        reply.tokens,
        first,
    )


@dataclass(frozen=True)
class SloCheck:
    level: Level
    breaches: tuple[Breach, ...]

    @property
    def passed(self) -> bool:
        return not self.breaches


def slo_check(
    runtime: Runtime,
    slo: Slo,
    *,
    requests: int | None = None,
    max_tokens: int = 64,
    progress: Progress | None = None,
) -> SloCheck:
    """A short bench at the SLO's concurrency (the built-in prompts; by default two rounds of
    its workers, at least 8 requests), judged against it."""
    c = slo.at_concurrency
    level = run_level(
        runtime,
        builtin_prompts(),
        c,
        max_tokens=max_tokens,
        requests=requests or max(8, 2 * c),
        progress=progress,
    )
    return SloCheck(level, tuple(judge(level, slo)))
