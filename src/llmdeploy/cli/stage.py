"""`llmdeploy stage`: copy a model's weights from the Hugging Face Hub to its S3 folder."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from llmdeploy.cli.common import (
    EnvOption,
    OutputFormat,
    OutputOption,
    SpecsOption,
    boundary,
    emit_json,
    plain_output,
    report_spec_error,
    spec_paths,
)

ModelArgument = Annotated[str, typer.Argument(help="The model (metadata.name) to stage.")]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="The Hugging Face repository (<organisation>/<model>). Default: the model's "
        "source.huggingFaceId in the environment, else in the spec as written.",
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="The S3 folder (s3://<bucket>/<prefix>/) to copy to. Default: the model's "
        "source.s3Uri in the environment.",
    ),
]
RevisionOption = Annotated[
    str,
    typer.Option(
        "--revision",
        help="Branch, tag or commit sha of the repository. The commit it resolves to is "
        "printed (pass it to stage exactly that again).",
    ),
]
TokenSecretOption = Annotated[
    str | None,
    typer.Option(
        "--token-secret",
        help="Name or ARN of a Secrets Manager secret (in the environment's region) holding "
        "the Hub token. Default: HF_TOKEN, else huggingface_hub's token file.",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="List what would be copied and what is in S3 already."),
]


@boundary
def stage(
    model: ModelArgument,
    env: EnvOption,
    specs: SpecsOption = None,
    repo: FromOption = None,
    to: ToOption = None,
    revision: RevisionOption = "main",
    token_secret: TokenSecretOption = None,
    dry_run: DryRunOption = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Copy a model's weights from the Hugging Face Hub (gated ones too) to its S3 folder,
    with checksums; a second run copies nothing. The token never reaches the spec, the
    endpoint or the output."""
    from llmdeploy import stage as staging
    from llmdeploy.errors import SpecError
    from llmdeploy.stage.progress import for_terminal

    try:
        target = staging.target(spec_paths(specs), env, model, repo=repo, to=to)
    except SpecError as exc:
        report_spec_error(exc, output)
        raise typer.Exit(1) from None
    session = staging.open_session(target, token_secret=token_secret)
    planned = staging.plan(target, session, revision=revision)
    if dry_run:
        if output is OutputFormat.json:
            emit_json(_report(planned, None))
        else:
            _render_plan(planned)
        return
    plain = output is OutputFormat.json or plain_output(sys.stderr)
    progress = for_terminal(planned.upload_bytes, plain=plain)
    try:
        result = staging.run(planned, session, progress)
    finally:
        progress.close()
    if output is OutputFormat.json:
        emit_json(_report(planned, result))
    else:
        _render_result(result)


def _report(planned: Any, result: Any) -> dict[str, Any]:
    t = planned.target
    uploaded = {i.key for i in result.uploaded} if result is not None else set()
    return {
        "model": t.model,
        "environment": t.environment,
        "repo": t.repo,
        "repo_from": t.repo_from,
        "revision": planned.snapshot.revision,
        "commit": planned.snapshot.commit,
        "gated": planned.snapshot.gated,
        "token_source": planned.token.source,
        "destination": t.destination.uri,
        "dry_run": result is None,
        "files": [
            {
                "path": i.file.path,
                "size": i.file.size,
                "sha256": i.file.sha256,
                "key": i.key,
                "action": i.action,
                "reason": i.reason,
                "uploaded": i.key in uploaded,
            }
            for i in planned.items
        ],
        "upload_bytes": planned.upload_bytes,
        "left_on_hub": [{"path": p, "reason": why} for p, why in planned.left],
        "extra_objects": [f"s3://{t.destination.bucket}/{k}" for k in planned.extra],
        "spec_loads_destination": t.spec_loads_destination,
    }


def _head(planned: Any) -> str:
    t, snap = planned.target, planned.snapshot
    pinned = "" if snap.revision == snap.commit else f" (revision {snap.revision})"
    return f"{t.repo} at commit {snap.commit}{pinned} → {t.destination.uri}"


def _render_plan(planned: Any) -> None:
    from llmdeploy.stage.progress import size

    print(f"dry run: {_head(planned)}")
    for i in planned.items:
        print(f"  {i.action:6} {i.file.path} ({size(i.file.size)}): {i.reason}")
    if planned.left:
        print(f"left on the Hub ({len(planned.left)}):")
        for path, why in planned.left:
            print(f"  {path}: {why}")
    _warnings(planned)
    uploads = planned.uploads
    print(
        f"would upload {len(uploads)} file(s), {size(planned.upload_bytes)}; "
        f"{len(planned.items) - len(uploads)} in S3 already"
    )
    if planned.needs_token:
        print(
            f"note: {planned.target.repo} is gated: staging needs a token (HF_TOKEN or "
            "--token-secret) of an account that accepted its license"
        )


def _warnings(planned: Any) -> None:
    if planned.extra:
        shown = ", ".join(planned.extra[:5]) + (" …" if len(planned.extra) > 5 else "")
        print(
            f"warning: {len(planned.extra)} object(s) under {planned.target.destination.uri} "
            f"are no file of this commit ({shown}); the endpoint would see them too: remove "
            "them, or stage each version to its own folder",
            file=sys.stderr,
        )


def _render_result(result: Any) -> None:
    from llmdeploy import stage as staging
    from llmdeploy.stage.progress import size

    planned = result.plan
    t = planned.target
    uploaded = sum(i.file.size for i in result.uploaded)
    print(f"staged {_head(planned)}")
    print(
        f"  uploaded {len(result.uploaded)} file(s), {size(uploaded)}; "
        f"{len(planned.items) - len(result.uploaded)} in S3 already (same size and SHA-256); "
        f"{len(planned.left)} left on the Hub (--dry-run lists them)"
    )
    print(f"  token: {planned.token.source}")
    _warnings(planned)
    if t.spec_loads_destination:
        print(
            f"environment '{t.environment}' loads the model from {t.destination.uri} "
            "(source.s3Uri): deploy as usual; the endpoint reads S3, never the Hub"
        )
    else:
        print(
            f"environment '{t.environment}' does not load {t.destination.uri}; to load these "
            f"weights from S3 (works under network isolation), set in {t.spec_file}:\n"
        )
        yaml = staging.source_yaml(t.repo, t.destination.uri)
        print("\n".join("    " + line for line in yaml.splitlines()))
        print()
    if planned.snapshot.revision != planned.snapshot.commit:
        print(f"to stage exactly this commit again: --revision {planned.snapshot.commit}")
