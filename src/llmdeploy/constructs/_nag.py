"""cdk-nag acknowledgements: where a finding of its AwsSolutions pack is intended, and why.
Every construct acknowledges through this one function (tests switch it off to prove each
acknowledgement is needed)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import Construct


def acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """Record that a policy-validation finding (cdk-nag's AwsSolutions pack, for one) is
    intended here, and why. Granular ids name the exact wildcard: `AwsSolutions-IAM5[...]`."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
