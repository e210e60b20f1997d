"""Loading specs: strict types, precise errors, all errors at once, overrides, immutability."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from conftest import base_environment, base_model, mutate
from llmdeploy.spec import load


def test_unknown_key_gets_did_you_mean_at_the_keys_line(specs):
    model = mutate(base_model(), spec__lmi__maxRollingBatchSze=64)
    specs.standard(None, model)
    (d,) = specs.errors()
    path = specs.root / "models/m1.yaml"
    assert d.file == str(path)
    assert d.line == specs.line_of(path, "maxRollingBatchSze")
    assert d.path == "spec.lmi.maxRollingBatchSze"
    assert d.fix == "did you mean 'maxRollingBatchSize'?"


def test_unknown_key_without_a_close_match_lists_the_allowed_fields(specs):
    specs.standard(None, mutate(base_model(), spec__resources__gpuModel="a100"))
    (d,) = specs.errors()
    assert "unknown field 'gpuModel'" in d.message
    assert "accelerators" in d.fix and "memoryMiB" in d.fix


def test_wrong_types_are_errors_with_the_value_and_the_fix(specs):
    model = mutate(base_model(), metadata__version="3", spec__lmi__extraEnv={"FLAG": True})
    specs.standard(None, model)
    errors = {d.path: d for d in specs.errors()}
    assert errors["metadata.version"].value == "3"
    assert "without quotes" in errors["metadata.version"].fix
    flag = errors["spec.lmi.extraEnv.FLAG"]
    assert flag.value is True and 'FLAG: "true"' in flag.fix


def test_out_of_range_and_bad_enum_values(specs):
    model = mutate(base_model(), spec__lmi__tensorParallelDegree=0, spec__lmi__dtype="bf61")
    specs.standard(None, model)
    errors = {d.path: d for d in specs.errors()}
    assert errors["spec.lmi.tensorParallelDegree"].message == "must be at least 1"
    assert errors["spec.lmi.dtype"].fix == "did you mean 'bf16'?"


def test_missing_required_field_points_at_its_parent(specs):
    specs.standard(None, mutate(base_model(), spec__container__engine=None))
    (d,) = specs.errors()
    assert d.message == "required field 'engine' is missing"
    assert d.path == "spec.container"


def test_every_error_of_a_run_is_reported_together(specs):
    specs.standard(
        mutate(base_environment(), spec__account=111122223333),
        mutate(base_model("a"), spec__lmi__maxRollingBatchSze=1),
        mutate(base_model("b"), spec__copies__initial=0),
    )
    paths = sorted((d.file.rsplit("/", 1)[-1], d.path) for d in specs.errors())
    assert paths == [
        ("a.yaml", "spec.lmi.maxRollingBatchSze"),
        ("b.yaml", "spec.copies.initial"),
        ("prod.yaml", "spec.account"),
    ]


def test_account_written_as_a_number_asks_for_quotes(specs):
    specs.standard(mutate(base_environment(), spec__account=111122223333))
    (d,) = specs.errors()
    assert 'account: "111122223333"' in d.fix


def test_api_version_and_kind_are_checked(specs):
    specs.write("infra/prod.yaml", base_environment())
    specs.write("models/a.yaml", mutate(base_model("a"), apiVersion="llmdeploy/v2"))
    specs.write("models/b.yaml", mutate(base_model("b"), kind="Modle"))
    specs.write("models/c.yaml", mutate(base_model("c"), apiVersion=None))
    errors = {d.file.rsplit("/", 1)[-1]: d for d in specs.errors()}
    assert "unsupported apiVersion 'llmdeploy/v2'" in errors["a.yaml"].message
    assert errors["b.yaml"].fix == "did you mean 'Model'?"
    assert errors["c.yaml"].message == "missing apiVersion"


def test_a_document_that_is_not_a_mapping(specs):
    specs.standard()
    specs.write("models/list.yaml", "- a\n- b\n")
    (d,) = specs.errors()
    assert d.file.endswith("list.yaml") and "must be a mapping" in d.message


def test_duplicate_model_names_across_files(specs):
    specs.standard(None, base_model("a"))
    specs.write("models/copy.yaml", base_model("a"))
    (d,) = specs.errors()
    assert d.file.endswith("copy.yaml")
    assert "model 'a' is defined twice (first at" in d.message


def test_environment_overrides_are_deep_merged(specs):
    model = mutate(
        base_model(),
        spec__environments={
            "dev": {"copies": {"max": 1, "min": 0}},
            "prod": {"lmi": {"dtype": "fp16"}},
        },
    )
    specs.standard(None, model)
    specs.write("infra/dev.yaml", base_environment("dev"))
    checked = specs.check()
    by_env = {e.name: e.models[0].spec.spec for e in checked.environments}
    assert by_env["dev"].copies.max == 1 and by_env["dev"].copies.initial == 1
    assert by_env["dev"].lmi.dtype == "bf16"  # untouched siblings survive the merge
    assert by_env["prod"].lmi.dtype == "fp16" and by_env["prod"].copies.max == 2


def test_an_error_caused_by_an_override_names_the_override_and_its_environment(specs):
    model = mutate(base_model(), spec__environments={"dev": {"copies": {"mx": 1}}})
    specs.standard(None, model)
    specs.write("infra/dev.yaml", base_environment("dev"))
    (d,) = specs.errors()
    path = specs.root / "models/m1.yaml"
    assert d.environment == "dev"
    assert d.path == "spec.environments.dev.copies.mx"
    assert d.line == specs.line_of(path, "mx:")
    assert d.fix == "did you mean 'max'?"


def test_a_rule_broken_only_by_an_override_names_the_override_line(specs):
    model = mutate(base_model(), spec__environments={"dev": {"lmi": {"tensorParallelDegree": 2}}})
    specs.standard(None, model)
    specs.write("infra/dev.yaml", base_environment("dev"))
    (d,) = specs.errors()
    assert d.environment == "dev"
    assert d.path == "spec.environments.dev.lmi.tensorParallelDegree"
    assert d.line == specs.line_of(specs.root / "models/m1.yaml", "tensorParallelDegree: 2")


def test_the_same_problem_in_two_environments_is_reported_once_naming_both(specs):
    specs.standard(None, mutate(base_model(), spec__lmi__tensorParallelDegree=2))
    specs.write("infra/dev.yaml", base_environment("dev"))
    (d,) = specs.errors()
    assert d.environment == "dev, prod"


def test_parsed_specs_are_immutable(specs):
    specs.standard(None, mutate(base_model(), spec__lmi__extraEnv={"A_B": "1"}))
    portfolio = load([specs.root])
    model = portfolio.models[0].spec
    with pytest.raises(ValidationError):
        model.metadata.version = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        model.spec.lmi.extra_env["A_B"] = "2"  # type: ignore[index]
    env = portfolio.environments[0].spec
    assert isinstance(env.spec.endpoints, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        portfolio.models[0].source = None  # type: ignore[misc]


def test_missing_path_is_a_clear_error(tmp_path):
    from llmdeploy.errors import LlmdeployError

    with pytest.raises(LlmdeployError, match="no such file or folder"):
        load([tmp_path / "nope"])


def test_non_utf8_file(specs):
    specs.standard()
    (specs.root / "models/bin.yaml").write_bytes(b"\xff\xfe\x00bad")
    (d,) = specs.errors()
    assert d.file.endswith("bin.yaml") and "UTF-8" in d.message


def test_octal_looking_account_is_quoted_as_written(specs):
    specs.standard(mutate(base_environment(), spec__account=None))
    path = specs.root / "infra/prod.yaml"
    path.write_text(path.read_text().replace("  region:", "  account: 011112222333\n  region:"))
    (d,) = specs.errors()
    assert 'account: "011112222333"' in d.fix


def test_an_override_of_a_sibling_does_not_move_a_base_error(specs):
    # The base's tensorParallelDegree is wrong; dev overrides another lmi field. The error is
    # the base line's, in both environments, under the path the user wrote.
    model = mutate(
        base_model(),
        spec__lmi__tensorParallelDegree=2,
        spec__environments={"dev": {"lmi": {"maxRollingBatchSize": 8}}},
    )
    specs.standard(None, model)
    specs.write("infra/dev.yaml", base_environment("dev"))
    (d,) = specs.errors()
    assert d.path == "spec.lmi.tensorParallelDegree" and d.environment == "dev, prod"


def test_non_ascii_values_are_shown_as_written(specs):
    specs.standard(None, mutate(base_model(), metadata__name="sql-génération"))
    (d,) = specs.errors()
    assert '"sql-génération"' in d.render()


def test_counts_have_an_upper_bound(specs):
    specs.standard(None, mutate(base_model(), spec__copies={"min": 1, "initial": 1, "max": 5000}))
    (d,) = specs.errors()
    assert d.path == "spec.copies.max" and "at most 1000" in d.message


def test_overrides_cannot_nest_environments(specs):
    model = mutate(
        base_model(),
        spec__environments={"prod": {"environments": {"prod": {"copies": {"max": 9}}}}},
    )
    specs.standard(None, model)
    (d,) = specs.errors()
    assert d.path == "spec.environments.prod.environments"
    assert "cannot hold overrides of their own" in d.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_an_empty_spec_file_is_an_error(specs, text):
    specs.standard()
    specs.write("models/empty.yaml", text)
    (d,) = specs.errors()
    assert d.file.endswith("models/empty.yaml") and d.line == 1
    assert "holds no spec" in d.message and "delete the file" in d.fix


def test_the_kernels_filesystems_are_not_searched_for_specs(tmp_path):
    from llmdeploy.errors import LlmdeployError
    from llmdeploy.spec.loader import spec_files

    with pytest.raises(LlmdeployError, match="/proc is the kernel's own filesystem"):
        spec_files(["/proc"])
    # A link into /proc inside a spec folder (/proc/self/root is /) is not followed.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "root").symlink_to("/proc/self/root")
    (tmp_path / "models" / "m.yaml").write_text("x: 1\n")
    files, problems = spec_files([tmp_path / "models"])
    assert files == [tmp_path / "models" / "m.yaml"] and problems == []
