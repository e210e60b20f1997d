"""pydantic's validation errors, translated into diagnostics a user can act on.

pydantic says *what* failed ("Input should be a valid integer"); a user needs *where* (file,
line, column, field path as written), the bad value, and *what would be right*. The location
comes from the document's `SourceMap`; the fix from the error type and from the field's own
rules (the hints below).
"""

from __future__ import annotations

import datetime
import difflib
import re
import types
import typing
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from llmdeploy.errors import Diagnostic, clip
from llmdeploy.spec.source import SourceMap

# What a field's pattern means, in words (keyed by the field's YAML name).
_PATTERN_HINTS = {
    "name": "use lower-case letters, digits and single hyphens, e.g. 'blockgen-7b'",
    "endpoint": "use lower-case letters, digits and single hyphens, e.g. 'codegen-p4d'",
    "stackPrefix": "use lower-case letters, digits and single hyphens, e.g. 'llm-prod'",
    "account": 'write the 12-digit AWS account id in quotes, e.g. "111122223333"',
    "region": "use an AWS region code such as us-east-1",
    "s3Uri": "use s3://<bucket>/<prefix>/",
    "huggingFaceId": "use <organisation>/<model>, e.g. meta-llama/Llama-3.1-8B-Instruct",
    "instanceType": "use a SageMaker instance type such as ml.g6e.12xlarge",
    "version": 'use a version like "0.33.0" (in quotes)',
    "image": "use a full ECR image URI: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>",
    "kmsKeyArn": "use a KMS key's ARN: arn:aws:kms:<region>:<account>:key/<key id>",
    "imageRegistries": "use ECR registries: <account>.dkr.ecr.<region>.amazonaws.com",
    "subnetIds": "use subnet ids such as subnet-0abc1234",
    "securityGroupIds": "use security group ids such as sg-0abc1234",
    # Container environment names and values (extraEnv), by their patterns in spec/models.py:
    r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$": "use letters, digits and _, not starting with a digit "
    "(SageMaker's environment variable names)",
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$": "remove the control characters (a NUL, an "
    "escape): a container environment value is text",
}

# Fixes that say more than "use a bigger number", keyed by the last two parts of the path.
_BOUND_FIXES = {
    ("copies", "initial"): "an inference component cannot be created with 0 copies: set "
    "initial: 1 or more, and min: 0 to let it scale to zero",
    ("instances", "initial"): "an endpoint starts with at least one instance: set initial: 1 "
    "or more, and min: 0 to let it scale to zero",
    ("instances", "max"): "set max: 1 or more",
}

_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "mapping_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
}

