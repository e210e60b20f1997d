"""One CLI: every command spells its options the same way, exits 1 on a usage error (2 is
`diff --exit-code`'s "would change"), has help on every option and writes plain text when
not on a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from conftest import REPO
from llmdeploy.cli.main import app

runner = CliRunner()
COMMANDS = typer.main.get_command(app)
REPORTING = [
    name
    for name, cmd in COMMANDS.commands.items()
    if name not in ("cdk-app", "schema")  # the CDK app and a JSON Schema writer report nothing
]


def _options(name: str) -> dict:
    return {p.name: p for p in COMMANDS.commands[name].params}


@pytest.mark.parametrize("name", sorted(COMMANDS.commands))
def test_every_option_and_argument_has_help(name):
    cmd = COMMANDS.commands[name]
    assert cmd.help, f"{name} has no help"
    for p in cmd.params:
        assert getattr(p, "help", None), f"{name}: {p.name} has no help text"


@pytest.mark.parametrize("name", REPORTING)
def test_every_reporting_command_takes_output_text_or_json(name):
    output = _options(name).get("output")
    assert output is not None, f"{name} has no -o/--output"
    assert set(output.opts) == {"-o", "--output"}
    assert "json" in output.help


@pytest.mark.parametrize("name", sorted(COMMANDS.commands))
def test_folders_are_out_dir_and_specs_are_specs(name):
    for p in COMMANDS.commands[name].params:
        if p.name in ("out_dir",):
            assert "--out-dir" in p.opts
        if p.name == "specs":
            assert p.opts == ["--specs"]
        if "-o" in getattr(p, "opts", ()):
            assert p.name == "output", f"{name}: -o is {p.name}, not the output format"


@pytest.mark.parametrize(
    "args",
    [
        ["diff", "--env", "dev", "--bogus"],
        ["validate", "--nope"],
        ["synth", "--env", "dev", "-o", "yaml"],  # not a format
        ["deploy"],  # --env missing
        ["no-such-command"],
        ["plan", "--env"],  # a value missing
    ],
)
def test_usage_errors_exit_1_never_2(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "Usage:" in result.output or "Error" in result.output


def test_dash_h_is_help_and_help_lists_exit_codes():
    result = runner.invoke(app, ["-h"])
    assert result.exit_code == 0
    assert "Exit codes:" in result.stdout and "diff --exit-code" in result.stdout
    sub = runner.invoke(app, ["plan", "-h"])
    assert sub.exit_code == 0 and "--suggest" in sub.stdout


def test_validate_and_plan_take_specs_like_every_other_command(tmp_path):
    for command in ("validate", "plan"):
        by_option = runner.invoke(
            app, [command, "--specs", str(REPO / "models"), "--specs", str(REPO / "infra")]
        )
        assert by_option.exit_code == 0, by_option.output
    positional = runner.invoke(app, ["validate", str(REPO / "models"), str(REPO / "infra")])
    assert positional.exit_code == 0


def _plain(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llmdeploy", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )


def test_no_boxes_or_escape_codes_when_not_a_terminal():
    result = _plain(["plan", "--env", "dev"])
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    assert not re.search("[─│╭╮╰╯┏━]", result.stdout), result.stdout[:400]
    helped = _plain(["diff", "--help"], NO_COLOR="1")
    assert "\x1b[" not in helped.stdout and not re.search("[─│╭╮╰╯]", helped.stdout)
    typo = _plain(["diff", "--env", "dev", "--bogus"])
    assert typo.returncode == 1
    assert not re.search("[─│╭╮╰╯]", typo.stderr) and "--bogus" in typo.stderr


def test_json_errors_are_json_on_stdout(tmp_path):
    result = runner.invoke(app, ["plan", "--env", "nope", "-o", "json"])
    assert result.exit_code == 1
    assert "no environment 'nope'" in json.loads(result.stdout)["error"]


def test_validate_json_keeps_its_keys_when_invalid(tmp_path):
    good = runner.invoke(app, ["validate", "-o", "json"], catch_exceptions=False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models/bad.yaml").write_text("apiVersion: llmdeploy/v1\nkind: Model\n")
    bad = runner.invoke(
        app, ["validate", "-o", "json", "--specs", str(tmp_path), "--specs", str(REPO / "infra")]
    )
    assert bad.exit_code == 1
    invalid = json.loads(bad.stdout)
    assert invalid["valid"] is False
    assert invalid["environments"] == ["dev", "prod"]
    assert isinstance(invalid["models"], list) and invalid["diagnostics"]
    assert str(tmp_path / "models/bad.yaml") in invalid["files"]
    if good.exit_code == 0:  # run from the repository: the same keys when valid
        assert set(json.loads(good.stdout)) == set(invalid)


def _keys(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("spec", "types", "by_type", "parameters", "fields", "old", "new"):
                # the spec's own camelCase (also in --optimize's changes, old → new) and
                # CloudFormation's names are data
                continue
            yield f"{path}.{k}", k
            yield from _keys(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v, path)


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["plan", "--suggest"],
        ["plan", "--env", "prod", "--optimize"],
        ["validate", "--rules"],
        ["init", "{tmp}"],
    ],
)
def test_json_keys_are_snake_case(args, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    args = [a.replace("{tmp}", str(tmp_path / "r")) for a in args]
    result = runner.invoke(app, [*args, "-o", "json"])
    assert result.exit_code == 0, result.output
    bad = [p for p, k in _keys(json.loads(result.stdout)) if not re.fullmatch(r"[a-z0-9_]+", k)]
    assert not bad, bad
