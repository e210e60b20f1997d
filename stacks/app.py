"""The CDK app that `cdk.json` runs: `npx cdk synth -c env=dev` builds the same stacks as
`llmdeploy synth --env dev`. No logic of its own: it loads the specs through the library.

Context: `env` (required), `specs` (spec folders, default models and infra).
"""

# ruff: noqa: I001  (llmdeploy first: it quiets jsii's Node banner before aws_cdk starts it)
import sys

import llmdeploy  # noqa: F401
import aws_cdk as cdk

from llmdeploy.errors import LlmdeployError, SpecError
from llmdeploy.plan import check
from llmdeploy.synth.stacks import add_environment

app = cdk.App()
env_name = app.node.try_get_context("env")
if not env_name:
    sys.exit("error: pass the environment: npx cdk synth -c env=<name> (e.g. -c env=dev)")
specs = app.node.try_get_context("specs") or ["models", "infra"]
try:
    (resolved,) = check(specs, [env_name]).environments
    add_environment(app, resolved)
except SpecError as exc:
    sys.exit(exc.render())
except LlmdeployError as exc:
    sys.exit(f"error: {exc}")
app.synth()
