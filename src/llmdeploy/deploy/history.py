"""What was deployed, rolled back or failed: one record per stack per operation.

Two stores with one interface: a local folder (default `.llmdeploy/history`) and S3 (the
environment's `history.s3Uri`). Records are JSON files named so that they sort by time;
each is written whole (a temporary file renamed into place locally, one PUT in S3), so a
crash never leaves half a record.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from llmdeploy.errors import LlmdeployError

Outcome = str  # succeeded | failed | interrupted | refused


@dataclass(frozen=True)
class Record:
    environment: str
    stack: str
    kind: str  # deploy | rollback
    outcome: Outcome
    who: str
    when: str  # ISO 8601, UTC
    template: str  # exactly as submitted to CloudFormation
    spec: dict[str, Any]  # the resolved spec this template was built from
    spec_text: str  # the spec file as written
    model: str | None = None
    version: int | None = None
    reason: str | None = None
    change_set: str | None = None
    id: str = ""

    @staticmethod
    def new(**fields: Any) -> Record:
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return Record(when=when, id=uuid.uuid4().hex[:12], **fields)

    @property
    def key(self) -> str:
        return f"{self.environment}/{self.stack}/{self.when}-{self.id}.json"


class HistoryStore(Protocol):
    def append(self, record: Record) -> None: ...

    def list(self, environment: str, stack: str | None = None) -> list[Record]: ...


def _decode(text: str, where: str) -> Record:
    try:
        return Record(**json.loads(text))
    except (ValueError, TypeError) as exc:
        raise LlmdeployError(f"history record {where} is not readable: {exc}") from exc


class LocalHistory:
    def __init__(self, root: Path):
        self.root = root

    def append(self, record: Record) -> None:
        path = self.root / record.key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(record), f, indent=1)
        os.replace(tmp, path)

    def list(self, environment: str, stack: str | None = None) -> list[Record]:
        base = self.root / environment
        if not base.exists():
            return []
        pattern = f"{stack}/*.json" if stack else "*/*.json"
        records = [_decode(p.read_text(), str(p)) for p in base.glob(pattern)]
        return sorted(records, key=lambda r: (r.when, r.id))


class S3History:
    def __init__(self, s3: Any, uri: str):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.rstrip("/")

    def _key(self, rest: str) -> str:
        return f"{self.prefix}/{rest}" if self.prefix else rest

    def append(self, record: Record) -> None:
        from botocore.exceptions import ClientError

        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self._key(record.key),
                Body=json.dumps(asdict(record), indent=1).encode(),
                ContentType="application/json",
                ServerSideEncryption="aws:kms",
            )
        except ClientError as exc:
            from llmdeploy.deploy.aws import describe

            raise LlmdeployError(
                f"cannot write history to s3://{self.bucket}/{self._key(record.key)}: "
                f"{describe(exc)}"
            ) from exc

    def list(self, environment: str, stack: str | None = None) -> list[Record]:
        from botocore.exceptions import ClientError

        prefix = self._key(f"{environment}/{stack}/" if stack else f"{environment}/")
        records = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for obj in page.get("Contents", []):
                    body = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                    records.append(_decode(body.decode(), obj["Key"]))
        except ClientError as exc:
            from llmdeploy.deploy.aws import describe

            raise LlmdeployError(
                f"cannot read history from s3://{self.bucket}/{prefix}: {describe(exc)}"
            ) from exc
        return sorted(records, key=lambda r: (r.when, r.id))


def open_history(s3_uri: str | None, aws: Any, local_root: Path) -> HistoryStore:
    if s3_uri:
        return S3History(aws.client("s3"), s3_uri)
    return LocalHistory(local_root)
