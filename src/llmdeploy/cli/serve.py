"""`llmdeploy invoke`, `bench` and `probe`: talking to a deployed model through SageMaker
Runtime, with the endpoint and inference component found from the specs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.common import (
    EnvOption,
    OutputFormat,
    OutputOption,
    SpecsOption,
    boundary,
    checked_or_exit,
    emit_json,
)

ModelArgument = Annotated[str, typer.Argument(help="The model (its metadata.name).")]
MaxTokensOption = Annotated[
    int,
    typer.Option("--max-tokens", min=1, max=100_000, help="Most tokens the model may answer."),
]


def _target(model: str, env: str, specs, output: OutputFormat):
    from llmdeploy.serve.runtime import resolve

    checked = checked_or_exit(specs, [env], output)
    return resolve(checked, env, model)


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.1f} ms"


@boundary
def invoke(
    model: ModelArgument,
    env: EnvOption = ...,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="The prompt text.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Read the prompt from this file (- for stdin)."),
    ] = None,
    system: Annotated[
        str | None, typer.Option("--system", help="A system prompt to send first.")
    ] = None,
    stream: Annotated[
        bool,
        typer.Option("--stream", help="Print the answer token by token as it arrives (with TTFT)."),
    ] = False,
    max_tokens: MaxTokensOption = 256,
    specs: SpecsOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Send one prompt to a deployed model and print its answer."""
    from llmdeploy.errors import LlmdeployError
    from llmdeploy.serve.formats import Prompt
    from llmdeploy.serve.runtime import Runtime

    if (prompt is None) == (file is None):
        raise LlmdeployError("give the prompt with --prompt TEXT or --file FILE (one of them)")
    if file is not None:
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LlmdeployError(f"--file {file}: cannot read it ({exc})") from None
    else:
        text = prompt or ""
    if not text.strip():
        raise LlmdeployError("the prompt is empty: give some text with --prompt or --file")
    target = _target(model, env, specs, output)
    runtime = Runtime(target)
    question = Prompt(text, system)
    live = stream and output is OutputFormat.text

    def show(token: str) -> None:
        sys.stdout.write(token)
        sys.stdout.flush()  # each token as it arrives, even into a pipe

    if stream:
        reply = runtime.stream(question, max_tokens=max_tokens, on_text=show if live else None)
    else:
        reply = runtime.complete(question, max_tokens=max_tokens)
    if output is OutputFormat.json:
        emit_json(
            target.to_dict()
            | {
                "text": reply.text,
                "output_tokens": reply.tokens,
                "ttft_ms": None if reply.ttft_s is None else reply.ttft_s * 1000,
                "tpot_ms": None if reply.tpot_s is None else reply.tpot_s * 1000,
                "e2e_ms": reply.e2e_s * 1000,
            }
        )
        return
    if live:
        print(flush=True)
    else:
        print(reply.text)
    figures = f"{reply.tokens} tokens in {_ms(reply.e2e_s)}" if reply.tokens else _ms(reply.e2e_s)
    if reply.ttft_s is not None:
        figures = f"TTFT {_ms(reply.ttft_s)}, {figures}"
    print(f"({figures}; {target.describe()})", file=sys.stderr)


