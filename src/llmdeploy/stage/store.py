"""The weights' S3 prefix: what is there, and uploads through boto3's transfer manager.

Every object stage writes carries its content's SHA-256 twice: S3's own checksum
(``ChecksumAlgorithm=SHA256``: S3 verifies each part as it arrives, and for an object sent in
one part S3's checksum is the whole content's) and user metadata ``sha256``, the whole
content's digest whatever the parts (S3 keeps a checksum of the parts' checksums for a
multipart object, which no hub states). ``hf-etag`` is the Hub's name for the content (the
LFS SHA-256, or the git blob id of a small file): a later run compares it with the Hub's
listing without downloading anything.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdeploy.deploy.aws import AWS_ERRORS, describe
from llmdeploy.errors import LlmdeployError

# Parts of 64 MiB: a 5 GB safetensors shard is 75 parts (S3 allows 10,000), each retried on
# its own; files below the threshold go in one PUT, with S3's checksum of the whole object.
PART_BYTES = 64 * 1024 * 1024
CONCURRENCY = 8

META_SHA256 = "sha256"
META_ETAG = "hf-etag"
META_REPO = "hf-repo"
META_COMMIT = "hf-commit"


@dataclass(frozen=True)
class Remote:
    """An object under the prefix, as HeadObject describes it."""

    size: int
    sha256: str | None  # our metadata: the whole content's SHA-256 (hex)
    hub_etag: str | None  # our metadata: the Hub's id of the content
    s3_sha256: str | None  # S3's checksum (hex) when the object was sent in one part


def _hex(b64: str | None) -> str | None:
    if not b64 or "-" in b64:  # "<checksum of checksums>-<parts>": not the content's
        return None
    try:
        return base64.b64decode(b64).hex()
    except ValueError:
        return None


class Store:
    def __init__(self, s3: Any, bucket: str, prefix: str, kms_key_arn: str | None):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix  # ends in "/"
        self.kms_key_arn = kms_key_arn

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def _fail(self, what: str, exc: Exception) -> LlmdeployError:
        return LlmdeployError(f"{what}: {describe(exc)}")

    def keys(self) -> list[str]:
        """Every key under the prefix."""
        found: list[str] = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                found.extend(o["Key"] for o in page.get("Contents", ()))
        except AWS_ERRORS as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "NoSuchBucket":
                raise LlmdeployError(
                    f"no bucket '{self.bucket}' (from {self.uri(self.prefix)}): create it, or "
                    "stage to a bucket the environment's account owns"
                ) from None
            raise self._fail(f"cannot list {self.uri(self.prefix)}", exc) from None
        return found

    def head(self, key: str) -> Remote | None:
        try:
            answer = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except AWS_ERRORS as exc:
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return None
            raise self._fail(f"cannot read {self.uri(key)}", exc) from None
        meta = answer.get("Metadata") or {}
        return Remote(
            size=answer["ContentLength"],
            sha256=meta.get(META_SHA256),
            hub_etag=meta.get(META_ETAG),
            s3_sha256=_hex(answer.get("ChecksumSHA256")),
        )

    def upload(
        self,
        path: Path,
        key: str,
        metadata: dict[str, str],
        advance: Callable[[int], None],
    ) -> None:
        from boto3.s3.transfer import TransferConfig

        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256", "Metadata": metadata}
        if self.kms_key_arn:
            extra["ServerSideEncryption"] = "aws:kms"
            extra["SSEKMSKeyId"] = self.kms_key_arn
        config = TransferConfig(
            multipart_threshold=PART_BYTES,
            multipart_chunksize=PART_BYTES,
            max_concurrency=CONCURRENCY,
        )
        try:
            self.s3.upload_file(
                str(path), self.bucket, key, ExtraArgs=extra, Config=config, Callback=advance
            )
        except AWS_ERRORS as exc:
            raise self._fail(f"cannot upload to {self.uri(key)}", exc) from None
        except Exception as exc:  # s3transfer wraps a part's failure in its own error
            if type(exc).__module__.startswith(("s3transfer", "boto3")):
                cause = exc.__cause__ or exc.__context__ or exc
                raise self._fail(f"cannot upload to {self.uri(key)}", cause) from None
            raise
