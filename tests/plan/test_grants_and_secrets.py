"""No spec value widens a grant (plan/trust.py) or leaks a secret (plan/leaks.py).

Each case starts from the valid portfolio of tests/conftest.py and changes one value.
"""

from __future__ import annotations

import json

import pytest

from conftest import base_environment, base_model, mutate
from llmdeploy import grants, secrets
from llmdeploy.plan import trust


def _findings(specs, env=None, model=None, rule=None):
    specs.standard(env or base_environment(), model or base_model())
    return [d for d in specs.findings() if rule is None or d.rule == rule]


# --- S3 weights -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "words", "fix"),
    [
        (
            "s3://acme-models",
            "names the whole bucket: the model's role would read every object in acme-models",
            "s3://acme-models/<model>/<version>/",
        ),
        ("s3://acme-models/", "names the whole bucket", "s3://acme-models/<model>/<version>/"),
        (
            "s3://acme-models/flow",
            "a prefix without a trailing / also covers its siblings ('flow*'",
            "s3://acme-models/flow/ — end the prefix with / so that it covers only this folder",
        ),
        (
            "s3://acme-models/flow/7",
            "also covers its siblings ('flow/7*'",
            "s3://acme-models/flow/7/ — end the prefix with /",
        ),
        ("s3://acme-models/fl*w/", "IAM reads '*' in a resource as a wildcard ('*')", "without *"),
        ("s3://acme-models/flow?/", "a wildcard ('?')", "without * ? or $"),
        ("s3://acme-models/${aws:username}/", "a policy variable", "without * ? or $"),
        ("s3://acme-models/a/../b/", "'..' is two dots in the key", "s3://acme-models/a/b/"),
        ("s3://acme-models/a//b/", "an empty path segment", "s3://acme-models/a/b/"),
        ("s3://acme..models/a/", "is not a valid bucket name: a bucket name has no '..'", ""),
        ("s3://192.168.10.12/a/", "a bucket name is not an IP address", ""),
    ],
)
def test_an_s3_source_that_would_widen_the_grant_is_refused(specs, uri, words, fix):
    model = mutate(base_model(), spec__source__s3Uri=uri)
    (d,) = _findings(specs, model=model, rule="s3-source-scoped")
    assert d.severity == "error" and d.path == "spec.source.s3Uri"
    assert words in d.message
    assert fix in d.fix
    assert d.line == specs.line_of(specs.root / "models/m1.yaml", "s3Uri:")


@pytest.mark.parametrize(
    "uri", ["s3://acme-models/flow/", "s3://acme-models/flow/3/", "s3://acme-models/flow.tar.gz"]
)
def test_a_folder_or_one_tarball_is_accepted(specs, uri):
    specs.standard(None, mutate(base_model(), spec__source__s3Uri=uri))
    specs.check()


def test_an_override_that_widens_is_refused_where_it_is_written(specs):
    model = mutate(
        base_model(), spec__environments={"prod": {"source": {"s3Uri": "s3://acme-models"}}}
    )
    (d,) = _findings(specs, model=model, rule="s3-source-scoped")
    assert d.path == "spec.environments.prod.source.s3Uri"
    assert d.line == specs.line_of(specs.root / "models/m1.yaml", "s3Uri: s3://acme-models")


def test_parse_s3_source_names_exactly_the_folder_or_object():
    assert grants.parse_s3_source("s3://acme-models/flow/3/") == grants.S3Source(
        "acme-models", "flow/3/"
    )
    tarball = grants.parse_s3_source("s3://acme-models/flow.tar.gz")
    assert tarball.is_object and tarball.key == "flow.tar.gz"


# --- images -----------------------------------------------------------------------------------

OTHER = "999999999999.dkr.ecr.us-east-1.amazonaws.com"
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (f"{OTHER}/*:latest", "'*' is no part of an image name"),
        (f"{DLC}/djl-*:latest", "the model could pull from every repository it matches"),
        (f"{DLC}/djl-inference:*", "'*' is no part of an image name"),
        (f"{DLC}/Djl_Inference:1", "is not an ECR image URI of one repository"),
        (
            f"{OTHER}/lmi:1",
            f"registry {OTHER} is neither one of AWS's Deep Learning Containers registries",
        ),
        (
            "763104351884.dkr.ecr.us-west-2.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128",
            "the image is in us-west-2, environment 'prod' in us-east-1",
        ),
    ],
)
def test_an_image_that_widens_or_comes_from_an_unknown_registry_is_refused(specs, image, words):
    model = mutate(base_model(), spec__container__image=image)
    (d,) = _findings(specs, model=model, rule="image-registry-allowed")
    assert d.severity == "error" and d.path == "spec.container.image"
    assert words in d.message
    assert d.fix


def test_an_unknown_registry_is_told_how_to_allow_it(specs):
    model = mutate(base_model(), spec__container__image=f"{OTHER}/lmi:1")
    (d,) = _findings(specs, model=model, rule="image-registry-allowed")
    assert f"add {OTHER} to spec.security.imageRegistries of environment 'prod'" in d.fix


