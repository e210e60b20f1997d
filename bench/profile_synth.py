"""Where synthesis spends its time beyond CDK's floor (issue 13, item 3): one process, one
app, the phases timed and the building of the stacks profiled per construct.

    .venv/bin/python bench/profile_synth.py [--models 300]

Prints: the phases (jsii start, building our stacks, app.synth()), the same templates
replayed through generic `cdk.CfnResource`s (the floor: building and synth), the cumulative
time of llmdeploy's functions while building (cProfile: each construct and helper, with the
jsii calls it makes), and what a context flag that leaves the templates alone saves.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from scale import FLOOR, write_portfolio  # noqa: E402 (needs sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    import llmdeploy  # noqa: F401  (quiets jsii's banner)
    from llmdeploy.plan import check
    from llmdeploy.synth import fingerprint
    from llmdeploy.synth.layout import plan_stacks

    tmp = Path(tempfile.mkdtemp(prefix="llmdeploy-profile-"))
    write_portfolio(tmp, args.models)
    (env,) = check([tmp / "models", tmp / "infra"], ["scale"]).environments
    planned = plan_stacks(env)
    t = time.perf_counter()
    import aws_cdk as cdk

    from llmdeploy.synth.stacks import add_stacks

    phases = {"import aws_cdk (jsii start)": time.perf_counter() - t}

    def synth_app(context: dict, out: str, profile: cProfile.Profile | None = None):
        app = cdk.App(outdir=out, analytics_reporting=False, context=context)
        t = time.perf_counter()
        if profile:
            profile.enable()
        add_stacks(app, env, planned)
        if profile:
            profile.disable()
        built = time.perf_counter() - t
        t = time.perf_counter()
        app.synth()
        return built, time.perf_counter() - t

    profile = cProfile.Profile()
    built, synthesized = synth_app(dict(fingerprint.APP_CONTEXT), str(tmp / "ours"), profile)
    phases["build our stacks (Python + jsii calls)"] = built
    phases["app.synth() of our stacks"] = synthesized
    no_traces = dict(fingerprint.APP_CONTEXT) | {"aws:cdk:disable-stack-trace": True}
    built2, synth2 = synth_app(no_traces, str(tmp / "no-traces"))
    same = all(
        (tmp / "ours" / p.name).read_bytes() == p.read_bytes()
        for p in (tmp / "no-traces").glob("*.template.json")
    )
    # The floor in this process (a warm jsii runtime), as bench/scale.py runs it in its own.
    import runpy

    t = time.perf_counter()
    sys.argv = ["floor", str(tmp / "ours"), str(tmp / "floor")]
    floor_file = tmp / "floor.py"
    floor_file.write_text(FLOOR)
    runpy.run_path(str(floor_file))
    floor = time.perf_counter() - t

    print(f"{args.models} models, {len(planned)} stacks\n")
    for label, seconds in phases.items():
        print(f"{label:<48}{seconds:8.2f} s")
    ours = built + synthesized
    print(f"{'ours: build + synth':<48}{ours:8.2f} s")
    print(f"{'floor: CfnResource replay, build + synth':<48}{floor:8.2f} s")
    print(f"{'ours / floor':<48}{ours / floor:8.2f}x\n")
    print(
        f"with context aws:cdk:disable-stack-trace: build {built2:.2f} s, synth {synth2:.2f} s "
        f"(templates {'identical' if same else 'DIFFERENT'})\n"
    )

    stats = pstats.Stats(profile)
    calls: Counter[str] = Counter()
    for (file, _line, name), (_cc, nc, _tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "jsii/_kernel" in file:
            calls[name] += nc
    print("jsii kernel calls while building:", dict(calls.most_common(8)))
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(
        r"llmdeploy/(constructs|synth)", args.top
    )
    print(out.getvalue())
    templates = list((tmp / "ours").glob("*.template.json"))
    resources = Counter(
        r["Type"]
        for p in templates
        for r in json.loads(p.read_text()).get("Resources", {}).values()
    )
    print("resources:", dict(resources))


if __name__ == "__main__":
    main()
