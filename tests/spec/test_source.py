"""YAML → values with positions: the ground every error message stands on."""

from llmdeploy.spec.source import Mark, parse_documents


def test_values_and_keys_keep_their_line_and_column():
    docs, problems = parse_documents("a:\n  b: 1\n  c: [x, y]\n", "f.yaml")
    assert problems == []
    src = docs[0].source
    assert docs[0].data == {"a": {"b": 1, "c": ("x", "y")}}
    assert src.keys[("a", "b")] == Mark(2, 3)
    assert src.values[("a", "b")] == Mark(2, 6)
    assert src.values[("a", "c", 1)] == Mark(3, 10)


def test_locate_falls_back_to_the_nearest_written_ancestor():
    docs, _ = parse_documents("spec:\n  lmi:\n    dtype: bf16\n", "f.yaml")
    mark, written = docs[0].source.locate(("spec", "lmi", "tensorParallelDegree"))
    assert mark == Mark(3, 5)  # the lmi mapping's value starts at its first entry
    assert written == ("spec", "lmi", "tensorParallelDegree")


def test_duplicate_keys_are_errors_not_silently_last_wins():
    _, problems = parse_documents("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert len(problems) == 1
    assert (problems[0].line, problems[0].column) == (3, 1)
    assert "duplicate key 'a'" in problems[0].message


def test_merge_keys_work_and_own_keys_override_them():
    text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n"
    docs, problems = parse_documents(text, "f.yaml")
    assert problems == []
    assert docs[0].data["other"] == {"x": 1, "y": 3}
    assert docs[0].source.keys[("other", "y")] == Mark(4, 3)


def test_malformed_yaml_names_line_and_column():
    _, problems = parse_documents("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
    assert len(problems) == 1
    d = problems[0]
    assert d.file == "bad.yaml" and d.line >= 2
    assert d.message.startswith("not valid YAML")


def test_recursive_alias_is_refused():
    _, problems = parse_documents("a: &x [*x]\n", "f.yaml")
    assert "refers to itself" in problems[0].message


def test_several_documents_in_one_file():
    docs, problems = parse_documents("a: 1\n---\nb: 2\n", "f.yaml")
    assert problems == [] and [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].source.keys[("b",)] == Mark(3, 1)


def test_non_string_keys_keep_their_text():
    docs, _ = parse_documents("on: 1\n2: x\n", "f.yaml")
    assert docs[0].data == {"on": 1, "2": "x"}
