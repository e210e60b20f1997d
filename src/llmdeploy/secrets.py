"""What looks like a secret in a spec, and how to show one without printing it.

Specs are committed, reviewed and printed in CI logs; what they hold also lands in
CloudFormation templates, the deploy history, resource tags and, for container variables,
SageMaker's DescribeModel and console in plaintext. So no string of a spec may hold a
credential. Two kinds of evidence:

- the value's shape: a Hugging Face, GitHub, Slack or OpenAI-style token, an AWS access key
  id or secret key, a JWT, a PEM private key, ``Bearer``/``Basic`` credentials, a URL with a
  password (``postgres://user:pass@host``), ``password=...`` in a connection string;
- a container variable's name (``HF_TOKEN``, ``HFTOKEN``, ``DB_PASSWORD``, ``API_KEY``,
  ``aws_secret_access_key``...), whatever its value looks like, unless the value is plainly
  not a credential (a number, a boolean, a path).

Names are read by their words (``_`` and camelCase boundaries): ``TOKEN`` and ``HFTOKEN`` are
secret words, ``TOKENS`` and ``TOKENIZER`` are not, so ``OPTION_MAX_TOKENS``,
``MAX_NEW_TOKENS`` and ``OPTION_TOKENIZER`` stay settings.

The ARN of a Secrets Manager secret or an SSM parameter is not a secret; `reference` tells a
real one (full ARN shape) from text that merely starts like one. Pure functions, no imports
from the rest of llmdeploy: `errors` uses `redact` on every message it prints.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    kind: str  # "a Hugging Face token"
    start: int
    end: int


_B = r"(?<![A-Za-z0-9_])"  # a token starts at a word boundary (underscore included)
_E = r"(?![A-Za-z0-9_])"

# (what it is, pattern). Order matters only for the name shown: the first match wins.
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("a PEM private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
        ("a Hugging Face token", _B + r"hf_(?=[A-Za-z0-9]*[A-Z0-9])[A-Za-z0-9]{8,}" + _E),
        ("a GitHub token", _B + r"github_pat_[A-Za-z0-9_]{20,}"),
        ("a GitHub token", _B + r"gh[pousr]_[A-Za-z0-9]{16,}" + _E),
        ("an AWS access key id", _B + r"(?:AKIA|ASIA)[A-Z0-9]{16}" + _E),
        ("a Slack token", _B + r"xox[abposr]-[A-Za-z0-9-]{10,}"),
        ("an API key (sk-...)", _B + r"sk-[A-Za-z0-9_\-]{20,}"),
        ("a JWT", _B + r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
        # A credential after Bearer/Basic has a digit (English words after them do not).
        ("a bearer token", r"(?i)\bbearer\s+(?=\S*[0-9])[A-Za-z0-9._~+/=\-]{8,}"),
        ("basic-auth credentials", r"(?i)\bbasic\s+(?=\S*[0-9])[A-Za-z0-9+/]{8,}={0,2}"),
        # scheme://user:password@host (a password may be empty only if the user is not)
        ("a password in a URL", r"(?i)\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:[^/\s@]+@"),
        (
            "a password in a key=value pair",
            # password=..., token=... (connection strings); not "secret:" inside an ARN
            r"(?i)(?<![A-Za-z0-9:\-])(?:password|passwd|pwd|secret|token|api[_\-]?key|"
            r"access[_\-]?key|secret[_\-]?key)(?:\s*=\s*|:(?=\S))"
            r"(?![0-9]+(?:[;&\s]|$))[^\s;&]{4,}",
        ),
    )
)

# An AWS secret access key: 40 characters of base64 (no '=' padding), standing alone, with
# upper- and lower-case letters and digits (a 40-digit hex hash has no upper case). A path
# has many slashes; a random key has about one.
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _aws_secret(value: str) -> Match | None:
    for m in _AWS_SECRET.finditer(value):
        text = m.group()
        if (
            text.count("/") <= 2
            and re.search(r"[A-Z]", text)
            and re.search(r"[a-z]", text)
            and re.search(r"[0-9]", text)
        ):
            return Match("an AWS secret access key", m.start(), m.end())
    return None


def find(value: str) -> Match | None:
    """The first secret-shaped part of ``value`` (None: nothing looks like a credential)."""
    if reference(value) is not None:
        return None
    found = [
        Match(kind, m.start(), m.end())
        for kind, pattern in _SHAPES
        if (m := pattern.search(value)) is not None
    ]
    aws = _aws_secret(value)
    if aws is not None:
        found.append(aws)
    return min(found, key=lambda f: f.start) if found else None


# --- names -------------------------------------------------------------------------------------

# A word that is, or ends in, one of these names a secret: TOKEN, HFTOKEN, GHTOKEN, PASSWORD,
# DBPASSWORD, APIKEY. (Not TOKENS, TOKENIZER: settings.)
_SECRET_WORD_ENDINGS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "PRIVATEKEY",
)
# Two words that together name a secret: API_KEY, ACCESS_KEY, PRIVATE_KEY, SECRET_KEY...
_SECRET_PAIRS = frozenset(
    {
        ("API", "KEY"),
        ("ACCESS", "KEY"),
        ("PRIVATE", "KEY"),
        ("SECRET", "KEY"),
        ("SIGNING", "KEY"),
        ("ENCRYPTION", "KEY"),
        ("AUTH", "KEY"),
        ("CLIENT", "SECRET"),
        ("SESSION", "TOKEN"),
    }
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(name: str) -> list[str]:
    """``HF_TOKEN`` → HF, TOKEN; ``hfApiKey`` → HF, API, KEY; ``HFTOKEN`` → HFTOKEN."""
    return [w.upper() for w in _WORDS.findall(name)]


def secret_name(name: str) -> bool:
    """Whether a variable named ``name`` holds a secret by its name."""
    ws = words(name)
    if any(w.endswith(_SECRET_WORD_ENDINGS) for w in ws):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(ws))


def plainly_not_secret(value: str) -> bool:
    """A value no credential takes: empty, a number, a boolean, a file path, an ARN, a
    tokenizer's special token (``<pad>``, ``<|eot_id|>``)."""
    v = value.strip()
    return (
        len(v) < 4
        or re.fullmatch(r"<[^<>\s]{1,40}>", v) is not None
        or re.fullmatch(r"[-+]?[0-9]+(\.[0-9]+)?", v) is not None
        or v.lower() in ("true", "false", "yes", "no", "none", "null", "auto", "disable")
        or v.startswith(("/", "./", "file://"))
        or reference(v) is not None
    )


