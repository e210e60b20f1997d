"""`llmdeploy validate`, `schema` and `--version` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, base_environment, base_model, mutate
from llmdeploy import __version__
from llmdeploy.cli.main import app
from llmdeploy.spec.schema import filename, schemas

runner = CliRunner()


def test_examples_are_valid():
    result = runner.invoke(app, ["validate", str(REPO / "models"), str(REPO / "infra")])
    assert result.exit_code == 0, result.output
    assert "valid: 8 model(s) in 2 environment(s) (dev, prod)" in result.stdout


def test_defaults_to_models_and_infra_in_the_working_directory(monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["validate", "--env", "prod"])
    assert result.exit_code == 0, result.output
    assert "(prod)" in result.stdout


def test_tp_mismatch_exits_1_naming_file_line_and_field(specs):
    model = mutate(base_model(), spec__lmi__tensorParallelDegree=4, spec__resources__accelerators=2)
    specs.standard(None, model)
    result = runner.invoke(app, ["validate", str(specs.root / "models"), str(specs.root / "infra")])
    assert result.exit_code == 1
    path = specs.root / "models/m1.yaml"
    line = specs.line_of(path, "tensorParallelDegree: 4")
    assert f"{path}:{line}:" in result.stderr
    assert "spec.lmi.tensorParallelDegree = 4" in result.stderr
    assert "fix: set lmi.tensorParallelDegree: 2, or resources.accelerators: 4" in result.stderr
    assert "Traceback" not in result.output


def test_misspelt_field_gets_did_you_mean(specs):
    specs.standard(None, mutate(base_model(), spec__lmi__maxRollingBatchSze=64))
    result = runner.invoke(app, ["validate", str(specs.root)])
    assert result.exit_code == 1
    assert "did you mean 'maxRollingBatchSize'" in result.stderr


def test_json_output_for_ci(specs):
    specs.standard(None, mutate(base_model(), spec__lmi__tensorParallelDegree=4))
    result = runner.invoke(app, ["validate", str(specs.root), "--output", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    (d,) = report["diagnostics"]
    assert d["rule"] == "tp-matches-accelerators" and d["value"] == 4 and d["line"] > 1


def test_json_output_when_valid(specs):
    specs.standard()
    result = runner.invoke(app, ["validate", str(specs.root), "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) | {"files": None} == {
        "valid": True,
        "environments": ["prod"],
        "models": ["m1"],
        "files": None,
        "diagnostics": [],
    }


def test_unknown_environment_is_a_clear_error(specs):
    specs.standard()
    result = runner.invoke(app, ["validate", str(specs.root), "--env", "prd"])
    assert result.exit_code == 1
    assert "no environment 'prd'" in result.stderr and "did you mean 'prod'" in result.stderr


def test_missing_path_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr


def test_models_without_an_environment(specs):
    specs.write("models/m1.yaml", base_model())
    result = runner.invoke(app, ["validate", str(specs.root / "models")])
    assert result.exit_code == 1
    assert "no Environment spec found" in result.stderr


def test_warnings_do_not_fail_validation(specs):
    env = mutate(base_environment(), spec__pricing={"ml.g7.xlarge": 2.0})
    specs.standard(env)
    result = runner.invoke(app, ["validate", str(specs.root)])
    assert result.exit_code == 0
    assert "warning" in result.stderr and "1 warning(s)" in result.stdout


def test_strict_turns_warnings_into_errors(specs):
    env = mutate(base_environment(), spec__pricing={"ml.g7.xlarge": 2.0})
    specs.standard(env)
    result = runner.invoke(app, ["validate", str(specs.root), "--strict"])
    assert result.exit_code == 1
    assert "error: spec.pricing.ml.g7.xlarge" in result.stderr
    assert "--strict: 1 warning(s) counted as errors" in result.stderr
    result = runner.invoke(app, ["validate", str(specs.root), "--strict", "-o", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [d["severity"] for d in report["diagnostics"]] == ["error"]


def test_strict_passes_what_has_no_findings(specs):
    specs.standard()
    result = runner.invoke(app, ["validate", str(specs.root), "--strict"])
    assert result.exit_code == 0, result.output
    assert "0 warning(s)" in result.stdout


def test_strict_fails_on_peak_copies_plan_says_do_not_fit(specs):
    specs.standard(None, mutate(base_model(), spec__copies={"min": 1, "initial": 1, "max": 9}))
    lenient = runner.invoke(app, ["validate", str(specs.root)])
    assert lenient.exit_code == 0 and "needs 3 × ml.g6e.12xlarge" in lenient.stderr
    strict = runner.invoke(app, ["validate", str(specs.root), "--strict"])
    assert strict.exit_code == 1 and "error" in strict.stderr
    plan = runner.invoke(app, ["plan", str(specs.root), "-o", "json"])
    (endpoint,) = json.loads(plan.stdout)["environments"][0]["endpoints"]
    assert endpoint["points"]["max"]["needed"] == 3 and endpoint["points"]["max"]["holds"] is False


def test_rules_are_listed():
    result = runner.invoke(app, ["validate", "--rules"])
    assert result.exit_code == 0 and "tp-matches-accelerators" in result.stdout


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"llmdeploy {__version__}"


def test_schema_files_in_the_repository_are_current():
    for kind, body in schemas().items():
        committed = json.loads((REPO / "schemas" / filename(kind)).read_text())
        assert committed == body, f"run `llmdeploy schema -d schemas` ({kind} changed)"


def test_schema_command_writes_both_kinds(tmp_path):
    result = runner.invoke(app, ["schema", "-d", str(tmp_path)])
    assert result.exit_code == 0
    model = json.loads((tmp_path / "model.schema.json").read_text())
    lmi = model["$defs"]["Lmi"]["properties"]
    assert "maxRollingBatchSize" in lmi and "tensorParallelDegree" in lmi
    assert model["$defs"]["Lmi"]["additionalProperties"] is False
    env = json.loads((tmp_path / "environment.schema.json").read_text())
    assert env["properties"]["kind"]["const"] == "Environment"


def test_schema_of_one_kind_and_a_bad_kind():
    ok = runner.invoke(app, ["schema", "--kind", "Model"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["title"] == "llmdeploy/v1 Model"
    bad = runner.invoke(app, ["schema", "--kind", "Modle"])
    assert bad.exit_code == 1 and "choose one of Environment, Model" in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["validate"],
        ["validate", "--help"],
        ["plan", "--suggest"],
        # Reads history: loads the deploy engine (no credentials here: it stops at STS).
        ["history", "--env", "dev"],
    ],
)
def test_help_validate_plan_and_history_never_import_aws_cdk(args):
    # Whole process, as a user runs it: aws_cdk starts a Node.js runtime (seconds).
    code = (
        "import sys\nfrom llmdeploy.cli.main import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        "print('AWS_CDK_LOADED' if any(m.startswith('aws_cdk') or m == 'jsii' "
        "for m in sys.modules) else 'CLEAN')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "NO_COLOR": "1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        check=False,
    )
    assert out.stdout.strip().splitlines()[-1] == "CLEAN", out.stdout + out.stderr


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("llmdeploy")
    out = subprocess.run(
        [str(exe), "validate"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr


def test_env_whose_own_file_is_broken_shows_its_errors(specs):
    specs.standard(mutate(base_environment(), spec__region=None, spec__regin="us-east-1"))
    result = runner.invoke(app, ["validate", str(specs.root), "--env", "prod"])
    assert result.exit_code == 1
    assert "did you mean 'region'" in result.stderr
    assert "no environment" not in result.stderr


def test_overrides_for_a_broken_environment_are_not_unknown(specs):
    specs.standard(None, mutate(base_model(), spec__environments={"dev": {"copies": {"max": 1}}}))
    specs.write("infra/dev.yaml", mutate(base_environment("dev"), spec__region="nowhere"))
    result = runner.invoke(app, ["validate", str(specs.root)])
    assert result.exit_code == 1
    assert "spec.region" in result.stderr and "no environment 'dev'" not in result.stderr


def test_checking_against_some_environments_only_warns_about_other_overrides(specs):
    specs.standard(None, mutate(base_model(), spec__environments={"dev": {"copies": {"max": 1}}}))
    result = runner.invoke(app, ["validate", str(specs.root)])
    assert result.exit_code == 0
    assert "no environment 'dev' among the given specs" in result.stderr


def test_no_spec_files_is_an_error(tmp_path):
    (tmp_path / "models").mkdir()
    result = runner.invoke(app, ["validate", str(tmp_path / "models")])
    assert result.exit_code == 1 and "no spec files" in result.stderr


def test_schema_into_a_file_path_is_a_clean_error(tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    result = runner.invoke(app, ["schema", "-d", str(target)])
    assert result.exit_code == 1 and "cannot write the schemas" in result.stderr
