"""Spec-level differences: which fields changed, old → new. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmdeploy.deploy.actions import Change


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class StackDiff:
    stack: str
    kind: str
    name: str
    status: str  # new | changed | unchanged
    fields: tuple[FieldChange, ...] | None  # None: no deployment on record to compare with
    version_old: int | None = None
    version_new: int | None = None
    resources: tuple[Change, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    # What the deploy would run with: "copies: 5 running, kept; spec initial 1".
    capacity: tuple[str, ...] = field(default=())

    @property
    def replaces_endpoint(self) -> bool:
        return any(
            c.destructive and c.resource_type == "AWS::SageMaker::Endpoint" for c in self.resources
        )


def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Leaf-level differences between two JSON values (lists compare whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(FieldChange(sub, None, new[key]))
            elif key not in new:
                out.append(FieldChange(sub, old[key], None))
            else:
                out.extend(field_changes(old[key], new[key], sub))
        return out
    return [] if old == new else [FieldChange(path, old, new)]


def version_warning(fields: list[FieldChange], old: int | None, new: int | None) -> str | None:
    content = [f for f in fields if f.path != "metadata.version"]
    if content and old is not None and new is not None and new <= old:
        return (
            f"the spec changed ({', '.join(f.path for f in content[:3])}"
            f"{', ...' if len(content) > 3 else ''}) but metadata.version is still {new}: "
            "bump it so that history and rollback can tell the two apart"
        )
    return None
