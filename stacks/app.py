"""Kept for `python stacks/app.py` callers: the CDK app is `llmdeploy cdk-app` (cdk.json)."""

from llmdeploy.cli.main import app

app(["cdk-app"])
