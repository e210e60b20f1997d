"""What the synth cache must notice: every input a stack's template is built from moves the
stack's fingerprint (`synth.fingerprint`), or a stale template is served silently (and `diff`
and `deploy` trust it). The toolchain's inputs, then each realistic spec change, synthesized
warm (from a cache holding the portfolio before it) and cold, byte for byte."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import PurePosixPath

from llmdeploy.synth import fingerprint

# --- the toolchain -----------------------------------------------------------------------------


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _loaded_jsii_distributions() -> set[str]:
    """The distributions whose jsii bundle (the JavaScript CDK runs) this process loaded."""
    import aws_cdk  # noqa: F401
    import cdk_nag  # noqa: F401

    loaded = {m for m in sys.modules if m.endswith("._jsii")}
    tops = {m.partition(".")[0] for m in loaded}
    names = {
        d
        for top, dists in importlib.metadata.packages_distributions().items()
        if top in tops
        for d in dists
    }
    out = set()
    for name in names:
        for f in importlib.metadata.distribution(name).files or ():
            path = PurePosixPath(str(f))
            if path.name.endswith(".jsii.tgz") and ".".join(path.parent.parts) in loaded:
                out.add(name)
    return out


class _OtherBuild:
    """A distribution as if another version of it were installed."""

    def __init__(self, dist: importlib.metadata.Distribution):
        self._dist = dist

    @property
    def version(self) -> str:
        return self._dist.version + ".post1"

    def __getattr__(self, name: str):
        return getattr(self._dist, name)


def test_the_toolchain_moves_with_every_jsii_bundle_cdk_loads(monkeypatch):
    """aws-cdk-lib loads the bundles of other distributions (cloud-assembly-schema writes
    manifest.json): a new version of any of them must rebuild every stack."""
    loaded = _loaded_jsii_distributions()
    assert {"aws-cdk-lib", "constructs", "cdk-nag", "aws-cdk.cloud-assembly-schema"} <= loaded
    before = fingerprint.toolchain(nag=False)
    real = importlib.metadata.distribution
    for name in sorted(loaded | {"jsii"}):

        def other(asked: str, name: str = name):
            dist = real(asked)
            return _OtherBuild(dist) if _normalized(asked) == _normalized(name) else dist

        with monkeypatch.context() as m:
            m.setattr(importlib.metadata, "distribution", other)
            assert fingerprint.toolchain(nag=False) != before, name
    assert fingerprint.toolchain(nag=False) == before
