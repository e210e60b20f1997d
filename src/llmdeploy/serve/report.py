"""A bench's results as one self-contained HTML file: a table and inline SVG charts (latency
and throughput against concurrency, the distribution of time to first token). No scripts, no
fonts or styles from elsewhere: it opens offline and can be attached to a ticket."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

from llmdeploy.serve.bench import Level

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
W, H = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 44


def _ticks(high: float) -> list[float]:
    """About five round ticks from 0 to at least ``high``."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(high / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.2g}"


def _chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    x_categories: Sequence[str] | None = None,
) -> str:
    """A line chart. With ``x_categories``, x values are indexes into them, evenly spaced
    (concurrency levels 1, 8, 32 read better so than on a linear axis)."""
    points = [p for _, pts in series for p in pts]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    y_ticks = _ticks(max((y for _, y in points), default=1.0))
    y_max = y_ticks[-1]
    if x_categories is not None:
        x_min, x_max = 0.0, max(len(x_categories) - 1, 1)
        x_ticks = [(float(i), c) for i, c in enumerate(x_categories)]
    else:
        xs = _ticks(max((x for x, _ in points), default=1.0))
        x_min, x_max = 0.0, xs[-1]
        x_ticks = [(x, _fmt(x)) for x in xs]

    def sx(x: float) -> float:
        return LEFT + (x - x_min) / (x_max - x_min or 1) * pw

    def sy(y: float) -> float:
        return TOP + ph - y / (y_max or 1) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{W / 2}" y="18" text-anchor="middle" class="t">{html.escape(title)}</text>',
    ]
    for y in y_ticks:
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="g"/>'
            f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{_fmt(y)}</text>'
        )
    for x, label in x_ticks:
        out.append(
            f'<text x="{sx(x):.1f}" y="{TOP + ph + 16}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    out.append(
        f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{TOP + ph}" y2="{TOP + ph}" class="a"/>'
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + ph}" class="a"/>'
        f'<text x="{LEFT + pw / 2}" y="{H - 6}" text-anchor="middle">{html.escape(x_label)}</text>'
        f'<text x="14" y="{TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + ph / 2})">{html.escape(y_label)}</text>'
    )
    for i, (name, pts) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        if pts:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            if len(pts) <= 20:
                out.extend(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>'
                    for x, y in pts
                )
        lx, ly = LEFT + 8 + (i % 3) * 160, TOP + 4 + (i // 3) * 14
        out.append(
            f'<rect x="{lx}" y="{ly}" width="10" height="3" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{ly + 5}">{html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def charts(levels: Sequence[Level]) -> list[str]:
    cats = [str(lv.concurrency) for lv in levels]

    def by_level(figure: str, q: float) -> list[tuple[float, float]]:
        return [
            (float(i), v)
            for i, lv in enumerate(levels)
            if (v := lv.percentile_ms(figure, q)) is not None
        ]

    def throughput(key: str) -> list[tuple[float, float]]:
        return [(float(i), lv.to_dict()[key]) for i, lv in enumerate(levels)]

    cdf = []
    for lv in levels:
        values = sorted(v * 1000 for v in lv.figures("ttft_s"))
        n = len(values)
        cdf.append(
            (
                f"concurrency {lv.concurrency}",
                [(v, 100 * (k + 1) / n) for k, v in enumerate(values)],
            )
        )
    return [
        _chart(
            "Time to first token",
            "concurrency",
            "ms",
            [("p50", by_level("ttft_s", 50)), ("p95", by_level("ttft_s", 95))],
            x_categories=cats,
        ),
        _chart(
            "Time per output token",
            "concurrency",
            "ms",
            [("p50", by_level("tpot_s", 50)), ("p95", by_level("tpot_s", 95))],
            x_categories=cats,
        ),
        _chart(
            "End-to-end latency",
            "concurrency",
            "ms",
            [("p50", by_level("e2e_s", 50)), ("p95", by_level("e2e_s", 95))],
            x_categories=cats,
        ),
        _chart(
            "Throughput",
            "concurrency",
            "output tokens/s",
            [("output tokens/s", throughput("output_tokens_per_s"))],
            x_categories=cats,
        ),
        _chart("Time to first token, distribution", "TTFT (ms)", "% of requests", cdf),
    ]


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.fail { color: #b00; font-weight: bold; } .pass { color: #070; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg { border: 1px solid #eee; font-size: 11px; }
svg .t { font-size: 13px; font-weight: bold; } svg .g { stroke: #eee; } svg .a { stroke: #888; }
"""


def _cell(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render(result: dict, levels: Sequence[Level]) -> str:
    """The HTML page for a bench's JSON result (`cli.serve.bench`) and its levels."""
    target = result["target"]
    title = f"llmdeploy bench: {target['model']} in {target['environment']}"
    rows = []
    for d in result["levels"]:
        failures = sum(d["errors"].values()) + sum(d["throttles"].values())
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{c}</td>"
                for c in (
                    d["concurrency"],
                    d["requests"],
                    _cell(d["ttft_ms"]["p50"]),
                    _cell(d["ttft_ms"]["p95"]),
                    _cell(d["tpot_ms"]["p50"], 2),
                    _cell(d["tpot_ms"]["p95"], 2),
                    _cell(d["e2e_ms"]["p50"]),
                    _cell(d["e2e_ms"]["p95"]),
                    _cell(d["requests_per_s"], 2),
                    _cell(d["output_tokens_per_s"]),
                    failures,
                )
            )
            + "</tr>"
        )
    slo = result.get("slo")
    verdict = ""
    if slo:
        if slo["passed"]:
            verdict = f'<p class="pass">SLO met at concurrency {slo["at_concurrency"]}</p>'
        else:
            items = "".join(f"<li>{html.escape(b['message'])}</li>" for b in slo["breaches"])
            verdict = f'<p class="fail">SLO broken</p><ul>{items}</ul>'
    where = html.escape(
        f"{target['endpoint']}"
        + (f" / {target['inference_component']}" if target["inference_component"] else "")
        + f" ({target['region']}), {target['request_format']}, max tokens "
        f"{result['max_tokens']}"
    )
    head = (
        "<tr><th>concurrency</th><th>requests</th><th>TTFT p50 ms</th><th>TTFT p95 ms</th>"
        "<th>TPOT p50 ms</th><th>TPOT p95 ms</th><th>latency p50 ms</th>"
        "<th>latency p95 ms</th><th>requests/s</th><th>output tokens/s</th>"
        "<th>failed</th></tr>"
    )
    data = html.escape(json.dumps(result, indent=1))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{where}; {html.escape(result['started'])}</p>"
        f"{verdict}<table>{head}{''.join(rows)}</table>"
        f'<div class="charts">{"".join(charts(levels))}</div>'
        f"<details><summary>The results as JSON</summary><pre>{data}</pre></details>"
        "</body></html>\n"
    )


def write(folder: Path, result: dict, levels: Sequence[Level]) -> tuple[Path, Path]:
    """``bench.html`` and ``bench.json`` in ``folder`` (created)."""
    from llmdeploy.errors import LlmdeployError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        page, raw = folder / "bench.html", folder / "bench.json"
        page.write_text(render(result, levels), encoding="utf-8")
        raw.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LlmdeployError(f"--report {folder}: cannot write the report ({exc})") from None
    return page, raw
