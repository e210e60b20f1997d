"""What a deployment works on: each stack of an environment with its template and the spec
it was built from (recorded in history, and compared by `diff`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:  # the C emitter writes the same YAML five times faster; the Python one where it is absent
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

from llmdeploy.deploy.kinds import StackKind, coerce
from llmdeploy.plan.resolve import ResolvedEnvironment


@dataclass(frozen=True)
class Target:
    stack: str
    kind: StackKind
    name: str  # the endpoint's or the model's name
    template: str  # the template text, exactly as it will be submitted
    spec: dict[str, Any]  # the resolved spec (JSON), for spec-level diffs
    # The environment file (endpoints), a record's text (rollback); None: `spec` as YAML,
    # made only when a record is written (`recorded_text`).
    spec_text: str | None
    model: str | None = None
    version: int | None = None
    depends_on: tuple[str, ...] = ()
    fingerprint: str | None = None  # of the template's inputs (llmdeploy.synth.fingerprint)

    def __post_init__(self) -> None:
        coerce(self, "kind", StackKind)

    @property
    def recorded_text(self) -> str:
        """The spec as its history record keeps it. Made on demand: YAML for 1,000 models took
        2.9 s of every diff of 1,000 stacks, which records nothing."""
        if self.spec_text is not None:
            return self.spec_text
        return yaml.dump(self.spec, Dumper=_Dumper, sort_keys=False)


def build_targets(
    env: ResolvedEnvironment,
    outdir: Path,
    models: Sequence[str] = (),
    progress: Any = None,
    settings: Any = None,
) -> list[Target]:
    """Synthesize the environment (or the named models and their endpoints) and pair each
    stack with its spec. ``progress``: an `llmdeploy.synth.assembly.Progress`; ``settings``:
    a `SynthSettings` (default: no cache, one process)."""
    from llmdeploy.plan.names import Names
    from llmdeploy.synth.assembly import SynthSettings, synthesize

    settings = settings or SynthSettings()
    summaries = {
        s.name: s
        for s in synthesize(
            env,
            outdir,
            models,
            progress=progress,
            cache=settings.store(),
            jobs=settings.job_count(),
            warm=settings.warm,
        )
    }
    spec = env.doc.spec
    names = Names(spec.stack_prefix)
    env_text = Path(env.doc.source.file).read_text()
    env_part = spec.spec.model_dump(by_alias=True, mode="json", exclude={"endpoints"})
    out: list[Target] = []
    for ep in spec.spec.endpoints:
        stack = names.endpoint_stack(ep.name)
        if stack in summaries:
            out.append(
                Target(
                    stack,
                    "endpoint",
                    ep.name,
                    summaries[stack].template.read_text(),
                    {
                        "environment": env_part,
                        "endpoint": ep.model_dump(by_alias=True, mode="json"),
                    },
                    env_text,
                    fingerprint=summaries[stack].fingerprint,
                )
            )
    for m in env.models:
        stack = names.model_stack(m.name)
        if stack not in summaries:
            continue
        depends = (
            () if m.dedicated or m.runs_on is None else (names.endpoint_stack(m.runs_on.name),)
        )
        if m.adapter and m.base is not None:  # an adapter's component names its base's
            depends += (names.model_stack(m.base.name),)
        resolved = m.spec.model_dump(by_alias=True, mode="json", exclude={"spec": {"environments"}})
        out.append(
            Target(
                stack,
                "dedicated" if m.dedicated else "model",
                m.name,
                summaries[stack].template.read_text(),
                resolved,
                # This environment's spec only (as YAML, `recorded_text`), never the file
                # as written: another environment's overrides are not this record's to keep.
                None,
                model=m.name,
                version=m.spec.metadata.version,
                depends_on=depends,
                fingerprint=summaries[stack].fingerprint,
            )
        )
    stack = names.dashboards_stack()
    if stack in summaries:  # the whole environment was synthesized
        # What the dashboards show: the endpoints and the models on each (docs/dashboards.md).
        shown = {
            "endpoints": [ep.name for ep in spec.spec.endpoints],
            "models": {
                ep.name: [m.name for m in env.models_on(ep.name)] for ep in spec.spec.endpoints
            },
            "dedicated": [m.name for m in env.models if m.dedicated],
        }
        out.append(
            Target(
                stack,
                "dashboards",
                spec.name,
                summaries[stack].template.read_text(),
                shown,
                None,
                fingerprint=summaries[stack].fingerprint,
            )
        )
    return out