_BOUNDS = {
    "greater_than": ("more than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def diagnose(
    exc: ValidationError,
    root: type[BaseModel],
    source: SourceMap,
    *,
    environment: str | None = None,
) -> list[Diagnostic]:
    return [
        _one(err, root, source, environment)
        for err in exc.errors(include_url=False)
        # A scalar refused while reading (`memoryMiB: 0100`) is reported once, by the reader.
        if not source.is_refused(tuple(err["loc"]))
    ]


def _one(err: Any, root: type[BaseModel], source: SourceMap, env: str | None) -> Diagnostic:
    loc = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input")
    field = clip(next((p for p in reversed(loc) if isinstance(p, str)), ""))
    ctx = err.get("ctx") or {}

    if kind == "extra_forbidden":
        allowed = allowed_keys(root, loc[:-1])
        return source.diagnostic(
            loc,
            f"unknown field '{clip(str(loc[-1]))}'",
            key=True,
            fix=suggest(str(loc[-1]), allowed, "allowed fields"),
            environment=env,
        )
    if kind == "missing":
        return source.diagnostic(
            loc[:-1],
            f"required field '{loc[-1]}' is missing",
            key=True,
            fix=f"add '{loc[-1]}' under {'.'.join(map(str, loc[:-1])) or 'the document'}",
            environment=env,
        )
    if kind == "literal_error":
        expected = _literal_values(root, loc)
        return source.diagnostic(
            loc,
            f"must be one of: {', '.join(expected)}" if expected else err["msg"],
            value=value,
            fix=suggest(str(value), expected, "allowed values"),
            environment=env,
        )
    if kind in _TYPE_WORDS:
        return source.diagnostic(
            loc,
            f"must be {_TYPE_WORDS[kind]}, not {_yaml_type(value)}",
            value=value,
            fix=_type_fix(kind, value, field, source.raw.get(loc)),
            environment=env,
        )
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        limit = ctx.get(key)
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        fix = _BOUND_FIXES.get(
            tuple(str(p) for p in loc[-2:]), f"set {field} to a value {words} {limit}"
        )
        if len(loc) >= 2 and loc[-2] == "pricing":
            fix = "write the hourly price in USD, more than 0, or remove the entry to use the "
            fix += "catalog's price"
        return source.diagnostic(
            loc, f"must be {words} {limit}", value=value, fix=fix, environment=env
        )
    if kind == "finite_number":
        return source.diagnostic(
            loc,
            "must be a finite number",
            value=value,
            fix=f"set {field} to a finite number",
            environment=env,
        )
    if kind in _CUSTOM:
        return source.diagnostic(loc, err["msg"], value=value, fix=ctx.get("fix"), environment=env)
    if kind == "string_pattern_mismatch":
        return source.diagnostic(
            loc,
            "is not in the expected form",
            value=value,
            fix=_non_ascii_digit(value)
            + _PATTERN_HINTS.get(
                str(ctx.get("pattern")),
                _PATTERN_HINTS.get(field, f"match the pattern {clip(str(ctx.get('pattern')))}"),
            ),
            environment=env,
        )
    if kind in ("string_too_long", "too_long"):
        return source.diagnostic(
            loc,
            f"is too long (at most {ctx.get('max_length')})",
            value=value,
            fix="shorten it",
            environment=env,
        )
    if kind in ("string_too_short", "too_short"):
        return source.diagnostic(
            loc,
            f"is too short (at least {ctx.get('min_length')})",
            value=value,
            fix="add at least one entry" if kind == "too_short" else "give a value",
            environment=env,
        )
    return source.diagnostic(loc, err["msg"], value=value, environment=env)


def suggest(word: str, choices: Iterable[str], what: str) -> str:
    choices = list(choices)
    # difflib indexes every character of the word: a 10 MB value would take many seconds, and
    # no name it could be a misspelling of is that long.
    if len(word) > 2 * max((len(c) for c in choices), default=0) + 10:
        return f"{what}: {', '.join(choices)}" if choices else "remove it"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    if close:
        return f"did you mean '{close[0]}'?"
    return f"{what}: {', '.join(choices)}" if choices else "remove it"


def _yaml_type(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return type(value).__name__


def _type_fix(kind: str, value: Any, field: str, raw: tuple[str, bool] | None) -> str:
    text, quoted = raw if raw else (str(value), isinstance(value, str))
    text = clip(text)
    if kind in ("int_type", "float_type") and isinstance(value, str):
        decimal = as_decimal(value.strip(), whole=kind == "int_type")
        if decimal is not None and decimal != value.strip():
            # 0o17, 09, 1e5, -.5: read as text by YAML 1.1, as numbers by other readers.
            return f"write {field}: {decimal} (numbers in specs are plain decimal)"
        if quoted:
            return f"write the number without quotes: {field}: {clip(value.strip())}"
        # YAML 1.1 reads 1e5 (no dot, no sign) as text.
        return f"write it as a number YAML understands, e.g. {field}: 100000 or 1.0e+5"
    if kind == "int_from_float":
        return f"use a whole number, e.g. {field}: {int(value)}"
    if kind == "string_type" and not isinstance(value, (str, list, tuple, dict)):
        return (
            f'put the value in quotes: {field}: "{text}" (YAML read {text} as {_yaml_type(value)})'
        )
    if kind == "bool_type":
        return f"write {field}: true or {field}: false, without quotes"
    if kind in ("tuple_type", "list_type"):
        return f"write {field} as a list: [a, b] or lines starting with '- '"
    return f"write {field} as {_TYPE_WORDS[kind]}"


def _non_ascii_digit(value: Any) -> str:
    """A fix's first words when ``value`` holds digits other than 0-9 (full-width １, Arabic-Indic
    ١, ...), which look right and which AWS does not take; else nothing."""
    if not isinstance(value, str):
        return ""
    for char in value:
        if char.isdigit() and not char.isascii():
            name = unicodedata.name(char, "a digit").lower()
            return f"type the digits as 0-9 ('{char}' is {name}, U+{ord(char):04X}); "
    return ""


# Errors raised by the models' own validators (`PydanticCustomError`): their message is the
# message, and their context carries the fix.
_CUSTOM = frozenset({"aws_tag_value", "timezone"})

_PREFIXED = re.compile(r"([-+]?)0([oxb])([0-9a-f]+)", re.IGNORECASE)
_DECIMAL = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def as_decimal(text: str, *, whole: bool) -> str | None:
    """The plain decimal form of a number written in another form (``0o17`` → ``15``, ``09``
    → ``9``, ``1e5`` → ``100000``), or None if ``text`` is not a number in ASCII digits."""
    if len(text) > 40:
        return None
    prefixed = _PREFIXED.fullmatch(text)
    if prefixed:
        sign, base, digits = prefixed.groups()
        try:
            return sign.replace("+", "") + str(int(digits, {"o": 8, "x": 16, "b": 2}[base.lower()]))
        except ValueError:
            return None
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    if whole and number.is_integer():
        return str(int(number))
    return repr(number)


# --- walking the model classes along an error location ---------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip Annotated/Optional so that what remains is the model, tuple or mapping type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _type_at(root: type[BaseModel], loc: tuple) -> Any:
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None
            tp = field.annotation
            # Annotated metadata on the field itself is kept in field.metadata, not the type.
            continue
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is tuple and args:
            tp = args[0]
        elif origin in (Mapping, dict, typing.Mapping) or (
            isinstance(origin, type) and issubclass(origin, Mapping)
        ):
            tp = args[1] if len(args) == 2 else Any
        else:
            return None
    return _unwrap(tp)


def allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    tp = _type_at(root, loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _literal_values(root: type[BaseModel], loc: tuple) -> list[str]:
    tp = _type_at(root, loc)
    if typing.get_origin(tp) is typing.Literal:
        return [str(v) for v in typing.get_args(tp)]
    return []
