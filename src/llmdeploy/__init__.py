"""llmdeploy: LLM deployments on Amazon SageMaker inference components, as code."""

import os as _os

__version__ = "0.1.0"

# jsii (under aws_cdk) prints a large banner on every start under Node 20, end of life but
# working; noise in a CLI and in CI logs. Set here, in the package root, so that it holds
# before any of our modules imports aws_cdk. A user's own setting wins.
_os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
_os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
