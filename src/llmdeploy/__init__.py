"""llmdeploy: LLM deployments on Amazon SageMaker inference components, as code."""

__version__ = "0.1.0"