@boundary
def bench(
    model: ModelArgument,
    env: EnvOption = ...,
    concurrency: Annotated[
        str,
        typer.Option(
            "--concurrency",
            "-c",
            help="Concurrency levels, comma-separated. The SLO's atConcurrency is added when "
            "missing.",
        ),
    ] = "1,8,32",
    requests: Annotated[
        int | None,
        typer.Option(
            "--requests",
            "-n",
            min=1,
            help="Requests per level. Default: 4 × the level, at least 16.",
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration", min=0.1, help="Seconds per level, instead of a number of requests."
        ),
    ] = None,
    prompts: Annotated[
        Path | None,
        typer.Option(
            "--prompts",
            help='JSON lines: {"prompt": "...", "system": "...", "max_tokens": N} per line. '
            "Default: a built-in set of short and long prompts.",
        ),
    ] = None,
    max_tokens: MaxTokensOption = 128,
    slo: Annotated[
        bool,
        typer.Option(
            "--slo/--no-slo",
            help="Judge the model's spec.slo at its atConcurrency; exit 1 when it breaks.",
        ),
    ] = True,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Write bench.html (table and charts, self-contained) and bench.json to "
            "this folder.",
        ),
    ] = None,
    specs: SpecsOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Load-test a deployed model: TTFT, TPOT, latency and throughput per concurrency level,
    judged against its SLO."""
    import datetime

    from llmdeploy.cli.common import plain_output
    from llmdeploy.errors import LlmdeployError
    from llmdeploy.serve import bench as lib
    from llmdeploy.serve import report as html
    from llmdeploy.serve.progress import PlainProgress, RichProgress
    from llmdeploy.serve.runtime import Runtime

    if requests is not None and duration is not None:
        raise LlmdeployError("give --requests or --duration, not both")
    levels = lib.parse_levels(concurrency)
    items = lib.load_prompts(prompts) if prompts is not None else lib.builtin_prompts()
    target = _target(model, env, specs, output)
    judged = target.slo if slo else None
    run_levels = lib.levels_for(levels, judged)
    if judged is not None and judged.at_concurrency not in levels:
        print(
            f"note: added concurrency {judged.at_concurrency}, where the SLO is stated "
            "(spec.slo.atConcurrency)",
            file=sys.stderr,
        )
    # One connection per worker: the pool must not queue requests inside the harness.
    runtime = Runtime(target, pool=max(run_levels) + 4, retries=False)
    lib.warm_up(runtime)
    progress = PlainProgress(sys.stderr) if plain_output(sys.stderr) else RichProgress()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    done: list[lib.Level] = []
    try:
        for c in run_levels:
            done.append(
                lib.run_level(
                    runtime,
                    items,
                    c,
                    max_tokens=max_tokens,
                    requests=requests,
                    duration_s=duration,
                    progress=progress,
                )
            )
    except KeyboardInterrupt:
        progress.close()
        print("interrupted: no results (the levels did not finish)", file=sys.stderr)
        raise typer.Exit(130) from None
    finally:
        progress.close()
    result = {
        "target": target.to_dict(),
        "started": started,
        "max_tokens": max_tokens,
        "prompts": str(prompts) if prompts else "built-in",
        "requests_per_level": requests,
        "duration_s_per_level": duration,
        "levels": [lv.to_dict() for lv in done],
        "slo": None,
    }
    breaches = []
    if judged is not None:
        level = lib.judged_level(done, judged)
        breaches = lib.judge(level, judged) if level is not None else []
        result["slo"] = judged.model_dump(mode="json", by_alias=False) | {
            "passed": not breaches,
            "breaches": [b.to_dict() for b in breaches],
        }
    if report is not None:
        page, _ = html.write(report, result, done)
        print(f"report: {page}", file=sys.stderr)
    if output is OutputFormat.json:
        emit_json(result)
    else:
        _print_bench(result, target.slo is not None and not slo)
    nothing = all(not lv.ok for lv in done)
    if nothing:
        print("error: no request succeeded", file=sys.stderr)
    if breaches or nothing:
        raise typer.Exit(1)


def _cell(summary: dict, key: str = "p50", digits: int = 1) -> str:
    value = summary.get(key)
    return "–" if value is None else f"{value:.{digits}f}"


def _print_bench(result: dict, slo_skipped: bool) -> None:
    t = result["target"]
    where = t["endpoint"] + (f" / {t['inference_component']}" if t["inference_component"] else "")
    print(f"{t['model']} in {t['environment']}: {where} ({t['request_format']})")
    head = (
        f"{'concurrency':>11} {'requests':>8} {'TTFT p50':>9} {'p95':>8} {'TPOT p50':>9} "
        f"{'p95':>7} {'latency p50':>12} {'p95':>9} {'req/s':>7} {'tokens/s':>9} {'failed':>6}"
    )
    print(head)
    for d in result["levels"]:
        failed = sum(d["errors"].values()) + sum(d["throttles"].values())
        print(
            f"{d['concurrency']:>11} {d['requests']:>8} {_cell(d['ttft_ms']):>9} "
            f"{_cell(d['ttft_ms'], 'p95'):>8} {_cell(d['tpot_ms'], 'p50', 2):>9} "
            f"{_cell(d['tpot_ms'], 'p95', 2):>7} {_cell(d['e2e_ms'], 'p50', 0):>12} "
            f"{_cell(d['e2e_ms'], 'p95', 0):>9} {d['requests_per_s']:>7.2f} "
            f"{d['output_tokens_per_s']:>9.1f} {failed:>6}"
        )
    print("(times in ms)")
    for d in result["levels"]:
        kinds = [f"{n} {k} (throttled)" for k, n in d["throttles"].items()]
        kinds += [f"{n} {k}" for k, n in d["errors"].items()]
        if kinds:
            print(f"concurrency {d['concurrency']}: {', '.join(kinds)}")
            for kind, message in d["first_messages"].items():
                print(f"    {kind}: {message}")
    slo = result["slo"]
    if slo is None:
        if slo_skipped:
            print("SLO not judged (--no-slo)")
        return
    if slo["passed"]:
        print(f"SLO met at concurrency {slo['at_concurrency']}")
    for b in slo["breaches"]:
        print(f"SLO broken: {b['message']}")


@boundary
def probe(
    model: ModelArgument,
    env: EnvOption = ...,
    probes_file: Annotated[
        Path | None,
        typer.Option(
            "--probes",
            help="Your own probes too: YAML (a `probes:` list) or JSON lines (.jsonl).",
        ),
    ] = None,
    builtin: Annotated[
        bool,
        typer.Option("--builtin/--no-builtin", help="Run the built-in suite."),
    ] = True,
    max_tokens: MaxTokensOption = 256,
    specs: SpecsOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Prompt-injection and sensitive-information probes with canaries; exit 1 on a failure.
    A pass is evidence for these prompts only, not proof of safety (docs/serving.md)."""
    from llmdeploy.errors import LlmdeployError, printable
    from llmdeploy.serve import probes as lib
    from llmdeploy.serve.runtime import Runtime

    suite = list(lib.BUILTIN) if builtin else []
    if probes_file is not None:
        suite += lib.load(probes_file)
    if not suite:
        raise LlmdeployError("no probes to run: drop --no-builtin or give --probes FILE")
    target = _target(model, env, specs, output)
    results = lib.run(Runtime(target), suite, max_tokens=max_tokens)
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "error")}
    if output is OutputFormat.json:
        emit_json(
            {
                "target": target.to_dict(),
                "passed": counts["fail"] == 0 and counts["error"] == 0,
                "counts": counts,
                "probes": [r.to_dict() for r in results],
            }
        )
    else:
        for r in results:
            print(f"{r.status.upper():<5} {r.probe.id} ({r.probe.category})")
            print(f"      {printable(r.evidence)}")
        print(
            f"\n{counts['pass']} passed, {counts['fail']} failed, {counts['error']} could not "
            f"run, of {len(results)} probes against {target.describe()}. A pass is evidence "
            "for these prompts only (docs/serving.md)."
        )
    if counts["fail"] or counts["error"]:
        raise typer.Exit(1)