# --- references --------------------------------------------------------------------------------

_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]"
_REFERENCE = (
    (
        "a Secrets Manager secret",
        re.compile(
            rf"arn:aws(?:-cn|-us-gov)?:secretsmanager:{_REGION}:[0-9]{{12}}:secret:"
            r"[A-Za-z0-9/_+=.@\-]{1,512}"
        ),
    ),
    (
        "an SSM parameter",
        re.compile(
            rf"arn:aws(?:-cn|-us-gov)?:ssm:{_REGION}:[0-9]{{12}}:parameter/[A-Za-z0-9_.\-/]{{1,2048}}"
        ),
    ),
)


def reference(value: str) -> str | None:
    """What ``value`` refers to when it is, whole, the ARN of a Secrets Manager secret or an SSM
    parameter (``arn:aws:ssm:`` followed by anything else is not one)."""
    for kind, pattern in _REFERENCE:
        if pattern.fullmatch(value):
            return kind
    return None


_DYNAMIC = re.compile(r"\{\{\s*resolve\s*:", re.IGNORECASE)


def dynamic_reference(value: str) -> bool:
    """Whether ``value`` holds a CloudFormation dynamic reference (``{{resolve:...}}``), which
    CloudFormation replaces by the parameter's or secret's plaintext when it deploys."""
    return _DYNAMIC.search(value) is not None


# --- showing -----------------------------------------------------------------------------------


def mask(value: str) -> str:
    """``value`` shown without its secret: its first few characters and its length."""
    shown = value[: min(4, len(value) // 5)]
    return f"{shown}…({len(value)} characters, masked)"


def redact(text: str) -> str:
    """``text`` with every secret-shaped part masked (for messages that quote values)."""
    if not isinstance(text, str) or not text:
        return text
    out, pos = [], 0
    while True:
        rest = text[pos:]
        found = find(rest)
        if found is None:
            out.append(rest)
            return "".join(out)
        out.append(rest[: found.start])
        out.append(mask(rest[found.start : found.end]))
        pos += found.end
