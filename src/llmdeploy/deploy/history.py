"""What was deployed, rolled back or failed: one record per stack per operation.

Two stores with one interface: a local folder (default `.llmdeploy/history`) and S3 (the
environment's `history.s3Uri`). Records are JSON files named so that they sort by time;
each is written whole (a temporary file renamed into place locally, one PUT in S3), so a
crash never leaves half a record. Each store also holds its environments' locks
(`<environment>.lock` beside the environment's records; see `deploy/lock.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from llmdeploy.deploy.lock import LockInfo
from llmdeploy.errors import LlmdeployError

Outcome = str  # succeeded | failed | interrupted | refused


@dataclass(frozen=True)
class Record:
    environment: str
    stack: str
    kind: str  # deploy | rollback | retire
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
    # The capacity parameters passed (live copies or instances, kept): {"CopyCount": "3"}.
    parameters: dict[str, str] | None = None

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

    # The environment's lock (the LockStore protocol of deploy/lock.py).
    def try_lock(self, info: LockInfo) -> LockInfo | None: ...

    def read_lock(self, environment: str) -> LockInfo | None: ...

    def unlock(self, environment: str, lock_id: str) -> None: ...

    def break_lock(self, environment: str) -> None: ...


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

    def _lock_path(self, environment: str) -> Path:
        return self.root / f"{environment}.lock"

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        path = self._lock_path(info.environment)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: of two runs creating the file at once, exactly one succeeds.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return self.read_lock(info.environment) or LockInfo.parse(None, info.environment)
        except OSError as exc:
            raise LlmdeployError(f"cannot take the lock {path}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(info), f)
        return None

    def read_lock(self, environment: str) -> LockInfo | None:
        path = self._lock_path(environment)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return LockInfo.parse(None, environment)
        try:
            return LockInfo.parse(json.loads(text), environment)
        except ValueError:  # being written, or damaged: still held
            return LockInfo.parse(None, environment)

    def unlock(self, environment: str, lock_id: str) -> None:
        held = self.read_lock(environment)
        if held is not None and held.id == lock_id:
            with contextlib.suppress(FileNotFoundError):
                self._lock_path(environment).unlink()

    def break_lock(self, environment: str) -> None:
        try:
            self._lock_path(environment).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LlmdeployError(
                f"cannot remove the lock {self._lock_path(environment)}: {exc.strerror or exc}"
            ) from exc


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

    def _lock_key(self, environment: str) -> str:
        return self._key(f"{environment}.lock")

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        from botocore.exceptions import ClientError

        key = self._lock_key(info.environment)
        try:
            # S3 conditional write: refused (412) when the object exists, so exactly one of
            # two runs takes the lock.
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(asdict(info)).encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return self.read_lock(info.environment) or LockInfo.parse(None, info.environment)
            raise self._error("cannot take the lock", key, exc) from exc
        return None

    def read_lock(self, environment: str) -> LockInfo | None:
        from botocore.exceptions import ClientError

        key = self._lock_key(environment)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._error("cannot read the lock", key, exc) from exc
        try:
            return LockInfo.parse(json.loads(body), environment)
        except ValueError:
            return LockInfo.parse(None, environment)

    def unlock(self, environment: str, lock_id: str) -> None:
        held = self.read_lock(environment)
        if held is not None and held.id == lock_id:
            self.break_lock(environment)

    def break_lock(self, environment: str) -> None:
        from botocore.exceptions import ClientError

        key = self._lock_key(environment)
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise self._error("cannot remove the lock", key, exc) from exc

    def _error(self, what: str, key: str, exc: Exception) -> LlmdeployError:
        from llmdeploy.deploy.aws import describe

        return LlmdeployError(f"{what} s3://{self.bucket}/{key}: {describe(exc)}")


def open_history(s3_uri: str | None, aws: Any, local_root: Path) -> HistoryStore:
    if s3_uri:
        return S3History(aws.client("s3"), s3_uri)
    return LocalHistory(local_root)
