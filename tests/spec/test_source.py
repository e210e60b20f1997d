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


def test_a_trailing_document_separator_is_not_a_document():
    docs, problems = parse_documents("a: 1\n---\n", "f.yaml")
    assert problems == [] and len(docs) == 1


def test_control_character_is_located():
    _, (d,) = parse_documents("a: 1\nb: x\x07y\n", "f.yaml")
    assert (d.line, d.column) == (2, 5) and "U+0007" in d.message


def test_custom_tags_are_refused():
    _, (d,) = parse_documents("copies: !foo {min: 1}\n", "f.yaml")
    assert "YAML tag !foo is not supported" in d.message and d.path == "copies"


def test_alias_expansion_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    _, (d,) = parse_documents("\n".join(lines) + "\n", "f.yaml")
    assert "expands to more than" in d.message


def test_scalars_keep_their_text():
    docs, _ = parse_documents("account: 011112222333\nname: 'x'\n", "f.yaml")
    assert docs[0].source.raw[("account",)] == ("011112222333", False)
    assert docs[0].source.raw[("name",)] == ("x", True)
