"""What a spec value may grant: S3 weights, ECR images and KMS keys, each to exactly one thing.

A model's execution role reads its weights, pulls its image and uses its environment's key;
the ARNs in those grants are built from spec text. IAM reads ``*`` and ``?`` in a resource as
wildcards and ``${...}`` as a policy variable, and a prefix without a trailing ``/`` matches
its siblings (``flow`` covers ``flow-old/``): a careless or hostile value would widen the
grant to a whole bucket, every repository or every key. These parsers accept only values that
name one folder, one object, one repository or one key, and say why anything else is refused.

Pure functions of text, no AWS and no CDK: `plan.trust` turns the problems into located
diagnostics, and the constructs raise ``ValueError`` on them (defence in depth, for values
passed to the constructs directly).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# IAM resource ARNs: `*` and `?` are wildcards, `${...}` a policy variable.
_IAM_SPECIAL = ("*", "?", "$")
TARBALL_SUFFIX = ".tar.gz"  # what `ModelData.compressed` reads as one compressed object


@dataclass(frozen=True)
class Problem:
    """Why a value is refused, and what to write instead."""

    message: str
    fix: str


# --- S3 weights --------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Source:
    """Weights in S3: a folder (``key`` ends with ``/``) or one ``.tar.gz`` object."""

    bucket: str
    key: str

    @property
    def is_object(self) -> bool:
        return not self.key.endswith("/")

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` is not a valid S3 bucket name (general purpose buckets), or None."""
    if not 3 <= len(bucket) <= 63:
        return f"a bucket name has 3 to 63 characters, not {len(bucket)}"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*[a-z0-9]", bucket):
        return (
            "a bucket name holds lower-case letters, digits, '.' and '-', and starts and "
            "ends with a letter or digit"
        )
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "a bucket name has no '..', '.-' or '-.'"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        pass
    else:
        return "a bucket name is not an IP address"
    if bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3")):
        return "the prefixes xn-- and sthree- and the suffixes -s3alias and --ol-s3 are S3's own"
    return None


def parse_s3_source(uri: str) -> S3Source | Problem:
    """``uri`` as the weights of one model: a folder below the bucket root, ending in ``/``,
    or one ``.tar.gz`` object; never the bucket, a sibling prefix, a wildcard or ``..``."""
    if not uri.startswith("s3://"):
        return Problem("is not an s3:// URI", "use s3://<bucket>/<model>/<version>/")
    bucket, _, key = uri[len("s3://") :].partition("/")
    why = bucket_problem(bucket)
    if why is not None:
        return Problem(
            f"'{_clip(bucket)}' is not a valid bucket name: {why}",
            "use the weights' bucket as S3 names it, e.g. s3://acme-models/<model>/<version>/",
        )
    special = next((c for c in _IAM_SPECIAL if c in key), None)
    if special is not None:
        what = "a policy variable (${...})" if special == "$" else f"a wildcard ('{special}')"
        return Problem(
            f"IAM reads '{special}' in a resource as {what}: the model's role could read "
            "other objects than its weights",
            "name the one folder that holds the weights, without * ? or $: "
            f"s3://{bucket}/<model>/<version>/",
        )
    if any(not c.isprintable() for c in key):
        return Problem(
            "holds a control character",
            f"name the folder in printable characters: s3://{bucket}/<model>/<version>/",
        )
    if not key:
        return Problem(
            f"names the whole bucket: the model's role would read every object in {bucket}",
            f"give the folder that holds the weights: s3://{bucket}/<model>/<version>/",
        )
    segments = key.split("/")
    body = segments[:-1] if key.endswith("/") else segments
    if any(s == "" for s in body):
        return Problem(
            "has an empty path segment ('//' or a leading '/'): S3 keeps it as part of the "
            "key, so the weights are not where the path seems to point",
            f"write the prefix without empty segments: s3://{bucket}/"
            + "/".join(s for s in body if s)
            + "/",
        )
    if any(s in (".", "..") for s in body):
        return Problem(
            "has a '.' or '..' segment: S3 keys are not paths, so '..' is two dots in the key, "
            "not the parent folder",
            f"write the folder's own key: s3://{bucket}/"
            + "/".join(s for s in body if s not in (".", ".."))
            + "/",
        )
    if not key.endswith("/") and not key.endswith(TARBALL_SUFFIX):
        return Problem(
            f"a prefix without a trailing / also covers its siblings ('{_clip(key)}*': "
            f"'{_clip(key)}-old/', '{_clip(key)}2/'...): the model's role could read them",
            f"s3://{bucket}/{_clip(key)}/ — end the prefix with / so that it covers only this "
            f"folder (or give one {TARBALL_SUFFIX} object)",
        )
    return S3Source(bucket, key)


