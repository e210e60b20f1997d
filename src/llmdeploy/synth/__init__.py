"""Specs resolved for an environment → CDK stacks → a cloud assembly (cdk.out)."""
