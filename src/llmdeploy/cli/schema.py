"""`llmdeploy schema`: JSON Schema of the spec kinds, for editors and other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmdeploy.cli.common import boundary, emit_json


@boundary
def schema(
    output_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", "-d", help="Write <kind>.schema.json files here."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", "-k", help="Print only this kind (Environment, Model).")
    ] = None,
) -> None:
    """Write the JSON Schema of Environment and Model specs (default: print both)."""
    from llmdeploy.errors import LlmdeployError
    from llmdeploy.spec.schema import schemas, write

    all_schemas = schemas()
    if kind is not None and output_dir is not None:
        raise LlmdeployError("give --kind (print one) or --out-dir (write both), not both")
    if kind is not None:
        if kind not in all_schemas:
            raise LlmdeployError(f"--kind {kind}: choose one of {', '.join(all_schemas)}")
        emit_json(all_schemas[kind])
        return
    if output_dir is None:
        emit_json(all_schemas)
        return
    for path in write(output_dir):
        print(f"wrote {path}")
