"""docs/spec.md, the spec reference, generated from the JSON Schema and the rule registry.

Every field of both kinds comes from `llmdeploy.spec.schema.schemas()` (so from the pydantic
models): its path as written in YAML, type, default, allowed values and description. The rules
come from `llmdeploy.plan.rules.RULES`. Only the preamble and the examples are written here by
hand. This module reads plan/ as well as spec/: it is a tool on top of both stages, and nothing
in the pipeline imports it.

    .venv/bin/python -m llmdeploy.spec.reference > docs/spec.md

`tests/spec/test_reference.py` fails when docs/spec.md is not what `render()` gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmdeploy.spec.models import API_VERSION
from llmdeploy.spec.schema import schemas

REGENERATE = ".venv/bin/python -m llmdeploy.spec.reference > docs/spec.md"

# What a map's keys are, by the map's path (a key is shown as <placeholder> in field paths).
MAP_KEYS = {
    "spec.pricing": "<instanceType>",
    "spec.lmi.extraEnv": "<NAME>",
    "spec.environments": "<environment>",
}

# Said here for fields whose model gives no description. A description given in
# spec/models.py (where it also reaches editors through the JSON Schema) takes precedence.
_COMMON = {
    "apiVersion": "The contract's version.",
    "kind": "Which of the two kinds the document is.",
    "metadata": "The spec's identity.",
    "spec": "The spec itself.",
}


def _counts(path: str, what: str, zero: str) -> dict[str, str]:
    return {
        f"{path}.min": f"Fewest {what}; {zero}.",
        f"{path}.initial": f"{what.capitalize()} when created; the default of the stack's "
        "capacity parameter (a deploy keeps what runs).",
        f"{path}.max": f"Most {what} scaling may reach.",
    }


NOTES = {
    "Environment": {
        **_COMMON,
        **_counts("spec.endpoints[].instances", "instances", "0 lets the endpoint scale to zero"),
        "spec.pricing.<instanceType>": "Hourly USD price of one instance of that type.",
        "metadata.name": "The environment's name: `--env` selects it; it tags every stack.",
        "spec.account": "The AWS account (12 digits, quoted). llmdeploy refuses to deploy "
        "with credentials of another account.",
        "spec.region": "The AWS region of every stack, e.g. `us-east-1`.",
        "spec.security": "Security settings; the defaults are the secure choice.",
        "spec.security.vpc": "Run the endpoints' containers in these subnets. Default: no VPC.",
        "spec.security.vpc.subnetIds": "Subnets of the VPC.",
        "spec.security.vpc.securityGroupIds": "Security groups of the containers.",
        "spec.history": "Where deployments are recorded (`llmdeploy history`, `rollback`).",
        "spec.endpoints": "The shared endpoints (pools of instances) that host inference "
        "components.",
        "spec.endpoints[].name": "Names the endpoint: `<stackPrefix>-<name>` in SageMaker.",
        "spec.endpoints[].instanceType": "SageMaker instance type, e.g. `ml.g6.12xlarge`; must be "
        "in the catalog.",
        "spec.endpoints[].instances": "Managed instance scaling of the endpoint; `min: 0` "
        "scales it to zero.",
        "spec.endpoints[].routing": "How SageMaker routes requests to the instances.",
        "spec.endpoints[].rollout": "How endpoint-level (instance) changes roll out.",
        "spec.endpoints[].rollout.trafficPercent": "The canary's, or each linear step's, share "
        "of the capacity.",
        "spec.endpoints[].rollout.waitSeconds": "Wait after each step, watching the 5XX alarm, "
        "before going on.",
    },
    "Model": {
        **_COMMON,
        **_counts("spec.dedicated.instances", "instances", "at least 1 on a dedicated endpoint"),
        **_counts("spec.copies", "copies", "0 scales the model to zero"),
        "spec.lmi.extraEnv.<NAME>": "One container environment variable; its value is text "
        "(quote numbers). Never a secret: SageMaker shows it in plaintext.",
        "spec.environments.<environment>": "A partial `spec`, deep-merged over the model's "
        "spec in that environment.",
        "metadata.name": "Names the inference component (`<stackPrefix>-<name>`) and its stack.",
        "spec.endpoint": "The shared endpoint of the environment the model lives on (or give "
        "`dedicated`).",
        "spec.dedicated": "A single-model endpoint of its own instead of a shared one.",
        "spec.dedicated.instanceType": "SageMaker instance type of the dedicated endpoint.",
        "spec.dedicated.instances": "Instances of the dedicated endpoint; `min` at least 1.",
        "spec.source.s3Uri": "An S3 folder below the bucket root ending in `/`, or one "
        "`.tar.gz` object; the model's role may read exactly that.",
        "spec.source.huggingFaceId": "A Hugging Face Hub model id (`org/name`). Alone, the "
        "container downloads it (needs `networkIsolation: false`); with `s3Uri`, `llmdeploy "
        "stage` copies its weights there.",
        "spec.sizeBillions": "Parameter count in billions: memory checks and the startup timeout.",
        "spec.container": "The serving container.",
        "spec.container.engine": "djl-lmi on GPU instances, djl-neuronx on Inferentia2/Trainium.",
        "spec.lmi": "DJL-LMI serving settings.",
        "spec.lmi.rollingBatch": "LMI's rolling-batch backend (`OPTION_ROLLING_BATCH`).",
        "spec.lmi.maxRollingBatchSize": "Requests batched at once "
        "(`OPTION_MAX_ROLLING_BATCH_SIZE`).",
        "spec.lmi.jobQueueSize": "Requests queued per copy (`SERVING_JOB_QUEUE_SIZE`).",
        "spec.lmi.tensorParallelDegree": "Devices one copy shards the model over "
        "(`OPTION_TENSOR_PARALLEL_DEGREE`); equals `resources.accelerators`.",
        "spec.lmi.quantization": "How the weights are quantized; checked against the engine "
        "and the hardware.",
        "spec.lmi.maxModelLen": "Longest sequence, prompt and output, in tokens "
        "(`OPTION_MAX_MODEL_LEN`).",
        "spec.lmi.dtype": "Data type of the computation (`OPTION_DTYPE`).",
        "spec.resources": "What one copy reserves on an instance; required on a shared endpoint.",
        "spec.resources.cpuCores": "CPU cores per copy.",
        "spec.copies": "How many copies; `min: 0` scales the model to zero. Required on a "
        "shared endpoint.",
        "spec.autoscaling": "Target tracking on copies (or instances, for a dedicated endpoint).",
        "spec.autoscaling.metric": "The per-copy metric the target applies to.",
        "spec.autoscaling.target": "The metric's value to hold.",
        "spec.autoscaling.scaleInCooldownSeconds": "Wait after a scale-in before the next.",
        "spec.autoscaling.scaleOutCooldownSeconds": "Wait after a scale-out before the next.",
        "spec.rollout.batchCopies": "New copies brought up at once in a rolling update.",
        "spec.rollout.waitSeconds": "Wait after each batch, watching the alarms.",
        "spec.rollout.rollbackOn": "Alarms that roll an update back.",
        "spec.rollout.rollbackOn.errorRatePercent": "Roll back above this error rate.",
        "spec.rollout.rollbackOn.p95LatencyMs": "Roll back above this p95 model latency.",
        "spec.slo": "Service-level objectives, measured from the outside.",
    },
}


@dataclass(frozen=True)
class Field:
    path: str  # as written in YAML: spec.endpoints[].name, spec.lmi.extraEnv.<NAME>
    type: str
    required: bool
    default: str  # rendered; "" when there is none
    allowed: str
    description: str


def fields(kind: str) -> list[Field]:
    """Every field of ``kind`` in the schema's order, parents before their children."""
    schema = schemas()[kind]
    return list(_walk(schema, schema, "", NOTES.get(kind, {})))


