"""cdk-nag acknowledgements: where a finding of its AwsSolutions pack is intended, and why.
Every construct acknowledges through this one function (tests switch it off to prove each
acknowledgement is needed)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import Construct


def acknowledge(scope: Construct, *findings: tuple[str, str]) -> None:
    """Record that policy-validation findings (cdk-nag's AwsSolutions pack, for one) are
    intended here, and why: each a (rule, reason) pair. Granular ids name the exact wildcard:
    `AwsSolutions-IAM5[...]`. One call for all of a scope's findings: CDK records each as
    its own metadata entry either way, and each call is two jsii round trips."""
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in findings)
    )