def test_a_registry_the_environment_lists_is_allowed(specs):
    env = mutate(base_environment(), spec__security={"imageRegistries": [OTHER]})
    model = mutate(base_model(), spec__container__image=f"{OTHER}/team/lmi@sha256:{'a' * 64}")
    specs.standard(env, model)
    specs.check()


def test_a_dlc_image_named_explicitly_is_allowed(specs):
    image = f"{DLC}/djl-inference:0.33.0-lmi15.0.0-cu128"
    specs.standard(None, mutate(base_model(), spec__container__image=image))
    specs.check()


def test_image_registries_are_registries_not_patterns(specs):
    env = mutate(
        base_environment(),
        spec__security={"imageRegistries": ["*.dkr.ecr.us-east-1.amazonaws.com"]},
    )
    specs.standard(env, base_model())
    (d,) = specs.errors()
    assert d.path == "spec.security.imageRegistries[0]"
    assert "<account>.dkr.ecr.<region>.amazonaws.com" in d.fix


def test_the_dlc_registries_are_read_from_the_sdks_djl_tables():
    registries = trust.dlc_registries()
    assert DLC in registries
    assert "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn" in registries
    assert OTHER not in registries
    # every region of each table has its registry
    assert len({r.split(".")[3] for r in registries}) >= 30


# --- KMS --------------------------------------------------------------------------------------

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("arn", "words", "fix"),
    [
        (
            "arn:aws:kms:us-east-1:999999999999:key/*",
            "holds a wildcard or policy variable",
            "give one key's full ARN",
        ),
        (
            "arn:aws:kms:us-east-1:111122223333:alias/llm",
            "is an alias: anyone allowed to update the alias can point it at another key",
            "aws kms describe-key --key-id <alias>",
        ),
        (
            "arn:aws:kms:us-east-1:111122223333:key/llm",
            "is not the full ARN of one KMS key",
            "the key id a UUID (or mrk-... for a multi-Region key)",
        ),
        (
            KEY.replace("111122223333", "999999999999"),
            "the key belongs to account 999999999999, not the environment's 111122223333",
            "set spec.security.allowForeignKmsKey: true",
        ),
        (
            KEY.replace("us-east-1", "eu-west-1"),
            "the key is in eu-west-1 (aws), the environment in us-east-1 (aws)",
            "use a key in us-east-1",
        ),
    ],
)
def test_a_kms_key_that_widens_or_is_foreign_is_refused(specs, arn, words, fix):
    env = mutate(base_environment(), spec__security={"kmsKeyArn": arn})
    (d,) = _findings(specs, env=env, rule="kms-key-scoped")
    assert d.severity == "error" and d.path == "spec.security.kmsKeyArn"
    assert words in d.message and fix in d.fix


def test_a_foreign_key_is_allowed_only_explicitly(specs):
    foreign = KEY.replace("111122223333", "999999999999")
    env = mutate(
        base_environment(), spec__security={"kmsKeyArn": foreign, "allowForeignKmsKey": True}
    )
    specs.standard(env, base_model())
    specs.check()
    # ...but never in another region: SageMaker cannot use it there
    env = mutate(
        base_environment(),
        spec__security={
            "kmsKeyArn": foreign.replace("us-east-1", "us-west-2"),
            "allowForeignKmsKey": True,
        },
    )
    (d,) = _findings(specs, env=env, rule="kms-key-scoped")
    assert "the key is in us-west-2" in d.message


@pytest.mark.parametrize("key_id", ["1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-" + "0" * 32])
def test_a_key_of_the_environment_is_accepted(specs, key_id):
    arn = f"arn:aws:kms:us-east-1:111122223333:key/{key_id}"
    specs.standard(mutate(base_environment(), spec__security={"kmsKeyArn": arn}), base_model())
    specs.check()


# --- secrets ----------------------------------------------------------------------------------

AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("hf_Ab12cd34ef", "a Hugging Face token"),  # short
        ("hf_abcdefghijklmnopqrstuvwxyz123456", "a Hugging Face token"),
        ("Bearer hf_abcdEFGH12345678", "a bearer token"),
        ("postgres://user:pass@db.internal:5432/app", "a password in a URL"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv", "a GitHub token"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "a GitHub token"),
        ("gho_abcdefghijklmnopqrstuvwxyz0123456789", "a GitHub token"),
        ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        (AWS_SECRET_KEY, "an AWS secret access key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "a PEM private key"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "a JWT"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz012345", "an API key (sk-...)"),
        ("xoxb-123456789012-abcdefghijkl", "a Slack token"),
        ("host=db user=app password=hunter22", "a password in a key=value pair"),
        ("arn:aws:ssm:hf_Abcdefghijkl12345", "a Hugging Face token"),  # not a real ARN
    ],
)
def test_a_secret_under_a_neutral_name_is_found_by_its_shape(specs, value, kind):
    model = mutate(base_model(), spec__lmi__extraEnv={"SETTING": value})
    (d,) = _findings(specs, model=model, rule="no-secrets")
    assert d.severity == "error" and d.path == "spec.lmi.extraEnv.SETTING"
    assert f"looks like {kind}: SageMaker passes container environment variables" in d.message
    assert "stage them to S3 and use source.s3Uri" in d.fix
    text = d.render() + json.dumps(d.to_dict())
    assert value not in text and value[8:] not in text, "the secret is never printed"
    assert f"({len(value)} characters, masked)" in text


