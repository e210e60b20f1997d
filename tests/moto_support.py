"""The moto server the deploy tests and `bench/deploy.py` run against, with moto's gaps
patched (each explained in tests/conftest.py, "AWS: a moto server")."""

from __future__ import annotations

MOTO_ACCOUNT = "123456789012"


def _patch_moto() -> None:
    from moto.kms import models as kms
    from moto.sagemaker import models as sm

    sm.FakeEndpointConfig.validate_instance_type = lambda self, instance_type: None
    original_variants = sm.SageMakerModelBackend.validate_production_variants

    def validate_production_variants(self, variants):
        return original_variants(self, [v for v in variants if "ModelName" in v])

    sm.SageMakerModelBackend.validate_production_variants = validate_production_variants
    original_key = kms.KmsBackend.create_key

    def create_key(self, policy, key_usage, key_spec, description, tags, *args, **kwargs):
        tags = [
            {"TagKey": t.get("TagKey", t.get("Key")), "TagValue": t.get("TagValue", t.get("Value"))}
            for t in tags or []
        ]
        return original_key(self, policy, key_usage, key_spec, description, tags, *args, **kwargs)

    kms.KmsBackend.create_key = create_key


def start_moto_server():
    """A threaded moto server on 127.0.0.1 (a free port): (server, url)."""
    import logging
    import warnings

    from moto.server import ThreadedMotoServer

    # One access-log line per request, and a warning per resource type moto's CloudFormation
    # skips (see tests/conftest.py): noise in test and benchmark output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
    _patch_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def main() -> None:
    """Run the patched server in the foreground, for trying llmdeploy locally (README)."""
    import argparse
    import os
    import time

    parser = argparse.ArgumentParser(description="A patched moto server for llmdeploy.")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--account",
        default=MOTO_ACCOUNT,
        help="The account STS reports (the environment's `account`).",
    )
    args = parser.parse_args()
    os.environ["MOTO_ACCOUNT_ID"] = args.account  # read by moto when it starts
    from moto.server import ThreadedMotoServer

    _patch_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(
        f"moto on http://127.0.0.1:{args.port} as account {args.account}; Ctrl-C stops it",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
