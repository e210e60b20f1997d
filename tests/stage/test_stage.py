"""`llmdeploy stage` end to end: tests/fake_hub.py to the moto server's S3, run as a subprocess:
huggingface_hub reads HF_ENDPOINT when it is imported, and a subprocess is also what an
operator runs (its output, exit code and environment are the real ones)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import base_environment, base_model
from fake_hub import FakeHub
from moto_support import MOTO_ACCOUNT

REPO_ID = "acme-research/tiny-llama"
BUCKET = "weights"
PREFIX = "m1/1/"
TOKEN = "hf_TestTokenAbcdefGhijk1234567890"


def model_files() -> dict[str, bytes]:
    """A small repository shaped like a real one: two safetensors shards, their index, the
    configuration and tokenizer, and what LMI does not need."""
    shard = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB
    return {
        "config.json": b'{"model_type": "llama", "hidden_size": 64}',
        "generation_config.json": b'{"max_new_tokens": 32}',
        "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}',
        "tokenizer_config.json": b'{"model_max_length": 2048}',
        "special_tokens_map.json": b'{"eos_token": "</s>"}',
        "model-00001-of-00002.safetensors": shard,
        "model-00002-of-00002.safetensors": shard[: 64 * 1024] + b"tail",
        "model.safetensors.index.json": b'{"weight_map": {}}',
        "LICENSE": b"A license.",
        # Left on the Hub:
        "pytorch_model.bin": b"\x00" * 4096,
        "original/consolidated.00.pth": b"\x01" * 4096,
        "tiny.Q4_K_M.gguf": b"\x02" * 1024,
        "README.md": b"# tiny",
        ".gitattributes": b"*.safetensors filter=lfs",
    }


TAKEN = sorted(
    [
        "LICENSE",
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as fake:
        fake.add(REPO_ID, model_files())
        yield fake


def write_specs(root: Path, *, model: dict | None = None, env: dict | None = None) -> Path:
    """infra/prod.yaml (moto's account) and models/m1.yaml: the Hub id and the S3 folder it
    is staged to (the endpoint loads S3)."""
    environment = env or base_environment("prod")
    environment["spec"]["account"] = MOTO_ACCOUNT
    if model is None:
        model = base_model("m1")
        model["spec"]["source"] = {"huggingFaceId": REPO_ID, "s3Uri": f"s3://{BUCKET}/{PREFIX}"}
    (root / "infra").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "infra" / "prod.yaml").write_text(yaml.safe_dump(environment, sort_keys=False))
    (root / "models" / "m1.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    return root


@pytest.fixture
def work(tmp_path, aws) -> Path:
    """Specs in a work folder, and the bucket in moto."""
    write_specs(tmp_path / "work")
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return tmp_path / "work"


@pytest.fixture
def s3(aws):
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def stage(work, hub, tmp_path):
    """Run `llmdeploy stage ARGS` in the work folder: (exit code, stdout, stderr)."""

    def run(*args: str, token: str | None = None, extra: dict | None = None):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HF_", "HUGGING_FACE")) and k != "LLMDEPLOY_DEBUG"
        }
        env.update(
            HF_ENDPOINT=hub.url,
            HF_HOME=str(tmp_path / "hf-home"),
            HF_HUB_DISABLE_TELEMETRY="1",
            NO_COLOR="1",
        )
        if token is not None:
            env["HF_TOKEN"] = token
        env.update(extra or {})
        done = subprocess.run(
            [sys.executable, "-m", "llmdeploy", "stage", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr

    return run


def _keys(s3) -> list[str]:
    answer = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
    return sorted(o["Key"].removeprefix(PREFIX) for o in answer.get("Contents", ()))


def test_copies_the_files_lmi_needs_and_a_second_run_transfers_nothing(stage, hub, s3):
    code, out, err = stage("m1", "--env", "prod")
    assert code == 0, err
    assert _keys(s3) == TAKEN
    files = model_files()
    for name in TAKEN:
        body = s3.get_object(Bucket=BUCKET, Key=PREFIX + name)["Body"].read()
        assert body == files[name]
    commit = hub.repos[REPO_ID].commit
    assert f"{REPO_ID} at commit {commit} (revision main) → s3://{BUCKET}/{PREFIX}" in out
    assert f"uploaded {len(TAKEN)} file(s)" in out
    assert f"--revision {commit}" in out
    assert "environment 'prod' loads the model from" in out
    assert "Traceback" not in err
    # Plain progress lines (NO_COLOR), on stderr.
    assert "uploading model-00001-of-00002.safetensors" in err

    hub.requests.clear()
    code, out, err = stage("m1", "--env", "prod", "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert [f["action"] for f in report["files"]] == ["skip"] * len(TAKEN)
    assert report["upload_bytes"] == 0
    assert hub.downloads() == []  # nothing downloaded, not even from the local cache
    assert {f["reason"] for f in report["files"]} == {"same size and SHA-256"}


def test_checksums_are_recorded_on_each_object(stage, hub, s3):
    code, _, err = stage("m1", "--env", "prod")
    assert code == 0, err
    commit = hub.repos[REPO_ID].commit
    for name in TAKEN:
        content = model_files()[name]
        head = s3.head_object(Bucket=BUCKET, Key=PREFIX + name, ChecksumMode="ENABLED")
        sha256 = hashlib.sha256(content).hexdigest()
        assert head["Metadata"]["sha256"] == sha256
        assert head["Metadata"]["hf-commit"] == commit
        assert head["Metadata"]["hf-repo"] == REPO_ID
        # One part: S3's own checksum is the content's SHA-256.
        assert base64.b64decode(head["ChecksumSHA256"]).hex() == sha256


def test_a_partial_or_foreign_object_is_uploaded_again(stage, hub, s3):
    assert stage("m1", "--env", "prod")[0] == 0
    shard = PREFIX + "model-00001-of-00002.safetensors"
    s3.put_object(Bucket=BUCKET, Key=shard, Body=b"half a shard")  # different size
    config = PREFIX + "config.json"
    same_size = b"x" * len(model_files()["config.json"])
    s3.put_object(Bucket=BUCKET, Key=config, Body=same_size)  # no checksum recorded

    code, out, err = stage("m1", "--env", "prod", "--dry-run", "-o", "json")
    assert code == 0, err
    reasons = {f["path"]: f["reason"] for f in json.loads(out)["files"] if f["action"] == "upload"}
    full = len(model_files()["model-00001-of-00002.safetensors"])
    assert reasons == {
        "model-00001-of-00002.safetensors": f"size differs (12 bytes in S3, {full} on the Hub)",
        "config.json": "no SHA-256 recorded on the S3 object",
    }
    assert s3.get_object(Bucket=BUCKET, Key=shard)["Body"].read() == b"half a shard"  # dry run

    code, out, err = stage("m1", "--env", "prod")
    assert code == 0, err
    assert "uploaded 2 file(s)" in out
    for key, name in ((shard, "model-00001-of-00002.safetensors"), (config, "config.json")):
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == model_files()[name]


def test_dry_run_lists_what_would_transfer_and_what_stays_on_the_hub(stage, hub, s3):
    code, out, err = stage("m1", "--env", "prod", "--dry-run")
    assert code == 0, err
    assert _keys(s3) == []
    assert hub.downloads() == []
    assert f"would upload {len(TAKEN)} file(s)" in out
    assert "original/consolidated.00.pth: in a subfolder" in out
    assert "pytorch_model.bin: PyTorch weights, and the repository has safetensors" in out
    assert "tiny.Q4_K_M.gguf: not weights, configuration or tokenizer" in out


def test_an_interrupted_download_resumes(stage, hub, s3):
    # huggingface_hub writes what it receives in chunks of 10 MiB and resumes after the last
    # whole chunk with a Range request: a shard of 12 MiB, cut after 11.
    name = "model-00001-of-00002.safetensors"
    shard = os.urandom(12 * 1024 * 1024)
    hub.repos[REPO_ID].files[name] = shard
    hub.cut_after[name] = 11 * 1024 * 1024
    code, _, err = stage("m1", "--env", "prod")
    assert code == 0, err
    ranges = [r for m, p, r in hub.requests if m == "GET" and p.endswith(name)]
    assert ranges == [None, f"bytes={10 * 1024 * 1024}-"]
    assert s3.get_object(Bucket=BUCKET, Key=PREFIX + name)["Body"].read() == shard


def test_a_pinned_revision(stage, hub, s3):
    commit = hub.repos[REPO_ID].commit
    code, out, err = stage("m1", "--env", "prod", "--revision", commit, "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["commit"] == report["revision"] == commit
    code, _, err = stage("m1", "--env", "prod", "--revision", "v9")
    assert code == 1
    assert f"{REPO_ID} has no revision 'v9'" in err
    assert "Traceback" not in err


# --- gated repositories and tokens -------------------------------------------------------------


def _gate(hub, *granted: str) -> None:
    hub.repos[REPO_ID].gated = True
    hub.repos[REPO_ID].granted = set(granted)
    hub.tokens |= set(granted) | {"hf_OtherTokenXyzXyzXyz0987654321"}


def test_gated_without_a_token_fails_cleanly(stage, hub, s3):
    _gate(hub, TOKEN)
    code, out, err = stage("m1", "--env", "prod")
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert f"{REPO_ID} is gated: accept its license on the Hub ({hub.url}/{REPO_ID})" in err
    assert "set HF_TOKEN" in err
    assert _keys(s3) == []
    assert all(a is None for a in hub.authorizations)


def test_gated_with_a_token_works_and_never_prints_it(stage, hub, s3):
    _gate(hub, TOKEN)
    code, out, err = stage("m1", "--env", "prod", "-o", "json", token=TOKEN)
    assert code == 0, err
    assert _keys(s3) == TAKEN
    assert json.loads(out)["token_source"] == "HF_TOKEN"
    assert TOKEN not in out + err
    for name in TAKEN:
        head = s3.head_object(Bucket=BUCKET, Key=PREFIX + name)
        assert TOKEN not in json.dumps(head["Metadata"])
    assert f"Bearer {TOKEN}" in hub.authorizations


def test_gated_with_a_token_not_granted_says_to_accept_the_license(stage, hub, s3):
    _gate(hub, TOKEN)
    other = "hf_OtherTokenXyzXyzXyz0987654321"
    code, out, err = stage("m1", "--env", "prod", token=other)
    assert code == 1
    assert "has no access to it: accept the license at" in err
    assert other not in out + err
    assert "Traceback" not in err


def test_an_invalid_token_is_refused_without_being_printed(stage, hub, s3):
    bad = "hf_ExpiredTokenAaaaBbbbCccc111222333"
    code, out, err = stage("m1", "--env", "prod", token=bad)
    assert code == 1
    assert "the Hub refused the token (from HF_TOKEN)" in err
    assert bad not in out + err


def test_the_token_from_the_huggingface_hub_token_file(stage, hub, s3, tmp_path):
    _gate(hub, TOKEN)
    home = tmp_path / "hf-home"
    home.mkdir(exist_ok=True)
    (home / "token").write_text(TOKEN)
    code, out, err = stage("m1", "--env", "prod", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["token_source"].startswith("the huggingface_hub token file")
    assert TOKEN not in out + err


def test_the_token_from_secrets_manager(stage, hub, s3):
    _gate(hub, TOKEN)
    import boto3

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="hub/plain", SecretString=TOKEN)
    arn = sm.create_secret(Name="hub/json", SecretString=json.dumps({"HF_TOKEN": TOKEN}))["ARN"]
    code, out, err = stage("m1", "--env", "prod", "--token-secret", "hub/plain", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["token_source"] == "secret hub/plain"
    assert TOKEN not in out + err
    s3.delete_object(Bucket=BUCKET, Key=PREFIX + "config.json")
    code, out, err = stage("m1", "--env", "prod", "--token-secret", arn)
    assert code == 0, err
    assert "uploaded 1 file(s)" in out
    assert TOKEN not in out + err


def test_a_missing_or_unusable_secret(stage, hub, s3):
    import boto3

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="hub/other", SecretString=json.dumps({"password": TOKEN}))
    code, out, err = stage("m1", "--env", "prod", "--token-secret", "hub/none")
    assert code == 1
    assert "--token-secret hub/none: no such secret in us-east-1" in err
    code, out, err = stage("m1", "--env", "prod", "--token-secret", "hub/other")
    assert code == 1
    assert "a JSON object without a token (its keys: password)" in err
    assert TOKEN not in out + err
    assert "Traceback" not in err


def test_objects_are_encrypted_with_the_environments_key(stage, work, s3):
    arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    env = base_environment("prod")
    env["spec"]["security"] = {"kmsKeyArn": arn}
    model = yaml.safe_load((work / "models" / "m1.yaml").read_text())
    write_specs(work, model=model, env=env)
    code, _, err = stage("m1", "--env", "prod")
    assert code == 0, err
    head = s3.head_object(Bucket=BUCKET, Key=PREFIX + "config.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == arn


def test_objects_of_another_version_under_the_folder_are_named(stage, s3):
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "model-00001-of-00003.safetensors", Body=b"old")
    code, out, err = stage("m1", "--env", "prod", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["extra_objects"] == [
        f"s3://{BUCKET}/{PREFIX}model-00001-of-00003.safetensors"
    ]
    assert "warning: 1 object(s) under" not in err  # JSON: the report says it
    code, out, err = stage("m1", "--env", "prod")
    assert "warning: 1 object(s) under s3://weights/m1/1/ are no file of this commit" in err


def test_credentials_of_another_account_are_refused(stage, work, s3):
    env = base_environment("prod")
    model = yaml.safe_load((work / "models" / "m1.yaml").read_text())
    write_specs(work, model=model, env=env)
    (work / "infra" / "prod.yaml").write_text(
        (work / "infra" / "prod.yaml").read_text().replace(MOTO_ACCOUNT, "111122223333")
    )
    code, _, err = stage("m1", "--env", "prod")
    assert code == 1
    assert "refusing to change anything" in err
    assert _keys(s3) == []


def test_to_another_folder_says_what_to_set_in_the_spec(stage, s3):
    code, out, err = stage("m1", "--env", "prod", "--to", f"s3://{BUCKET}/m1/2/")
    assert code == 0, err
    assert "environment 'prod' does not load s3://weights/m1/2/" in out
    assert (
        f"    spec:\n      source:\n        huggingFaceId: {REPO_ID}\n"
        "        s3Uri: s3://weights/m1/2/\n" in out
    )
    assert len(s3.list_objects_v2(Bucket=BUCKET, Prefix="m1/2/")["Contents"]) == len(TAKEN)
