"""A migration baseline: what the models cost as a team hosts them today, against the plan.

`llmdeploy plan --baseline FILE` reads the current hosting (model → instance type, instance
count, hours a day it runs) and compares, per environment, its monthly cost with what the
plan's endpoints cost for the same models. Pure data: the CLI renders it.

Decisions (docs/planning.md, "Migration baseline", says the same to users):

- Both sides are on-demand, 730 hours a month, priced by `catalog.prices.hourly` with the
  environment's `spec.pricing`; the baseline runs ``hoursPerDay / 24`` of the month. An
  unknown price is unknown, never zero.
- Only models on both sides are compared: a model of the environment missing from the
  baseline is new (there is nothing to migrate from), and counting its plan cost against a
  baseline of zero would understate the saving; it is listed, left out of both sides. A model
  whose price is unknown on either side is left out of both sides too, with the reason.
- A dedicated endpoint's cost is its model's. A shared endpoint's cost is split among its
  models in proportion to the devices they reserve × their copies at each point (devices of
  one copy each where no model has copies at a point, as when every model is scaled to zero
  and the endpoint still runs its `instances.min`; at `expected`, by each model's copies
  averaged over its traffic profile's week: its copy-hours). An endpoint whose models are all
  compared therefore counts whole; when every model of the environment is compared,
  the plan side is the environment's total, endpoints without models included.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from llmdeploy.catalog import instances, prices
from llmdeploy.catalog.prices import HOURS_PER_MONTH
from llmdeploy.errors import NO_VALUE, Diagnostic, LlmdeployError, SpecError
from llmdeploy.plan import cost
from llmdeploy.plan.cost import EndpointPlan, EnvironmentPlan
from llmdeploy.plan.resolve import ResolvedEnvironment
from llmdeploy.spec.diagnose import diagnose, suggest
from llmdeploy.spec.loader import Portfolio
from llmdeploy.spec.models import API_VERSION, StrictModel
from llmdeploy.spec.source import FieldPath, Mark, SourceMap, parse_documents

KIND = "Baseline"

ATTRIBUTION = (
    "a shared endpoint's cost is split among its models by devices reserved × copies at each "
    "point (at expected: copies averaged over the traffic profile's week); an endpoint whose "
    "models are all compared counts whole"
)


# --- The file --------------------------------------------------------------------------------


class HostingEntry(StrictModel):
    """One model as it is hosted today."""

    model: str = Field(description="A model of the portfolio (metadata.name).")
    instance_type: str = Field(description="The SageMaker instance type it runs on.")
    instances: int = Field(ge=1, le=100_000, description="How many of them.")
    hours_per_day: float = Field(
        default=24.0, gt=0, le=24, description="Hours a day they run (default 24)."
    )
    environment: str | None = Field(
        default=None,
        description="The environment this hosting is compared with. Default: every one.",
    )


class BaselineDocument(StrictModel):
    api_version: Literal["llmdeploy/v1"]
    kind: Literal["Baseline"]
    hosting: tuple[HostingEntry, ...]  # at least one: `_check_entries` says so


@dataclass(frozen=True)
class Hosted:
    """One entry of a baseline file, with where it was written."""

    model: str
    instance_type: str
    instances: int
    hours_per_day: float
    environment: str | None  # None: every environment
    location: str  # file:line:column of the entry

    def applies_to(self, environment: str) -> bool:
        return self.environment in (None, environment)


@dataclass(frozen=True)
class BaselineFile:
    path: str
    hosting: tuple[Hosted, ...]

    def for_environment(self, environment: str) -> tuple[Hosted, ...]:
        return tuple(h for h in self.hosting if h.applies_to(environment))


def load(path: Path, portfolio: Portfolio) -> BaselineFile:
    """The baseline in ``path`` (YAML, or CSV by its suffix), checked against the catalog and
    the portfolio's models and environments. Raises `SpecError` with every problem, located,
    or `LlmdeployError` when the file cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LlmdeployError(f"--baseline {path}: cannot read it ({exc})") from None
    file = str(path)
    if path.suffix.lower() == ".csv":
        data, source, problems = _from_csv(text, file)
    else:
        data, source, problems = _from_yaml(text, file)
    if data is None:
        raise SpecError(problems)
    problems.extend(_check_entries(data, source, portfolio))
    try:
        parsed = BaselineDocument.model_validate(data)
    except ValidationError as exc:
        problems.extend(_fixed(d) for d in diagnose(exc, BaselineDocument, source))
    else:
        if not problems:
            return _hosting(file, parsed, source)
    if path.suffix.lower() == ".csv":
        problems = [_in_csv_words(d) for d in problems]
    raise SpecError(problems)