def require_s3_source(uri: str) -> S3Source:
    """`parse_s3_source`, raising ``ValueError`` (for the constructs)."""
    parsed = parse_s3_source(uri)
    if isinstance(parsed, Problem):
        raise ValueError(f"model data {_clip(uri)!r} {parsed.message}. Fix: {parsed.fix}.")
    return parsed


# --- ECR images --------------------------------------------------------------------------------

_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9])\."
    r"(?P<domain>amazonaws\.com(?:\.cn)?)"
    rf"/(?P<repository>{_NAME}(?:/{_NAME})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127})|@(?P<digest>sha256:[a-f0-9]{64}))"
)


@dataclass(frozen=True)
class EcrImage:
    account: str
    region: str
    domain: str
    repository: str
    reference: str  # ":tag" or "@sha256:..."

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.{self.domain}"

    @property
    def partition(self) -> str:
        return partition_of(self.region)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def ecr_domain(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def parse_image(uri: str) -> EcrImage | Problem:
    """An ECR image URI naming one repository: ``<registry>/<repository>:<tag>`` (or
    ``@sha256:<digest>``), with no wildcard anywhere."""
    special = next((c for c in _IAM_SPECIAL if c in uri), None)
    if special is not None:
        return Problem(
            f"'{special}' is no part of an image name; in the role's ECR grant IAM would read it "
            "as a wildcard, and the model could pull from every repository it matches",
            "name one image: <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>",
        )
    m = _IMAGE.fullmatch(uri)
    if m is None:
        return Problem(
            "is not an ECR image URI of one repository",
            "use <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (repository: "
            "lower-case letters, digits, '.', '_', '-' and '/')",
        )
    image = EcrImage(
        m["account"],
        m["region"],
        m["domain"],
        m["repository"],
        f":{m['tag']}" if m["tag"] else f"@{m['digest']}",
    )
    if image.domain != ecr_domain(image.region):
        return Problem(
            f"ECR in {image.region} is at {ecr_domain(image.region)}, not {image.domain}",
            f"use {image.account}.dkr.ecr.{image.region}.{ecr_domain(image.region)}/"
            f"{image.repository}{image.reference}",
        )
    return image


def require_image(uri: str) -> EcrImage:
    parsed = parse_image(uri)
    if isinstance(parsed, Problem):
        raise ValueError(f"image {_clip(uri)!r}: {parsed.message}. Fix: {parsed.fix}.")
    return parsed


# --- KMS keys ----------------------------------------------------------------------------------

_KEY_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]):"
    r"(?P<account>[0-9]{12}):key/"
    r"(?P<key>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
)


@dataclass(frozen=True)
class KmsKey:
    partition: str
    region: str
    account: str
    key_id: str

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:key/{self.key_id}"


def parse_kms_key_arn(arn: str) -> KmsKey | Problem:
    """A full key ARN, ``arn:aws:kms:<region>:<account>:key/<uuid or mrk-...>``: no alias (it
    can be re-pointed at another key later) and no wildcard (every key it matches)."""
    example = "arn:aws:kms:<region>:<account>:key/<key id>"
    if any(c in arn for c in "*?$"):
        return Problem(
            "holds a wildcard or policy variable: the roles would be granted Encrypt and "
            "Decrypt on every key it matches",
            f"give one key's full ARN: {example}",
        )
    if ":alias/" in arn:
        return Problem(
            "is an alias: anyone allowed to update the alias can point it at another key, and "
            "IAM grants on an alias ARN do not cover the key's use",
            "give the key's own ARN (`aws kms describe-key --key-id <alias>` shows it as "
            f"KeyMetadata.Arn): {example}",
        )
    m = _KEY_ARN.fullmatch(arn)
    if m is None:
        return Problem(
            "is not the full ARN of one KMS key",
            f"use {example}, the key id a UUID (or mrk-... for a multi-Region key)",
        )
    return KmsKey(m["partition"], m["region"], m["account"], m["key"])


def require_kms_key_arn(arn: str) -> KmsKey:
    parsed = parse_kms_key_arn(arn)
    if isinstance(parsed, Problem):
        raise ValueError(f"encryption key {_clip(arn)!r} {parsed.message}. Fix: {parsed.fix}.")
    return parsed


# --- names in ARNs -----------------------------------------------------------------------------

SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")


def require_sagemaker_name(name: str, what: str) -> str:
    """A SageMaker resource name (63 characters of letters, digits and hyphens): the constructs
    build log group ARNs from it, where anything else could be a wildcard."""
    if len(name) > 63 or not SAGEMAKER_NAME.fullmatch(name):
        raise ValueError(
            f"{what} {_clip(name)!r} is not a SageMaker name: use at most 63 letters, digits "
            "and hyphens, starting and ending with a letter or digit"
        )
    return name


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
