"""Bad input as a user meets it: unreadable spec folders, output folders CDK cannot write to,
a failure inside CDK. Each ends in a message and exit code 1: never a traceback, never a hang,
never a Node.js process left running, never invalid JSON."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, base_environment, mutate, processes
from llmdeploy.cli.main import app

runner = CliRunner()
LLMDEPLOY = Path(sys.executable).with_name("llmdeploy")


PROGRESS_LINE = re.compile(r"[a-z]+ [a-z0-9-]+: .* \([0-9]+\.[0-9] s\)")


def _strict_json(text: str):
    def refuse(name: str):
        raise AssertionError(f"{name} in the JSON output: not JSON")

    return json.loads(text, parse_constant=refuse)


def _run(args: list[str], cwd: Path, *, unprivileged: bool = False, marker: str = ""):
    """llmdeploy in its own process, as a user runs it. ``unprivileged``: as a user whom file
    permissions stop (as root: without the capabilities that bypass them)."""
    cmd = [str(LLMDEPLOY), *args]
    if unprivileged and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root; dropping its file capabilities needs setpriv")
        caps = "-dac_override,-dac_read_search"
        cmd = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", *cmd]
    env = {**os.environ, "NO_COLOR": "1", "LLMDEPLOY_TEST_MARKER": marker}
    env.pop("LLMDEPLOY_DEBUG", None)
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False, env=env
    )


def _one_line_error(result, *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr
    # Progress lines (plain, in CI: "synth dev: building stacks (1.2 s)") may come first.
    lines = [x for x in result.stderr.strip().splitlines() if not PROGRESS_LINE.fullmatch(x)]
    (line,) = lines
    assert line.startswith("error: ")
    for needle in needles:
        assert needle in line


def _live_processes_with(marker: str) -> list[str]:
    """Processes still running (not zombies) whose environment holds ``marker``."""
    tag = f"LLMDEPLOY_TEST_MARKER={marker}".encode()
    return [f"{p.pid} {p.cmdline}" for p in processes() if tag in p.environ and p.state != "Z"]


# --- spec folders and files ----------------------------------------------------------------------


def test_an_unreadable_models_folder_is_an_error_not_zero_models(specs):
    specs.standard()
    (specs.root / "models").chmod(0)
    try:
        result = _run(["validate"], specs.root, unprivileged=True)  # models/ and infra/
    finally:
        (specs.root / "models").chmod(0o755)
    assert result.returncode == 1
    assert "valid:" not in result.stdout
    assert "models:1:1: error: (folder): cannot read this folder: Permission denied" in (
        result.stderr
    )
    assert "fix: make it readable (chmod u+rx models)" in result.stderr


def test_an_unreadable_folder_named_on_the_command_line_exits_1_not_2(specs):
    # Exit 2 is `diff --exit-code`'s "would change": a bad path must not look like it.
    specs.standard()
    (specs.root / "models").chmod(0)
    try:
        result = _run(["validate", "models", "infra"], specs.root, unprivileged=True)
    finally:
        (specs.root / "models").chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert "cannot read this folder: Permission denied" in result.stderr


def test_an_unreadable_subfolder_is_an_error(specs):
    specs.standard()
    sub = specs.root / "models/team-b"
    sub.mkdir()
    sub.chmod(0)
    try:
        result = _run(["validate", "models", "infra"], specs.root, unprivileged=True)
    finally:
        sub.chmod(0o755)
    assert result.returncode == 1
    assert "models/team-b:1:1: error: (folder): cannot read this folder: Permission denied" in (
        result.stderr
    )


def test_an_unreadable_spec_file_is_an_error(specs):
    specs.standard()
    (specs.root / "models/m1.yaml").chmod(0)
    result = _run(["validate", "models", "infra"], specs.root, unprivileged=True)
    assert result.returncode == 1
    assert "models/m1.yaml:1:1: error: (file): cannot read this file: Permission denied" in (
        result.stderr
    )


def test_json_reports_of_non_finite_numbers_are_valid_json(specs):
    env = mutate(base_environment(), spec__pricing={"ml.g6e.12xlarge": 1.5})
    specs.standard(env)
    path = specs.root / "infra/prod.yaml"
    path.write_text(path.read_text().replace("ml.g6e.12xlarge: 1.5", "ml.g6e.12xlarge: .inf"))
    for command in (["validate"], ["plan"]):
        result = runner.invoke(app, [*command, str(specs.root), "-o", "json"])
        assert result.exit_code == 1
        (d,) = _strict_json(result.stdout)["diagnostics"]
        assert d["path"] == "spec.pricing.ml.g6e.12xlarge" and d["value"] == ".inf"


def test_emit_json_refuses_to_write_infinity(capsys):
    from llmdeploy.cli.common import emit_json
    from llmdeploy.errors import LlmdeployError

    with pytest.raises(LlmdeployError, match="not a number"):
        emit_json({"cost": float("inf")})
    assert capsys.readouterr().out == ""  # nothing half-written


# --- synth: the output folder, checked before CDK starts ----------------------------------------


@pytest.fixture
def work(tmp_path) -> Path:
    shutil.copytree(REPO / "models", tmp_path / "models")
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    return tmp_path


@pytest.mark.parametrize(
    ("outdir", "needle"),
    [
        ("a-file", "output folder a-file: is a file, not a folder"),
        ("a-file/sub", "a-file is a file, not a folder"),
        ("dangling", "output folder dangling: a symbolic link to"),
        ("dangling/sub", "dangling is a symbolic link to"),
        ("/proc/x", "is on the kernel's proc filesystem at /proc"),  # CDK hung here
        ("/sys/llmdeploy", "/sys"),
        ("/dev/llmdeploy", "/dev"),
        ("/dev/shm/llmdeploy", "/dev"),
    ],
)
def test_synth_refuses_an_output_folder_cdk_cannot_use(work, outdir, needle):
    marker = uuid.uuid4().hex
    result = _run(["synth", "--env", "dev", "--out-dir", outdir], work, marker=marker)
    _one_line_error(result, needle)
    assert not Path("/dev/llmdeploy").exists() and not Path("/dev/shm/llmdeploy").exists()
    assert _live_processes_with(marker) == []


def test_synth_refuses_a_folder_it_may_not_write(work):
    readonly = work / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        result = _run(
            ["synth", "--env", "dev", "--out-dir", "readonly/out"], work, unprivileged=True
        )
    finally:
        readonly.chmod(0o755)
    _one_line_error(result, "output folder readonly/out:", "is not writable")
    assert not (readonly / "out").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failure_inside_cdk_is_one_line_and_leaves_no_node_process(work, jobs):
    # CDK itself refuses a stack name llmdeploy's rules would never let through: with the
    # name forced, that failure comes from inside jsii (a RuntimeError with CDK's message).
    # A script, not `python -c`: a synth worker (--jobs 2 starts one) runs it again as its
    # main module, so that the worker's CDK fails the same way.
    marker = uuid.uuid4().hex
    script = work / "forced_name.py"
    script.write_text(
        "from llmdeploy.plan.names import Names\n"
        "Names.model_stack = lambda self, model: 'not a stack name!'\n"
        "if __name__ == '__main__':\n"
        "    from llmdeploy.cli.main import app\n"
        f"    app(['synth', '--env', 'dev', '--no-cache', '--out-dir', 'out', '--jobs', '{jobs}',"
        " 'text-evaluation'])\n"
    )
    env = {**os.environ, "NO_COLOR": "1", "LLMDEPLOY_TEST_MARKER": marker}
    env.pop("LLMDEPLOY_DEBUG", None)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    _one_line_error(result, "CDK could not synthesize into out: ", "Stack name must match")
    assert _live_processes_with(marker) == []


def test_synth_ends_its_node_process(work):
    marker = uuid.uuid4().hex
    result = _run(
        ["synth", "--env", "dev", "--out-dir", "out", "text-evaluation"], work, marker=marker
    )
    assert result.returncode == 0, result.stderr
    assert (work / "out/llmdeploy-dev-model-text-evaluation.template.json").exists()
    assert _live_processes_with(marker) == []


def test_synth_never_writes_an_assembly_among_other_files(specs):
    specs.standard()
    result = _run(["synth", "--env", "prod", "--out-dir", "models"], specs.root)
    _one_line_error(result, "already holds files that are not a cloud assembly")
    assert sorted(p.name for p in (specs.root / "models").iterdir()) == ["m1.yaml"]