def _hosting(file: str, parsed: BaselineDocument, source: SourceMap) -> BaselineFile:
    return BaselineFile(
        file,
        tuple(
            Hosted(
                e.model,
                e.instance_type,
                e.instances,
                e.hours_per_day,
                e.environment,
                source.diagnostic(("hosting", i), "").location,
            )
            for i, e in enumerate(parsed.hosting)
        ),
    )


def _from_yaml(text: str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    docs, problems = parse_documents(text, file)
    empty = SourceMap(file)
    if problems and not docs:
        return None, empty, problems
    # A value refused while reading (`instances: 0100`, `.nan`) is one problem among the
    # file's: the document is still checked, and its other problems reported with it.
    if len(docs) != 1:
        where = docs[1].source.diagnostic((), "") if len(docs) > 1 else None
        return (
            None,
            empty,
            [
                *problems,
                Diagnostic(
                    file,
                    where.line if where else 1,
                    where.column if where else 1,
                    "(document)",
                    "an empty file" if not docs else "more than one document",
                    fix=f"one document: apiVersion: {API_VERSION}, kind: {KIND}, and a "
                    "hosting: list of {model, instanceType, instances}",
                ),
            ],
        )
    doc = docs[0]
    if not isinstance(doc.data, Mapping):
        return (
            None,
            doc.source,
            [
                *problems,
                doc.source.diagnostic(
                    (),
                    "a baseline must be a mapping with apiVersion, kind and hosting",
                    fix=f"start the file with `apiVersion: {API_VERSION}` and `kind: {KIND}`",
                ),
            ],
        )
    return doc.data, doc.source, problems


# CSV: a header row naming the columns (any order), then one model a row. Blank lines and
# lines starting with # are skipped.
_CSV_COLUMNS = ("model", "instanceType", "instances", "hoursPerDay", "environment")
_CSV_REQUIRED = ("model", "instanceType", "instances")
_CSV_NUMBERS = {
    "instances": re.compile(r"\+?[0-9]+"),
    "hoursPerDay": re.compile(r"\+?[0-9]*\.?[0-9]+"),
}


def _from_csv(text: str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    source = SourceMap(file)
    source.values[()] = Mark(1, 1)
    problems: list[Diagnostic] = []

    def at(line: int, column: int, path: str, message: str, **extra: Any) -> Diagnostic:
        return Diagnostic(file, line, column, path, message, **extra)

    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[dict[str, Any]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            columns = _columns(cells)
            if header is None:
                header = [c.strip() for c in cells]
                for name, column in zip(header, columns, strict=True):
                    if name not in _CSV_COLUMNS:
                        problems.append(
                            at(
                                line,
                                column,
                                name or "(column)",
                                f"unknown column '{name}'",
                                fix=suggest(name, _CSV_COLUMNS, "columns"),
                            )
                        )
                for name in _CSV_REQUIRED:
                    if name not in header:
                        problems.append(
                            at(
                                line,
                                1,
                                "(header)",
                                f"required column '{name}' is missing",
                                fix="the header names the columns: "
                                "model,instanceType,instances[,hoursPerDay][,environment]",
                            )
                        )
                if problems:
                    return None, source, problems
                continue
            index = len(rows)
            row_path: FieldPath = ("hosting", index)
            source.values[row_path] = Mark(line, 1)
            row: dict[str, Any] = {}
            if len(cells) > len(header):
                problems.append(
                    at(
                        line,
                        columns[len(header)],
                        "(row)",
                        f"{len(cells)} cells, but the header names {len(header)} columns",
                        fix="one cell per column; quote a value that holds a comma",
                    )
                )
            for name, cell, column in zip(header, cells, columns, strict=False):
                path = (*row_path, name)
                source.values[path] = Mark(line, column)
                value = cell.strip()
                if not value:
                    if name in _CSV_REQUIRED:
                        source.refused.add(path)  # reported here, not again as "missing"
                        problems.append(
                            at(
                                line,
                                column,
                                name,
                                "empty",
                                fix=f"write the {name} of this model",
                            )
                        )
                    continue
                source.raw[path] = (value, False)
                if name in _CSV_NUMBERS:
                    if not _CSV_NUMBERS[name].fullmatch(value):
                        source.refused.add(path)
                        problems.append(
                            at(
                                line,
                                column,
                                name,
                                "not a number",
                                value=value,
                                fix=f"write {name} as a plain decimal number, e.g. "
                                + ("2" if name == "instances" else "12"),
                            )
                        )
                        row[name] = value
                        continue
                    row[name] = float(value) if "." in value else int(value)
                else:
                    row[name] = value
            for name in _CSV_REQUIRED:  # a short row: its missing cells, located at its end
                if name in header[len(cells) :]:
                    path = (*row_path, name)
                    source.values[path] = Mark(line, columns[-1] if columns else 1)
            rows.append(row)
    except csv.Error as exc:
        return (
            None,
            source,
            [
                at(
                    reader.line_num,
                    1,
                    "(document)",
                    f"not CSV: {exc}",
                    fix="check the quotes on this line",
                )
            ],
        )
    if header is None:
        return (
            None,
            source,
            [
                at(
                    1,
                    1,
                    "(document)",
                    "no header row",
                    fix="the first row names the columns: model,instanceType,instances"
                    "[,hoursPerDay][,environment]",
                )
            ],
        )
    source.values[("hosting",)] = Mark(1, 1)
    return {"apiVersion": API_VERSION, "kind": KIND, "hosting": tuple(rows)}, source, problems


_ROW = re.compile(r"^hosting\[[0-9]+\]\.?")


def _in_csv_words(d: Diagnostic) -> Diagnostic:
    """A diagnostic of a CSV row, named by its column (the line is the row), not by the
    YAML path `hosting[2].instances` the rows are checked as."""
    column = _ROW.sub("", d.path)
    missing = re.fullmatch(r"required field '(\w+)' is missing", d.message)
    if missing:
        return dataclasses.replace(
            d,
            path=missing.group(1),
            message=f"no {missing.group(1)} on this row",
            fix="one cell for each column the header names: " + ",".join(_CSV_COLUMNS[:4]),
        )
    if d.path == "hosting":
        return dataclasses.replace(
            d, path="(document)", value=NO_VALUE, message="no rows", fix="one row per model"
        )
    return dataclasses.replace(d, path=column or "(row)")


def _columns(cells: list[str]) -> list[int]:
    """Each cell's 1-based column, as written without quotes (a quoted cell's is close)."""
    out, column = [], 1
    for cell in cells:
        out.append(column)
        column += len(cell) + 1
    return out


def _fixed(d: Diagnostic) -> Diagnostic:
    """Bounds with a fix that says more than "set instances to a value at least 1"."""
    leaf = d.path.rsplit(".", 1)[-1]
    bound = d.message.startswith(("must be at least", "must be at most", "must be more than"))
    if bound and leaf == "instances":
        fix = (
            "write how many instances run this model today; a model not hosted today: leave "
            "it out of the baseline"
        )
        return dataclasses.replace(d, fix=fix)
    if bound and leaf == "hoursPerDay":
        return dataclasses.replace(d, fix="write the hours a day it runs: more than 0, at most 24")
    return d


def _check_entries(data: Any, source: SourceMap, portfolio: Portfolio) -> list[Diagnostic]:
    """What the schema cannot say, on the entries as written (so that a type error elsewhere
    does not hide these): the catalog's instance types, the portfolio's models and
    environments, one entry per model and environment."""
    hosting = data.get("hosting") if isinstance(data, Mapping) else None
    if not isinstance(hosting, tuple):
        return []
    if not hosting:
        # Not pydantic's min_length: it would also call a list of one bad entry too short.
        return [
            source.diagnostic(
                ("hosting",),
                "no entries",
                value=hosting,
                fix="one entry per model: {model, instanceType, instances}",
            )
        ]
    models = sorted({m.spec.name for m in portfolio.models})
    envs = portfolio.all_environment_names
    out: list[Diagnostic] = []
    first: dict[tuple[str, str | None], Diagnostic] = {}
    for i, entry in enumerate(hosting):
        if not isinstance(entry, Mapping):
            continue
        at = ("hosting", i)
        model, itype, env = entry.get("model"), entry.get("instanceType"), entry.get("environment")
        if isinstance(itype, str) and instances.get(itype) is None:
            out.append(
                source.diagnostic(
                    (*at, "instanceType"),
                    "not a SageMaker instance type the catalog knows",
                    value=itype,
                    fix=suggest(itype, instances.names(), "instance types"),
                )
            )
        if isinstance(model, str) and model not in models:
            out.append(
                source.diagnostic(
                    (*at, "model"),
                    "no model of this name in the specs",
                    value=model,
                    fix=suggest(model, models, "models") if models else "give the models' specs",
                )
            )
        if isinstance(env, str) and env not in envs:
            out.append(
                source.diagnostic(
                    (*at, "environment"),
                    "no environment of this name in the specs",
                    value=env,
                    fix=suggest(env, envs, "environments") + " (or leave environment out: "
                    "the entry then applies to every environment)",
                )
            )
        if not isinstance(model, str) or not (env is None or isinstance(env, str)):
            continue
        where = source.diagnostic((*at, "model"), "")
        # An entry for every environment clashes with one for a single environment, too.
        clashes = [k for k in first if k[0] == model and (env is None or k[1] in (None, env))]
        if clashes:
            other = first[clashes[0]]
            scope = f"environment {env}" if env else "every environment"
            out.append(
                source.diagnostic(
                    (*at, "model"),
                    f"{model} is listed twice for {scope} (also at line {other.line})",
                    value=model,
                    fix="list each model once per environment: one instance type and the "
                    "total instances; give `environment` where environments differ",
                )
            )
            continue
        first[(model, env)] = where
    return out


# --- The comparison --------------------------------------------------------------------------


@dataclass(frozen=True)
class MigratedModel:
    """One model: as hosted today, and its share of the plan."""

    model: str
    baseline_instance_type: str
    baseline_instances: int
    hours_per_day: float
    baseline_hourly_usd: float | None  # per instance
    baseline_monthly_usd: float | None
    endpoint: str  # where the plan puts it
    dedicated: bool
    share: dict[str, float]  # of its endpoint's cost, per point
    plan_monthly_usd: dict[str, float | None]  # per point
    compared: bool  # both sides known
    location: str  # its baseline entry


@dataclass(frozen=True)
class Migration:
    environment: str
    file: str
    models: tuple[MigratedModel, ...]
    # Every baseline entry of this environment, compared or not.
    baseline_monthly_usd: float | None  # None where some price is unknown
    baseline_monthly_usd_known: float
    unknown_prices: tuple[str, ...]  # baseline instance types without a price
    # The models on both sides with both prices known: what moving them saves, per point.
    compared: tuple[str, ...]
    compared_baseline_usd: float
    compared_plan_usd: dict[str, float]
    saving_usd: dict[str, float]
    ratio: dict[str, float | None]  # baseline ÷ plan; None where the plan costs nothing
    whole_environment: bool  # every model compared: the plan side is the environment's total
    not_in_baseline: tuple[str, ...]  # models of the environment the baseline does not list
    not_in_environment: tuple[str, ...]  # baseline models this environment does not plan
    # Shared endpoints whose cost is split: some of their models are compared, some not.
    split_endpoints: tuple[str, ...] = field(default=())
    excluded: tuple[str, ...] = field(default=())  # why a model is left out
    attribution: str = ATTRIBUTION


def compare(
    baseline: BaselineFile, env: ResolvedEnvironment, env_plan: EnvironmentPlan
) -> Migration:
    """The baseline's entries for ``env`` against its plan."""
    overrides = env.doc.environment_spec.pricing
    points = tuple(env_plan.monthly_usd)  # the keys the plan has: no fixed list
    where = {n.name: e for e in env_plan.endpoints for n in e.models}
    entries = baseline.for_environment(env.name)
    # A figure without copies at a point (expected) splits by copies over the profile's week.
    average = {name: profile.average for name, profile in cost.profiles(env).items()}
    listed = {h.model for h in entries}

    models: list[MigratedModel] = []
    excluded: list[str] = []
    unknown: set[str] = set()
    known_usd = 0.0
    for h in entries:
        price = prices.hourly(h.instance_type, overrides)
        hourly = price.usd_per_hour if price else None
        today = (
            None
            if hourly is None
            else h.instances * hourly * HOURS_PER_MONTH * h.hours_per_day / 24
        )
        if today is None:
            unknown.add(h.instance_type)
        else:
            known_usd += today
        endpoint = where.get(h.model)
        if endpoint is None:
            continue  # not planned in this environment (listed in not_in_environment)
        shares = _shares(endpoint, h.model, points, average)
        costs = {p: _endpoint_usd(endpoint, p) for p in points}
        plan = {p: None if costs[p] is None else costs[p] * shares[p] for p in points}
        reasons = []
        if hourly is None:
            reasons.append(f"no price for {h.instance_type} (today)")
        if endpoint.hourly_usd is None:
            reasons.append(f"no price for {endpoint.instance_type} (endpoint {endpoint.name})")
        if reasons:
            excluded.append(f"{h.model}: {'; '.join(reasons)} (set spec.pricing)")
        models.append(
            MigratedModel(
                model=h.model,
                baseline_instance_type=h.instance_type,
                baseline_instances=h.instances,
                hours_per_day=h.hours_per_day,
                baseline_hourly_usd=hourly,
                baseline_monthly_usd=today,
                endpoint=endpoint.name,
                dedicated=endpoint.dedicated,
                share=shares,
                plan_monthly_usd=plan,
                compared=not reasons,
                location=h.location,
            )
        )

    compared = [m for m in models if m.compared]
    planned = [m.name for m in env.models]
    missing = tuple(n for n in planned if n not in listed)
    whole = (
        bool(compared)
        and not missing
        and len(compared) == len(planned)
        and not env_plan.unknown_prices  # an endpoint without models, unpriced
    )
    baseline_usd = sum(m.baseline_monthly_usd or 0.0 for m in compared)
    if whole:  # endpoints without models count too: the plan side is the whole environment
        plan_usd = {p: env_plan.monthly_usd_known[p] for p in points}
    else:
        plan_usd = {p: sum(m.plan_monthly_usd[p] or 0.0 for m in compared) for p in points}
    names = set(m.model for m in compared)
    split = sorted(
        {
            e.name
            for e in env_plan.endpoints
            if any(n.name in names for n in e.models) and not all(n.name in names for n in e.models)
        }
    )
    return Migration(
        environment=env.name,
        file=baseline.path,
        models=tuple(models),
        baseline_monthly_usd=None if unknown else known_usd,
        baseline_monthly_usd_known=known_usd,
        unknown_prices=tuple(sorted(unknown)),
        compared=tuple(m.model for m in compared),
        compared_baseline_usd=baseline_usd,
        compared_plan_usd=plan_usd,
        saving_usd={p: baseline_usd - plan_usd[p] for p in points},
        ratio={p: baseline_usd / plan_usd[p] if plan_usd[p] > 0 else None for p in points},
        whole_environment=whole,
        not_in_baseline=missing,
        not_in_environment=tuple(sorted(listed - set(where))),
        split_endpoints=tuple(split),
        excluded=tuple(excluded),
    )


def _endpoint_usd(endpoint: EndpointPlan, point: str) -> float | None:
    """The endpoint's monthly cost at ``point``: from its per-figure costs where the plan has
    them (``expected`` is a figure, not a packed point), else from the point's packing."""
    figures = getattr(endpoint, "monthly_usd", None) or {}
    if point in figures:
        return figures[point]
    found = endpoint.points.get(point)
    return None if found is None else found.monthly_usd


def _shares(
    endpoint: EndpointPlan, model: str, points: tuple[str, ...], average: Mapping[str, float]
) -> dict[str, float]:
    """``model``'s fraction of ``endpoint``'s cost at each point (see the module's docstring);
    ``average``: each model's copies averaged over its profile's week, for the figures that
    are not a point of copies (expected)."""

    def copies(m, point: str) -> float:
        found = m.copies.get(point)
        if found is not None:
            return found
        return average.get(m.name, m.copies.get("initial", 0))

    if endpoint.dedicated or len(endpoint.models) == 1:
        return {p: 1.0 for p in points}
    out = {}
    for p in points:
        weights = {
            m.name: (m.demand.devices if m.demand else 1) * copies(m, p) for m in endpoint.models
        }
        if not any(weights.values()):  # nobody has copies: the floor is everyone's
            weights = {m.name: m.demand.devices if m.demand else 1 for m in endpoint.models}
        out[p] = weights[model] / sum(weights.values())
    return out
