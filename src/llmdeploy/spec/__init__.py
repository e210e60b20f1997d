"""Spec files: loading, the typed contract, schema, and precise errors."""

from llmdeploy.spec.loader import EnvironmentDoc, ModelDoc, Portfolio, load
from llmdeploy.spec.models import API_VERSION, Environment, Model

__all__ = ["API_VERSION", "Environment", "EnvironmentDoc", "Model", "ModelDoc", "Portfolio", "load"]