@pytest.mark.parametrize(
    "name", ["HF_TOKEN", "HFTOKEN", "hfToken", "DB_PASSWORD", "API_KEY", "AWS_SECRET_ACCESS_KEY"]
)
def test_a_secret_is_found_by_its_name_whatever_its_value(specs, name):
    model = mutate(base_model(), spec__lmi__extraEnv={name: "s3cr3t-value"})
    (d,) = _findings(specs, model=model, rule="no-secrets")
    assert d.message.startswith(f"{name} names a credential: SageMaker passes")
    assert "s3cr3t-value" not in d.render()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPTION_MAX_TOKENS", "4096"),
        ("MAX_NEW_TOKENS", "512"),
        ("OPTION_TOKENIZER", "s3://acme-models/tokenizers/block/"),
        ("OPTION_SKIP_SPECIAL_TOKENS", "true"),
        ("HF_TOKEN_FILE", "/run/secrets/hf"),  # a path, not the token
        ("OPTION_PAD_TOKEN", "<pad>"),
        ("OPTION_REVISION", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),  # a commit hash
        ("OPTION_MODEL_NAME", "meta-llama/Llama-3.1-8B-Instruct"),
    ],
)
def test_settings_are_not_secrets(specs, name, value):
    specs.standard(None, mutate(base_model(), spec__lmi__extraEnv={name: value}))
    specs.check()


def test_a_token_in_the_owner_is_found_and_masked(specs):
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    (d,) = _findings(specs, model=mutate(base_model(), metadata__owner=token), rule="no-secrets")
    assert d.path == "metadata.owner"
    assert "llmdeploy:owner tag" in d.message
    assert token not in d.render() and token not in json.dumps(d.to_dict())


def test_a_secret_in_an_override_is_found_where_it_is_written(specs):
    over = {"prod": {"lmi": {"extraEnv": {"X": "hf_Ab12cd34ef56"}}}}
    model = mutate(base_model(), spec__environments=over)
    (d,) = _findings(specs, model=model, rule="no-secrets")
    assert d.path == "spec.environments.prod.lmi.extraEnv.X"
    assert d.environment is None  # in the file, whatever environment is checked


def test_a_secret_in_an_s3_path_is_found(specs):
    model = mutate(base_model(), spec__source__s3Uri="s3://acme-models/AKIAIOSFODNN7EXAMPLE/")
    (d,) = _findings(specs, model=model, rule="no-secrets")
    assert d.path == "spec.source.s3Uri" and "an AWS access key id" in d.message


def test_an_ssm_parameter_arn_warns_that_it_is_passed_as_text(specs):
    arn = "arn:aws:ssm:us-east-1:111122223333:parameter/llm/hf-token"
    specs.standard(None, mutate(base_model(), spec__lmi__extraEnv={"HF_TOKEN": arn}))
    (d,) = specs.check().warnings
    assert d.rule == "no-secrets"
    assert "HF_TOKEN holds the ARN of an SSM parameter" in d.message


@pytest.mark.parametrize(
    "ref",
    [
        "{{resolve:secretsmanager:hf-token:SecretString:token}}",
        "{{resolve:ssm:/llm/hf-token}}",
        "{{resolve:ssm-secure:/llm/hf-token:1}}",
        "prefix-{{ resolve:ssm:/x }}",
    ],
)
def test_a_dynamic_reference_is_refused(specs, ref):
    model = mutate(base_model(), spec__lmi__extraEnv={"SETTING": ref})
    found = _findings(specs, model=model)
    (d,) = [d for d in found if d.severity == "error"]
    assert d.rule == "no-dynamic-references" and d.path == "spec.lmi.extraEnv.SETTING"
    assert "put the plaintext into SETTING" in d.message


def test_a_token_echoed_by_any_check_is_masked(specs):
    # Not a valid tag value ('!'): the type check quotes the value, masked all the same.
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    specs.standard(None, mutate(base_model(), metadata__owner=token + "!"))
    (d,) = specs.errors()
    assert d.path == "metadata.owner" and "not a valid AWS tag value" in d.message
    assert token not in d.render() and token not in json.dumps(d.to_dict())
    assert "ghp_…(40 characters, masked)" in d.render()


def test_the_detector_reads_names_by_their_words():
    assert secrets.words("hfApiKey") == ["HF", "API", "KEY"]
    assert secrets.secret_name("HFTOKEN") and not secrets.secret_name("OPTION_TOKENIZER")
    assert secrets.reference("arn:aws:secretsmanager:us-east-1:111122223333:secret:hf-token-AbCdEf")
    assert secrets.reference("arn:aws:ssm:anything") is None
    assert secrets.mask("hf_abcdefghijklmnopqrstuvwxyz123456") == "hf_a…(35 characters, masked)"
