"""The CDK app a portfolio's `cdk.json` runs (`"app": "llmdeploy cdk-app"`): `npx cdk synth
-c env=dev` builds the same stacks as `llmdeploy synth --env dev`, through the installed
package, with no path into a virtualenv. No logic of its own: it loads the specs through the
library.

Context: `env` (required), `specs` (spec folders, default models and infra). The CDK CLI
passes the context and the output folder in `CDK_CONTEXT_JSON` and `CDK_OUTDIR`, which
`cdk.App()` reads.
"""

from __future__ import annotations

import llmdeploy  # noqa: F401  (first: it quiets jsii's Node banner before aws_cdk starts it)
from llmdeploy.errors import LlmdeployError, SpecError

DEFAULT_SPECS = ("models", "infra")


def run() -> None:
    """Synthesize the environment named by the `env` context; a spec or usage problem is a
    message and exit 1 (the CDK CLI shows it), never a traceback."""
    import aws_cdk as cdk

    from llmdeploy.plan import check
    from llmdeploy.synth.stacks import add_environment

    app = cdk.App()
    env_name = app.node.try_get_context("env")
    if not env_name or not isinstance(env_name, str):
        raise LlmdeployError(
            "pass the environment as CDK context: npx cdk synth -c env=<name> (e.g. -c env=dev)"
        )
    specs = app.node.try_get_context("specs") or list(DEFAULT_SPECS)
    if isinstance(specs, str):  # -c specs=models,infra on the command line
        specs = [s for s in specs.split(",") if s]
    if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
        raise LlmdeployError(
            f"context 'specs' = {specs!r}: give a list of spec folders in cdk.json "
            '("specs": ["models", "infra"]) or -c specs=models,infra'
        )
    (resolved,) = check(specs, [env_name]).environments
    add_environment(app, resolved)
    app.synth()


__all__ = ["DEFAULT_SPECS", "SpecError", "run"]