def _walk(root: dict, node: dict, prefix: str, notes: dict[str, str]) -> Iterator[Field]:
    required = set(node.get("required", ()))
    for name, prop in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        body = _resolve(root, _non_null(prop))
        yield Field(
            path=path,
            type=_type(root, body),
            required=name in required,
            default=_default(prop, body) if name not in required else "",
            allowed=_allowed(root, body),
            description=_description(prop, body, notes.get(path, "")),
        )
        yield from _children(root, body, path, notes)


def _children(root: dict, body: dict, path: str, notes: dict[str, str]) -> Iterator[Field]:
    if body.get("type") == "object" and "properties" in body:
        yield from _walk(root, body, f"{path}.", notes)
    elif body.get("type") == "array":
        items = _resolve(root, body.get("items", {}))
        if "properties" in items:
            yield from _walk(root, items, f"{path}[].", notes)
    elif body.get("type") == "object":
        value = _map_value(body)
        if value is not None:
            key = f"{path}.{MAP_KEYS.get(path, '<key>')}"
            value = _resolve(root, value)
            yield Field(
                path=key,
                type=_type(root, value),
                required=False,
                default="",
                allowed=_allowed(root, value, key_pattern=_map_key_pattern(body)),
                description=_description({}, value, notes.get(key, "")),
            )
            yield from _children(root, value, key, notes)


