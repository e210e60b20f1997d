"""Before rollback deploys a recorded template: is it one llmdeploy would deploy?

History records are evidence, not instructions. Anyone who can write the history folder or
S3 prefix could otherwise have the next rollback deploy what they put in a record (an IAM
user with AdministratorAccess, a role that trusts another account, a container image of
theirs). So a recorded template is checked against the template llmdeploy synthesizes now
from the record's own spec, in the environment as it is specified now:

- the record's spec must pass every rule `validate` runs (images from allowed registries,
  weights below a bucket prefix, no secrets…), as the model it names and the stack it sits in;
- the recorded template must then equal that reference: every section (Parameters,
  Conditions, Outputs…), every resource, property and attribute (Condition, DeletionPolicy,
  DependsOn), with no `Transform` (a macro could expand into anything). Only the template's
  free-text Description may differ. Deny by default: an allowlist of "safe" properties was
  tried and an endpoint pointed at a hand-made endpoint config, a data capture to another
  bucket and alarms without actions all passed it.

A rollback to a record written by an older llmdeploy whose constructs built something else
is refused too (with what differs): deploy that version from its spec file instead.
What this does not prove: that the record's spec is the one its author wrote
(someone who can write the store can write a spec that passes the rules, with an image from
an allowed registry). Protect the store itself: see README, "Protecting the history".
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from llmdeploy.deploy.history import Record
from llmdeploy.errors import LlmdeployError, SpecError, clip
from llmdeploy.plan.resolve import ResolvedEnvironment
from llmdeploy.secrets import redact

# Properties that grant, trust or decide what code runs with which identity and network.
TRUST_PROPERTIES = frozenset(
    {
        # IAM
        "AssumeRolePolicyDocument",
        "Policies",
        "PolicyDocument",
        "ManagedPolicyArns",
        "PermissionsBoundary",
        "Roles",
        "Users",
        "Groups",
        "Path",
        "RoleName",
        "PolicyName",
        # resource policies
        "KeyPolicy",
        # who a resource runs as
        "ExecutionRoleArn",
        "RoleARN",
        "RoleArn",
        # what runs, and where it may reach
        "PrimaryContainer",
        "Containers",
        "EnableNetworkIsolation",
        "VpcConfig",
        "KmsKeyId",
        "Specification",  # an inference component: which Model (and so which role) it runs
        "ProductionVariants",  # an endpoint config: the same, for a dedicated endpoint
    }
)
ALLOWED_TOP_LEVEL = frozenset(
    {
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Resources",
        "Conditions",
        "Mappings",
        "Rules",
        "Outputs",
    }
)


class RecordRefused(LlmdeployError):
    """A recorded template llmdeploy would not deploy."""


def vet(env: ResolvedEnvironment, record: Record, stack: str) -> None:
    """Refuse ``record`` unless its template is one llmdeploy would deploy for its spec."""
    where = f"record {record.id or '?'} (version {record.version}, {record.when})"
    try:
        recorded = json.loads(record.template)
    except ValueError:
        raise RecordRefused(f"refusing {where}: its template is not JSON") from None
    if not isinstance(recorded, dict):
        raise RecordRefused(f"refusing {where}: its template is not a JSON object")
    reference = reference_template(env, record, stack, where)
    problems = differences(recorded, reference)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise RecordRefused(
            f"refusing {where}: its template is not what llmdeploy builds from its spec: "
            f"{shown}. Deploy the version from its spec file instead (`llmdeploy deploy`), "
            "and check who can write the history store"
        )


def differences(recorded: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Where ``recorded`` is not llmdeploy's own template for the same spec. Deny by default:
    every section, resource, property and attribute must be equal; only the template's
    free-text Description may differ."""
    problems = []
    if "Transform" in recorded:
        problems.append("it declares a Transform (a macro could expand into any resource)")
    for key in sorted(set(recorded) | set(reference), key=str):
        if key in ("Description", "Transform"):
            continue
        if key not in ALLOWED_TOP_LEVEL:
            problems.append(f"unexpected top-level section '{str(key)[:40]}'")
        elif key == "Resources":
            problems.extend(_resource_differences(recorded.get(key), reference.get(key) or {}))
        elif recorded.get(key) != reference.get(key):
            problems.append(f"its {key} differ from llmdeploy's")
    return problems


def _resource_differences(theirs: Any, ours: dict[str, Any]) -> list[str]:
    if not isinstance(theirs, dict):
        return ["no Resources object"]
    problems = []
    for logical in sorted(set(theirs) | set(ours), key=str):
        name = str(logical)[:80]
        res, want = theirs.get(logical), ours.get(logical)
        if want is None:
            kind = res.get("Type") if isinstance(res, dict) else None
            problems.append(f"resource {name} ({str(kind)[:60]}) is not one llmdeploy creates")
        elif res is None:
            problems.append(f"resource {name} ({want.get('Type')}) is missing")
        elif not isinstance(res, dict):
            problems.append(f"resource {name} is not an object")
        elif res.get("Type") != want.get("Type"):
            problems.append(
                f"resource {name} is {str(res.get('Type'))[:60]}, llmdeploy makes it "
                f"{want.get('Type')}"
            )
        elif res != want:
            keys = []
            for attr in sorted(set(res) | set(want), key=str):
                if attr == "Properties":
                    changed = _changed_keys(res.get(attr), want.get(attr))
                    keys += [f"Properties.{k}" for k in sorted(changed)]
                elif res.get(attr) != want.get(attr):
                    keys.append(str(attr)[:40])
            trust = [k for k in keys if k.split(".")[-1] in TRUST_PROPERTIES]
            what = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
            problems.append(
                f"{name}: {what} differ from what llmdeploy builds"
                + (" (grants or trust)" if trust else "")
            )
    return problems


def _changed_keys(theirs: Any, ours: Any) -> list[str]:
    if not isinstance(theirs, dict) or not isinstance(ours, dict):
        return ["(all)"] if theirs != ours else []
    return [str(k)[:40] for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k)]


def reference_template(
    env: ResolvedEnvironment, record: Record, stack: str, where: str
) -> dict[str, Any]:
    """The template llmdeploy synthesizes now for the record's spec, in ``env``."""
    from llmdeploy.deploy.targets import build_targets
    from llmdeploy.plan import check

    spec = record.spec
    name = (spec.get("metadata") or {}).get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str) or name != record.model:
        raise RecordRefused(
            f"refusing {where}: its spec names model {str(name)[:60]!r}, the record "
            f"{str(record.model)[:60]!r}"
        )
    with tempfile.TemporaryDirectory(prefix="llmdeploy-vet-") as tmp:
        root = Path(tmp)
        (root / "models").mkdir()
        (root / "infra").mkdir()
        model_file = root / "models" / "recorded.yaml"
        model_file.write_text(json.dumps(spec))  # JSON is YAML
        env_file = root / "infra" / Path(env.doc.source.file).name
        env_file.write_text(Path(env.doc.source.file).read_text())
        try:
            (resolved,) = check([model_file, env_file], [env.name]).environments
        except SpecError as exc:
            errors = [d for d in exc.diagnostics if d.severity == "error"]
            first = errors[0] if errors else None
            what = redact(clip(f"{first.path}: {first.message}", 200)) if first else "invalid"
            raise RecordRefused(
                f"refusing {where}: its spec does not pass validation now ({what})"
            ) from None
        targets = build_targets(resolved, root / "out", [name])
    for t in targets:
        if t.stack == stack:
            return json.loads(t.template)
    raise RecordRefused(f"refusing {where}: its spec does not produce stack {stack}")
