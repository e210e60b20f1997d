"""`Token.is_unresolved` without a jsii round trip for a plain string: a model stack asks it
about ten times, each a call into Node.js that synthesis paid for nothing."""

from __future__ import annotations

from typing import Any

from aws_cdk import Token


def is_unresolved(value: Any) -> bool:
    """As `Token.is_unresolved`. aws-cdk-lib's own test (core/lib/private/encoding `unresolved`)
    starts with `obj.includes("Token[")` for a string: without it, no token is there."""
    if isinstance(value, str) and "Token[" not in value:
        return False
    return Token.is_unresolved(value)
