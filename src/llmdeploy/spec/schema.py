"""JSON Schema of the spec kinds, generated from the typed models (one source of truth)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmdeploy.errors import LlmdeployError
from llmdeploy.spec.models import KINDS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for kind, cls in KINDS.items():
        body = cls.model_json_schema(by_alias=True, mode="validation")
        out[kind] = {"$schema": SCHEMA_DIALECT, **body, "title": f"llmdeploy/v1 {kind}"}
    return out


def filename(kind: str) -> str:
    return f"{kind.lower()}.schema.json"


def write(directory: Path) -> list[Path]:
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for kind, body in schemas().items():
            path = directory / filename(kind)
            path.write_text(json.dumps(body, indent=2) + "\n")
            written.append(path)
    except OSError as exc:
        raise LlmdeployError(
            f"cannot write the schemas to {directory}: {exc.strerror} (give a folder path)"
        ) from exc
    return written
