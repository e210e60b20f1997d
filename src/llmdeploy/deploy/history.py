"""What was deployed, rolled back or failed: one record per stack per operation.

Two stores with one interface: a local folder (default `.llmdeploy/history`) and S3 (the
environment's `history.s3Uri`). Records are JSON files named so that they sort by time;
each is written whole (a temporary file renamed into place locally, one PUT in S3), so a
crash never leaves half a record. Each store also holds its environments' locks
(`<environment>.lock` beside the environment's records; see `deploy/lock.py`).

Records are read as untrusted input: a record whose fields have the wrong types, that is not
UTF-8 JSON, that lies in another stack's folder or whose template does not match its digest
is reported as damaged (where, which field, what is wrong) and never used. The digest catches
corruption and careless edits; anyone who can write the store can also recompute it, which
is why rollback checks a recorded template itself before deploying it (`deploy/vet.py`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from llmdeploy.deploy.kinds import Kind, Outcome, coerce
from llmdeploy.deploy.lock import LockInfo
from llmdeploy.errors import LlmdeployError, clip


@dataclass(frozen=True)
class Record:
    environment: str
    stack: str
    kind: Kind
    outcome: Outcome
    who: str
    when: str  # ISO 8601, UTC
    template: str  # exactly as submitted to CloudFormation
    spec: dict[str, Any]  # the resolved spec this template was built from
    spec_text: str  # this environment's resolved spec, as YAML (never other environments')
    model: str | None = None
    version: int | None = None
    reason: str | None = None
    change_set: str | None = None
    id: str = ""
    # The capacity parameters passed (live copies or instances, kept): {"CopyCount": "3"}.
    parameters: dict[str, str] | None = None
    digest: str | None = None  # sha256 of `template`, checked on read
    # The fingerprint of the template's inputs (llmdeploy.synth.fingerprint); None in records
    # written before it existed, and in those of templates llmdeploy did not build.
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        coerce(self, "kind", Kind)
        coerce(self, "outcome", Outcome)

    @staticmethod
    def new(**fields: Any) -> Record:
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return Record(
            when=when,
            id=uuid.uuid4().hex[:12],
            digest=template_digest(fields["template"]),
            **fields,
        )

    @property
    def key(self) -> str:
        return f"{self.environment}/{self.stack}/{self.when}-{self.id}.json"


class HistoryStore(Protocol):
    def append(self, record: Record) -> None: ...

    def list(self, environment: str, stack: str | None = None) -> list[Record]:
        """The readable records, oldest first (damaged ones left out: see `scan`)."""

    def scan(self, environment: str, stack: str | None = None) -> Scan: ...

    # The environment's lock (the LockStore protocol of deploy/lock.py).
    def try_lock(self, info: LockInfo) -> LockInfo | None: ...

    def read_lock(self, environment: str) -> LockInfo | None: ...

    def unlock(self, environment: str, lock_id: str) -> None: ...

    def break_lock(self, environment: str) -> None: ...


def template_digest(template: str) -> str:
    return "sha256:" + hashlib.sha256(template.encode()).hexdigest()


class DamagedRecord(LlmdeployError):
    """A history record that cannot be trusted as written."""


@dataclass(frozen=True)
class Scan:
    """The records of a listing, and the ones that were damaged (where: why)."""

    records: list[Record]
    damaged: list[str]


_KINDS = tuple(k.value for k in Kind)
_OUTCOMES = tuple(o.value for o in Outcome)
_TEXT = ("environment", "stack", "who", "when", "template", "spec_text")
_OPTIONAL_TEXT = ("model", "reason", "change_set", "digest", "fingerprint")


def _decode(data: bytes, where: str, environment: str, stack: str | None) -> Record:
    """A record from the bytes of its file, checked field by field."""

    def bad(what: str) -> DamagedRecord:
        return DamagedRecord(
            f"history record {where} is damaged: {what}; it is not used (restore it from a "
            "backup or an S3 version, or move it aside)"
        )

    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 (byte {exc.start})") from None
    except ValueError as exc:
        raise bad(f"not JSON ({str(exc)[:80]})") from None
    except RecursionError:
        raise bad("JSON nested too deeply to read") from None
    if not isinstance(doc, dict):
        raise bad(f"a JSON {type(doc).__name__}, not an object")
    fields: dict[str, Any] = {}
    for key in _TEXT:
        value = doc.get(key)
        if not isinstance(value, str):
            raise bad(f"field '{key}' is {_shown(value)}, expected a string")
        fields[key] = value
    for key in _OPTIONAL_TEXT:
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(f"field '{key}' is {_shown(value)}, expected a string or null")
        fields[key] = value
    for key, allowed in (("kind", _KINDS), ("outcome", _OUTCOMES)):
        if doc.get(key) not in allowed:
            raise bad(f"field '{key}' is {_shown(doc.get(key))}, expected one of {allowed}")
        fields[key] = doc[key]
    if not isinstance(doc.get("spec"), dict):
        raise bad(f"field 'spec' is {_shown(doc.get('spec'))}, expected an object")
    fields["spec"] = doc["spec"]
    version = doc.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise bad(f"field 'version' is {_shown(version)}, expected an integer or null")
    fields["version"] = version
    params = doc.get("parameters")
    if params is not None and not (
        isinstance(params, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    ):
        raise bad(f"field 'parameters' is {_shown(params)}, expected strings by name")
    fields["parameters"] = params
    fields["id"] = doc.get("id") if isinstance(doc.get("id"), str) else ""
    if fields["environment"] != environment or (stack is not None and fields["stack"] != stack):
        raise bad(
            f"it says environment '{fields['environment'][:40]}', stack "
            f"'{fields['stack'][:80]}' but lies in {environment}/{stack or '…'}"
        )
    if fields["digest"] is not None and fields["digest"] != template_digest(fields["template"]):
        raise bad("its template does not match its digest: it was changed after it was written")
    return Record(**fields)


def _shown(value: Any) -> str:
    text = json.dumps(value)[:40] if not isinstance(value, bytes) else repr(value)[:40]
    return f"{text} ({type(value).__name__})" if value is not None else "missing"


def _stack_of(path: str) -> str:
    return path.rsplit("/", 2)[-2]


class LocalHistory:
    def __init__(self, root: Path):
        self.root = root

    def append(self, record: Record) -> None:
        path = self.root / record.key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(record), f, indent=1)
            os.replace(tmp, path)
        except OSError as exc:
            raise LlmdeployError(f"cannot write history to {path}: {exc.strerror or exc}") from exc

    def list(self, environment: str, stack: str | None = None) -> list[Record]:
        return self.scan(environment, stack).records

    def scan(self, environment: str, stack: str | None = None) -> Scan:
        base = self.root / environment
        try:
            if not base.is_dir():
                return Scan([], [])
            paths = sorted(base.glob(f"{stack}/*.json" if stack else "*/*.json"))
        except OSError as exc:
            raise LlmdeployError(
                f"cannot read the history folder {base}: {exc.strerror or exc}"
            ) from exc
        records, damaged = [], []
        for p in paths:
            try:
                if not p.is_file():  # a folder, a pipe (reading it would hang), a device
                    raise OSError(0, "not a regular file")
                data = p.read_bytes()
                records.append(_decode(data, str(p), environment, _stack_of(p.as_posix())))
            except DamagedRecord as exc:
                damaged.append(str(exc))
            except OSError as exc:  # a folder named *.json, no permission...
                damaged.append(
                    f"history record {p} cannot be read ({exc.strerror or exc}); it is not used"
                )
        return Scan(sorted(records, key=lambda r: (r.when, r.id)), damaged)

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
            # A dangling symlink still blocks O_EXCL: it is a lock, of unknown holder.
            return LockInfo.parse(None, environment) if path.is_symlink() else None
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
        from llmdeploy.deploy.aws import AWS_ERRORS

        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self._key(record.key),
                Body=json.dumps(asdict(record), indent=1).encode(),
                ContentType="application/json",
                ServerSideEncryption="aws:kms",
            )
        except AWS_ERRORS as exc:
            from llmdeploy.deploy.aws import describe

            raise LlmdeployError(
                f"cannot write history to s3://{self.bucket}/{self._key(record.key)}: "
                f"{describe(exc)}"
            ) from exc

    def list(self, environment: str, stack: str | None = None) -> list[Record]:
        return self.scan(environment, stack).records

    def scan(self, environment: str, stack: str | None = None) -> Scan:
        from llmdeploy.deploy.aws import AWS_ERRORS, describe

        prefix = self._key(f"{environment}/{stack}/" if stack else f"{environment}/")
        records, damaged = [], []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if not key.endswith(".json") or key.count("/") - prefix.count("/") != (
                        0 if stack else 1
                    ):
                        continue  # not a record (a lock, a stray object)
                    body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                    where = f"s3://{self.bucket}/{key}"
                    try:
                        records.append(_decode(body, where, environment, _stack_of(key)))
                    except DamagedRecord as exc:
                        damaged.append(str(exc))
        except AWS_ERRORS as exc:
            raise LlmdeployError(
                f"cannot read history from s3://{self.bucket}/{prefix}: {describe(exc)}"
            ) from exc
        return Scan(sorted(records, key=lambda r: (r.when, r.id)), damaged)

    def _lock_key(self, environment: str) -> str:
        return self._key(f"{environment}.lock")

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        from botocore.exceptions import ClientError

        from llmdeploy.deploy.aws import AWS_ERRORS

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
        except AWS_ERRORS as exc:  # the network: never a traceback
            raise self._error("cannot take the lock", key, exc) from exc
        return None

    def read_lock(self, environment: str) -> LockInfo | None:
        from botocore.exceptions import ClientError

        from llmdeploy.deploy.aws import AWS_ERRORS

        key = self._lock_key(environment)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._error("cannot read the lock", key, exc) from exc
        except AWS_ERRORS as exc:
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

        from llmdeploy.deploy.aws import AWS_ERRORS

        key = self._lock_key(environment)
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except AWS_ERRORS as exc:
            raise self._error("cannot remove the lock", key, exc) from exc

    def _error(self, what: str, key: str, exc: Exception) -> LlmdeployError:
        from llmdeploy.deploy.aws import describe

        return LlmdeployError(f"{what} s3://{self.bucket}/{key}: {describe(exc)}")


def last_success(records: Sequence[Record]) -> Record | None:
    """The latest successful deploy or rollback (a retirement deployed nothing)."""
    done = [r for r in records if r.outcome == "succeeded" and r.kind != "retire"]
    return done[-1] if done else None


def open_history(s3_uri: str | None, aws: Any, local_root: Path) -> HistoryStore:
    if s3_uri:
        return S3History(aws.client("s3"), s3_uri)
    return LocalHistory(local_root)


class Pending:
    """Records a store refused (S3 unreachable, no permission, a full disk) after the
    deployment they describe happened: kept in a local folder and written on the next run,
    so that the outcome is reported now and the record is never lost."""

    def __init__(self, root: Path):
        self.root = root

    def keep(self, record: Record) -> Path:
        """Write ``record`` as the local store would (atomically), under the pending folder."""
        LocalHistory(self.root).append(record)
        return self.root / record.key

    def flush(
        self, store: HistoryStore, environment: str, who: str | None = None
    ) -> tuple[int, list[str]]:
        """Write the environment's pending records to ``store``: (written, problems). With
        ``who``, only records that caller wrote: a file someone put in the folder (or
        committed to a repository CI runs in) must not reach the store under CI's name."""
        base = self.root / environment
        if not base.is_dir():
            return 0, []
        written, problems = 0, []
        for path in sorted(base.glob("*/*.json")):
            try:
                if not path.is_file():
                    raise LlmdeployError(f"pending record {path} is not a regular file")
                record = _decode(path.read_bytes(), str(path), environment, path.parent.name)
                if who is not None and record.who != who:
                    raise LlmdeployError(
                        f"pending record {path} was written by {clip(record.who, 120)}, not by "
                        "you: not written to the history (check where it came from, then "
                        "delete it)"
                    )
                store.append(record)
            except LlmdeployError as exc:
                problems.append(str(exc))
                continue
            except OSError as exc:
                problems.append(f"pending record {path}: {exc.strerror or exc}")
                continue
            path.unlink()
            written += 1
        return written, problems


def write_record(
    store: HistoryStore, pending: Pending | None, record: Record, warn: Callable[[str], None]
) -> None:
    """Append ``record``; when the store refuses, keep it pending and say so. Never raises:
    the deployment it describes has happened, and its outcome must still be reported."""
    try:
        store.append(record)
        return
    except LlmdeployError as exc:
        problem = str(exc)
    if pending is None:
        warn(f"{problem}; the record is lost: {json.dumps(asdict(record))[:2000]}")
        return
    try:
        path = pending.keep(record)
    except LlmdeployError as exc:
        warn(f"{problem}; and it cannot be kept locally either ({exc})")
        return
    warn(f"{problem}; the record is kept in {path} and written on the next run")
