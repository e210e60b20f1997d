"""What stage copies where: the specs and the command line (no Hub, no AWS), and which files
LMI needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from conftest import base_environment, base_model
from llmdeploy import stage as staging
from llmdeploy.cli import stage as stage_cli
from llmdeploy.errors import LlmdeployError
from llmdeploy.plan import check
from llmdeploy.stage import files
from llmdeploy.stage.hub import HubFile
from llmdeploy.stage.store import Remote

HF = "acme-research/tiny-llama"


def _write(root: Path, model: dict, env: dict | None = None) -> list[Path]:
    (root / "infra").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "infra" / "prod.yaml").write_text(yaml.safe_dump(env or base_environment("prod")))
    (root / "models" / "m1.yaml").write_text(yaml.safe_dump(model))
    return [root / "infra", root / "models"]


def _model(source: dict, environments: dict | None = None) -> dict:
    doc = base_model("m1")
    doc["spec"]["source"] = source
    if environments:
        doc["spec"]["environments"] = environments
    return doc


def test_hub_id_and_s3_folder_together_validate_and_stage_copies_one_to_the_other(tmp_path):
    paths = _write(tmp_path, _model({"huggingFaceId": HF, "s3Uri": "s3://weights/m1/1/"}))
    check(paths, ["prod"])  # no error: the endpoint loads S3 under network isolation
    t = staging.target(paths, "prod", "m1")
    assert (t.repo, t.repo_from) == (HF, "source.huggingFaceId")
    assert (t.destination.uri, t.destination_from) == ("s3://weights/m1/1/", "source.s3Uri")
    assert t.spec_loads_destination


def test_an_environment_that_drops_the_hub_id_still_stages_from_the_base_spec(tmp_path):
    paths = _write(
        tmp_path,
        _model(
            {"huggingFaceId": HF},
            {"prod": {"source": {"huggingFaceId": None, "s3Uri": "s3://weights/m1/1/"}}},
        ),
    )
    check(paths, ["prod"])
    t = staging.target(paths, "prod", "m1")
    assert (t.repo, t.repo_from) == (HF, "source.huggingFaceId of the base spec")
    assert t.spec_loads_destination


def test_no_s3_folder_is_refused_with_the_yaml_to_add(tmp_path):
    paths = _write(tmp_path, _model({"huggingFaceId": HF}))
    with pytest.raises(LlmdeployError) as caught:
        staging.target(paths, "prod", "m1")
    text = str(caught.value)
    assert "model 'm1' has no source.s3Uri in environment 'prod'" in text
    yaml_text = (
        f"    spec:\n      source:\n        huggingFaceId: {HF}\n"
        "        s3Uri: s3://<bucket>/m1/<version>/"
    )
    assert yaml_text in text
    assert "--to s3://<bucket>/m1/<version>/" in text
    # The YAML it gives, filled in, is a spec validate accepts.
    filled = yaml.safe_load(
        "\n".join(line[4:] for line in yaml_text.splitlines())
        .replace("<bucket>", "weights")
        .replace("<version>", "1")
    )
    check(_write(tmp_path / "filled", _model(filled["spec"]["source"])), ["prod"])


def test_to_overrides_and_from_names_the_repository(tmp_path):
    paths = _write(tmp_path, _model({"s3Uri": "s3://weights/m1/1/"}))
    with pytest.raises(LlmdeployError, match=r"names no Hugging Face repository .* pass --from"):
        staging.target(paths, "prod", "m1")
    t = staging.target(paths, "prod", "m1", repo=HF, to="s3://other/m1/2/")
    assert (t.repo, t.repo_from, t.destination.uri) == (HF, "--from", "s3://other/m1/2/")
    assert not t.spec_loads_destination


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("to", "s3://weights/", "names the whole bucket"),
        ("to", "s3://weights/m1/*/", "wildcard"),
        ("to", "s3://weights/m1/model.tar.gz", "is one .tar.gz object"),
        ("to", "https://weights/m1/", "is not an s3:// URI"),
        ("repo", "not a repo", "--from not a repo: not a Hugging Face model id"),
    ],
)
def test_bad_values_are_named_with_the_fix(tmp_path, option, value, message):
    paths = _write(tmp_path, _model({"huggingFaceId": HF}))
    with pytest.raises(LlmdeployError, match=message.replace("*", r"\*").replace(".", r"\.")):
        staging.target(paths, "prod", "m1", **{option: value})


def _cli(*args: str):
    app = typer.Typer()
    app.command()(stage_cli.stage)
    return CliRunner().invoke(app, list(args))


def test_a_wrong_model_or_environment_names_the_ones_there(tmp_path):
    paths = _write(tmp_path, _model({"huggingFaceId": HF}))
    specs = [a for p in paths for a in ("--specs", str(p))]
    result = _cli("m11", "--env", "prod", *specs)
    assert result.exit_code == 1
    assert "no model 'm11' in the specs (models: m1); did you mean 'm1'?" in result.output
    result = _cli("m1", "--env", "staging", *specs)
    assert result.exit_code == 1
    assert "--env staging: no environment 'staging'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_broken_model_spec_is_reported_located(tmp_path):
    doc = _model({"huggingFaceId": HF})
    doc["spec"]["lmi"]["dtype"] = "fp64"
    paths = _write(tmp_path, doc)
    result = _cli("m1", "--env", "prod", *[a for p in paths for a in ("--specs", str(p))])
    assert result.exit_code == 1
    assert "m1.yaml:" in result.output
    assert "spec.lmi.dtype" in result.output


# --- which files --------------------------------------------------------------------------------


def test_safetensors_repositories_leave_bin_subfolders_and_other_formats():
    chosen = files.select(
        [
            "model-00001-of-00002.safetensors",
            "model.safetensors.index.json",
            "config.json",
            "tokenizer.json",
            "tokenizer.model",
            "modeling_custom.py",
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model.bin.index.json",
            "original/consolidated.00.pth",
            "original/tokenizer.model",
            "model.gguf",
            "flax_model.msgpack",
            "README.md",
            ".gitattributes",
        ]
    )
    assert chosen.taken == (
        "config.json",
        "model-00001-of-00002.safetensors",
        "model.safetensors.index.json",
        "modeling_custom.py",
        "tokenizer.json",
        "tokenizer.model",
    )
    left = dict(chosen.left)
    assert left["pytorch_model.bin.index.json"].startswith("PyTorch weights")
    assert left["original/tokenizer.model"].startswith("in a subfolder")
    assert left["model.gguf"] == "not weights, configuration or tokenizer"


def test_bin_weights_are_taken_when_there_are_no_safetensors():
    chosen = files.select(["pytorch_model.bin", "config.json", "model.pth"])
    assert chosen.taken == ("config.json", "pytorch_model.bin")
    assert files.has_weights(chosen.taken)
    assert not files.has_weights(files.select(["config.json", "model.gguf"]).taken)


# --- when S3 already holds a file ---------------------------------------------------------------

A, B, C, E = ("a" * 64, "b" * 40, "c" * 40, "e" * 64)
LFS = HubFile("model.safetensors", 10, B, A)
SMALL = HubFile("config.json", 5, C, None)
SIZE = "size differs (9 bytes in S3, 10 on the Hub)"


@pytest.mark.parametrize(
    ("file", "remote", "expected"),
    [
        (LFS, None, ("upload", "not in S3")),
        (LFS, Remote(9, A, A, None), ("upload", SIZE)),
        (LFS, Remote(10, None, None, None), ("upload", "no SHA-256 recorded on the S3 object")),
        (LFS, Remote(10, E, A, None), ("upload", "checksum differs from the Hub's")),
        (LFS, Remote(10, A, A, E), ("upload", "S3's own SHA-256 differs from the recorded one")),
        (LFS, Remote(10, A, A, A), ("skip", "same size and SHA-256")),
        (LFS, Remote(10, A, A, None), ("skip", "same size and SHA-256")),  # sent in parts
        (SMALL, Remote(5, E, C, None), ("skip", "same size and SHA-256")),
        (SMALL, Remote(5, E, B, None), ("upload", "checksum differs from the Hub's")),
    ],
)
def test_compare(file, remote, expected):
    assert staging.compare(file, remote) == expected