def _non_null(prop: dict) -> dict:
    """``X | None`` is ``anyOf [X, null]`` in the schema; the field is X, optional."""
    options = [o for o in prop.get("anyOf", ()) if o.get("type") != "null"]
    if "anyOf" in prop and len(options) == 1:
        return {**{k: v for k, v in prop.items() if k != "anyOf"}, **options[0]}
    return prop


def _resolve(root: dict, node: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _map_value(body: dict) -> dict | None:
    if "patternProperties" in body:
        (value,) = body["patternProperties"].values()
        return value
    extra = body.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _map_key_pattern(body: dict) -> str | None:
    patterns = list(body.get("patternProperties", ()))
    return patterns[0] if patterns else None


def _type(root: dict, body: dict) -> str:
    kind = body.get("type")
    if kind == "array":
        return f"list of {_type(root, _resolve(root, body.get('items', {})))}"
    if kind == "object" and "properties" not in body:
        value = _map_value(body)
        if value is not None:
            return f"map of {_type(root, _resolve(root, value))}"
    return str(kind or "any")


def _default(prop: dict, body: dict) -> str:
    if "default" not in prop:
        # A map or a list without a stated default is empty when left out.
        return {"object": "`{}`", "array": "`[]`"}.get(body.get("type"), "")
    value = prop["default"]
    if value is None:
        return ""  # optional, nothing when left out (the description says what happens)
    if isinstance(value, dict) and value:
        return "its fields' defaults"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _allowed(root: dict, body: dict, key_pattern: str | None = None) -> str:
    parts = []
    if key_pattern is not None:
        parts.append(f"keys match {_code(key_pattern)}")
    if "const" in body:
        parts.append(_code(body["const"]))
    if "enum" in body:
        parts.append(", ".join(_code(v) for v in body["enum"]))
    parts.append(_range(body))
    parts.append(_size(body, "minLength", "maxLength", "characters"))
    parts.append(_size(body, "minItems", "maxItems", "items"))
    if "pattern" in body:
        parts.append(f"matches {_code(body['pattern'])}")
    if body.get("type") == "array":
        items = _resolve(root, body.get("items", {}))
        if "properties" not in items:
            inner = _allowed(root, items)
            if inner:
                parts.append(f"each item: {inner}")
    return "; ".join(p for p in parts if p)


def _range(body: dict) -> str:
    low, high = body.get("minimum"), body.get("maximum")
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    bounds = (
        ("≥", low),
        (">", body.get("exclusiveMinimum")),
        ("≤", high),
        ("<", body.get("exclusiveMaximum")),
    )
    return ", ".join(f"{sign} {_number(v)}" for sign, v in bounds if v is not None)


def _size(body: dict, low_key: str, high_key: str, unit: str) -> str:
    low, high = body.get(low_key), body.get(high_key)
    if low is not None and high is not None:
        return f"{low} to {high} {unit}"
    if high is not None:
        return f"at most {high} {unit}"
    if low is not None:
        return f"at least {low} {unit}"
    return ""


def _number(value: float) -> str:
    return f"{value:,}".replace(",", " ") if abs(value) >= 10_000 else f"{value:g}"


def _description(prop: dict, body: dict, note: str) -> str:
    # The field's own description, else the note for this path, else its type's docstring.
    text = prop.get("description") or note or body.get("description") or ""
    return _prose(" ".join(text.replace("``", "`").split()))


def _prose(text: str) -> str:
    """Markdown from plain text: `<env>` outside a code span would be read as an HTML tag."""
    pieces = text.split("`")
    for i in range(0, len(pieces), 2):  # the even pieces are outside code spans
        pieces[i] = pieces[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(pieces)


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def _cell(text: str) -> str:
    # A table cell ends at an unescaped |, also inside a code span (GitHub's tables).
    return text.replace("|", "\\|")


def _table(kind: str) -> str:
    rows = [
        "| Field | Type | Required / default | Allowed | Description |",
        "|---|---|---|---|---|",
    ]
    for f in fields(kind):
        default = "**required**" if f.required else (f.default or "optional")
        rows.append(
            "| "
            + " | ".join(
                _cell(c) for c in (f"`{f.path}`", f.type, default, f.allowed, f.description)
            )
            + " |"
        )
    return "\n".join(rows)


# --- the hand-written parts --------------------------------------------------------------------

ENVIRONMENT_EXAMPLE = """\
# infra/prod.yaml
apiVersion: llmdeploy/v1
kind: Environment
metadata:
  name: prod
spec:
  account: "111122223333"
  region: us-east-1
  stackPrefix: llm-prod
  security:
    vpc:
      subnetIds: [subnet-0a1b2c3d4e5f60718, subnet-0b2c3d4e5f6071829]
      securityGroupIds: [sg-0c3d4e5f607182930]
    networkIsolation: true
  history:
    s3Uri: s3://acme-llmdeploy-history/prod/
  endpoints:
    - name: codegen-g6
      instanceType: ml.g6.12xlarge
      instances: {min: 1, initial: 3, max: 6}
      routing: least-outstanding-requests
      rollout: {strategy: all-at-once, waitSeconds: 600}
    - name: neuron-inf2
      instanceType: ml.inf2.48xlarge
      instances: {min: 1, initial: 1, max: 2}
      rollout: {strategy: all-at-once, waitSeconds: 300}
      volumeSizeGB: 256          # inf2 has no local NVMe: weights and Neuron cache on EBS
"""

MODEL_EXAMPLE = """\
# models/block-generation.yaml
apiVersion: llmdeploy/v1
kind: Model
metadata:
  name: block-generation
  version: 7
  owner: codegen-team
spec:
  endpoint: codegen-g6
  source:
    s3Uri: s3://acme-models/block-generation/7/
  sizeBillions: 15
  container:
    engine: djl-lmi
    version: "0.33.0"
  lmi:
    rollingBatch: vllm
    maxRollingBatchSize: 64
    jobQueueSize: 1000
    tensorParallelDegree: 2
    maxModelLen: 8192
    dtype: bf16
    extraEnv:
      OPTION_ENABLE_PREFIX_CACHING: "true"
  resources:
    accelerators: 2
    memoryMiB: 65536
    cpuCores: 8
  copies: {min: 1, initial: 1, max: 3}
  autoscaling:
    metric: concurrent-requests-per-copy
    target: 8
  rollout:
    batchCopies: 1
    waitSeconds: 300
    rollbackOn: {errorRatePercent: 5, p95LatencyMs: 4000}
  environments:
    dev:
      copies: {min: 0, initial: 1, max: 1}
"""

PREAMBLE = f"""\
# Spec reference

<!-- Generated by src/llmdeploy/spec/reference.py: do not edit by hand. -->

*Generated from the spec models and the rule registry; do not edit. Regenerate with
`{REGENERATE}`.*

A portfolio is YAML files of two kinds, each starting with `apiVersion: {API_VERSION}` and
its `kind`:

- **Environment** (`infra/<environment>.yaml`): an AWS account and region, security defaults,
  the history store, price overrides, and the shared **endpoints**: pools of instances that
  host inference components.
- **Model** (`models/<model>.yaml`): which endpoint a model lives on (or `dedicated:` for an
  endpoint of its own), its weights, serving engine and DJL-LMI settings, what one copy
  reserves, how many copies, how it scales and rolls out, and what it must achieve (`slo`).

`llmdeploy validate` reads `models/` and `infra/` by default (`*.yaml`, `*.yml`, found
recursively); a file may hold several documents separated by `---`. Keys are camelCase as
written below. Unknown keys are errors ("did you mean …"), and so are wrong types: numbers are
never quoted, and strings that look like numbers must be (`account: "111122223333"`,
`version: "0.33.0"`, `extraEnv` values). Every error names the file, line and column, the
field, the bad value and the fix. `llmdeploy schema -d schemas` writes the same contract as
JSON Schema, for editors.

**Per-environment overrides.** A model's `spec.environments.<environment>` is a partial
`spec` deep-merged over the model's `spec` in that environment: mappings merge key by key,
lists and values replace. In each environment the model is checked as merged for it, so an
override that breaks a rule is reported with the environment it breaks in. In the example
below, `dev` runs one copy at most and scales to zero.

## Examples

```yaml
{ENVIRONMENT_EXAMPLE.rstrip()}
```

```yaml
{MODEL_EXAMPLE.rstrip()}
```

Field paths below are written as in YAML: `spec.endpoints[].name` is the `name` of each item
of the `endpoints` list; `spec.pricing.<instanceType>` is a key of the `pricing` map.
"Required" is within the enclosing object: `spec.autoscaling.target` is required when
`spec.autoscaling` is given. An optional field without a default is absent unless given; its
description says what that means.
"""

RULES_PREAMBLE = """\
## Rules

The fields' types and ranges above are checked as each file is read. The rules below compare
fields with each other, with the catalog of instances and engines, and with the other specs;
`llmdeploy validate --rules` lists them, and each finding names the rule in brackets
(`[tp-matches-accelerators]`). A finding is an error unless it is reported as a warning
(something that deploys but will not do what the spec says); `validate --strict` counts
warnings as errors. Model rules run on the model as merged for each environment.
"""

# The registry's scopes, in the order a reader meets them.
SCOPES = {
    "environment": ("Environment specs", "Each environment spec on its own."),
    "endpoint": (
        "Shared endpoints and the models on them",
        "Each shared endpoint of an environment, with every model that lives on it.",
    ),
    "model": ("Model specs", "Each model, as merged for each environment it is checked in."),
    "portfolio": (
        "Across the portfolio",
        "Every file of the portfolio, or all environments together, whichever `--env` selects.",
    ),
}


def _rules() -> str:
    from llmdeploy.plan.rules import RULES

    out = [RULES_PREAMBLE]
    known = [s for s in SCOPES if any(r.scope == s for r in RULES.values())]
    other = sorted({r.scope for r in RULES.values()} - set(SCOPES))
    for scope in [*known, *other]:
        title, what = SCOPES.get(scope, (f"Scope: {scope}", ""))
        out.append(f"### {title}\n")
        if what:
            out.append(f"{what}\n")
        out.append("| Rule | Checks |\n|---|---|")
        out.extend(
            f"| `{r.id}` | {_cell(_prose(' '.join(r.summary.split())))} |"
            for r in RULES.values()
            if r.scope == scope
        )
        out.append("")
    return "\n".join(out)


def render() -> str:
    """The whole of docs/spec.md; the same text for the same models and rules."""
    parts = [PREAMBLE]
    for kind, where in (
        ("Environment", "infra/<environment>.yaml"),
        ("Model", "models/<model>.yaml"),
    ):
        parts.append(f"## {kind} (`{where}`)\n\n{_table(kind)}\n")
    parts.append(_rules())
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
