"""Spec files and folders: whatever is in the folders is read or refused with a reason, never
skipped in silence; nothing that is not a regular file is opened (a named pipe would block)."""

from __future__ import annotations

import os
import pathlib

import pytest

from conftest import base_model
from llmdeploy.errors import LlmdeployError, SpecError
from llmdeploy.spec import load


@pytest.mark.parametrize("name", ["m.YAML", "m.Yml", "m.yml", "m.YaMl"])
def test_spec_file_suffixes_are_read_in_any_case(specs, name):
    specs.standard()
    specs.write(f"models/{name}", base_model("other"))
    checked = specs.check()
    assert {m.name for m in checked.environments[0].models} == {"m1", "other"}
    assert str(specs.root / "models" / name) in checked.portfolio.files


def test_other_files_in_the_folders_are_not_specs(specs):
    specs.standard()
    (specs.root / "models/README.md").write_text("not a spec")
    (specs.root / "models/m1.yaml.bak").write_text("also: not a spec")
    assert len(specs.check().portfolio.files) == 2


def test_a_dangling_symlink_is_an_error_naming_its_target(specs):
    specs.standard()
    (specs.root / "models/gone.yaml").symlink_to(specs.root / "nowhere.yaml")
    (d,) = specs.errors()
    assert d.file == str(specs.root / "models/gone.yaml") and d.path == "(file)"
    assert d.message == f"a symbolic link to {specs.root / 'nowhere.yaml'}, which does not exist"
    assert d.fix == "point the link at an existing file, or remove it"


def test_a_dangling_symlink_that_may_have_been_a_folder_is_an_error(specs):
    specs.standard()
    (specs.root / "models/team-b").symlink_to(specs.root / "gone")
    (specs.root / "models/.#m1.yaml").symlink_to("root@host.123:1700000000")  # an Emacs lock
    (d,) = specs.errors()
    assert d.file.endswith("models/team-b") and d.path == "(folder)"
    assert "which does not exist" in d.message


def test_symlinked_folders_are_followed_and_loops_end(specs):
    specs.standard()
    other = specs.root / "elsewhere"
    other.mkdir()
    specs.write("elsewhere/m2.yaml", base_model("m2"))
    (specs.root / "models/linked").symlink_to(other)
    (other / "back").symlink_to(specs.root / "models")  # a loop back up
    names = {m.name for m in specs.check().environments[0].models}
    assert names == {"m1", "m2"}


def test_a_named_pipe_is_refused_without_reading_it(specs):
    specs.standard()
    os.mkfifo(specs.root / "models/pipe.yaml")  # opening it would block until a writer came
    (d,) = specs.errors()
    assert d.file.endswith("pipe.yaml") and "is a named pipe, not a regular file" in d.message
    assert "remove it" in d.fix


def test_a_named_pipe_given_by_name_is_refused_too(specs, tmp_path):
    specs.standard()
    pipe = tmp_path / "given.yaml"
    os.mkfifo(pipe)
    with pytest.raises(SpecError) as info:
        load([pipe])
    (d,) = info.value.diagnostics
    assert "named pipe" in d.message


def _deny(monkeypatch, target: pathlib.Path, what: str) -> None:
    """Make reading ``target`` fail as it does for a folder or file without read permission
    (the tests run as root, whom permissions do not stop)."""
    if what == "folder":
        real = os.scandir

        def scandir(path="."):
            if pathlib.Path(path) == target:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        real_read = pathlib.Path.read_bytes

        def read_bytes(self):
            if self == target:
                raise PermissionError(13, "Permission denied", str(self))
            return real_read(self)

        monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)


def test_an_unreadable_subfolder_is_an_error(specs, monkeypatch):
    specs.standard()
    sub = specs.root / "models/team-b"
    specs.write("models/team-b/m2.yaml", base_model("m2"))
    _deny(monkeypatch, sub, "folder")
    (d,) = specs.errors()
    assert d.file == str(sub) and d.path == "(folder)"
    assert d.message == "cannot read this folder: Permission denied"
    assert d.fix == f"make it readable (chmod u+rx {sub}), or move it out of the spec folders"


def test_an_unreadable_models_folder_is_an_error_not_zero_models(specs, monkeypatch):
    specs.standard()
    _deny(monkeypatch, specs.root / "models", "folder")
    with pytest.raises(SpecError) as info:
        load([specs.root / "models"])
    (d,) = info.value.diagnostics
    assert d.file == str(specs.root / "models") and "cannot read this folder" in d.message


def test_an_unreadable_file_is_an_error_and_the_others_are_still_checked(specs, monkeypatch):
    specs.standard(None, base_model("a"), base_model("b"))
    (specs.root / "models/c.yaml").write_text("kind: [")
    _deny(monkeypatch, specs.root / "models/a.yaml", "file")
    errors = specs.errors()
    assert [(os.path.basename(d.file), d.path) for d in errors] == [
        ("a.yaml", "(file)"),
        ("c.yaml", "(document)"),
    ]
    assert errors[0].message == "cannot read this file: Permission denied"


def test_a_dangling_symlink_given_by_name(tmp_path):
    link = tmp_path / "models"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(LlmdeployError, match=r"a symbolic link to .*gone, which does not exist"):
        load([link])
