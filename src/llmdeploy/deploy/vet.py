"""Before rollback deploys a recorded template: is it one llmdeploy would deploy?

History records are evidence, not instructions. Anyone who can write the history folder or
S3 prefix could otherwise have the next rollback deploy what they put in a record (an IAM
user with AdministratorAccess, a role that trusts another account, a container image of
theirs). So a recorded template is checked against the template llmdeploy synthesizes now
from the record's own spec, in the environment as it is specified now:

- the record's spec must pass every rule `validate` runs (images from allowed registries,
  weights below a bucket prefix, no secrets…), as the model it names and the stack it sits in;
- the template may hold only resources that reference template has, each under the same
  logical id with the same type; no `Transform` (a macro could expand into anything);
- every property that grants or places trust — IAM policies and roles, trust policies,
  managed policies, key policies, the execution role a model runs as, its network isolation,
  VPC, container image, weights and environment — must equal the reference's exactly.

Other properties (copies, alarm thresholds, timeouts) may differ: they are what a rollback
goes back to. What this does not prove: that the record's spec is the one its author wrote
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
    """What in ``recorded`` llmdeploy's own template for the same spec does not have."""
    problems = []
    if "Transform" in recorded:
        problems.append("it declares a Transform (a macro could expand into any resource)")
    for key in recorded:
        if key not in ALLOWED_TOP_LEVEL and key != "Transform":
            problems.append(f"unexpected top-level section '{key[:40]}'")
    ours = reference.get("Resources") or {}
    theirs = recorded.get("Resources")
    if not isinstance(theirs, dict):
        return [*problems, "no Resources object"]
    for logical, res in theirs.items():
        name = str(logical)[:80]
        if not isinstance(res, dict):
            problems.append(f"resource {name} is not an object")
            continue
        kind = res.get("Type")
        want = ours.get(logical)
        if want is None:
            problems.append(f"resource {name} ({str(kind)[:60]}) is not one llmdeploy creates")
            continue
        if kind != want.get("Type"):
            problems.append(
                f"resource {name} is {str(kind)[:60]}, llmdeploy makes it {want['Type']}"
            )
            continue
        props = res.get("Properties") or {}
        want_props = want.get("Properties") or {}
        if not isinstance(props, dict):
            problems.append(f"resource {name}: Properties is not an object")
            continue
        for key in sorted(set(props) | set(want_props)):
            if key in TRUST_PROPERTIES and props.get(key) != want_props.get(key):
                problems.append(f"{name}.{key} differs from what llmdeploy grants")
    return problems


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
