"""History records are untrusted input: every reader survives damaged ones, says which and
why, and never uses them; a record the store refuses after a deploy is kept, not lost."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmdeploy.deploy.engine import Engine
from llmdeploy.deploy.history import DamagedRecord, LocalHistory, Pending, Record, _decode
from llmdeploy.deploy.report import PlainReporter
from llmdeploy.errors import LlmdeployError

TEMPLATE = json.dumps({"Resources": {}})


def _record(version: int = 1, **changes) -> Record:
    fields = dict(
        environment="dev",
        stack="s",
        kind="deploy",
        outcome="succeeded",
        who="me",
        template=TEMPLATE,
        spec={"metadata": {"version": version}},
        spec_text="",
        model="m",
        version=version,
    )
    return Record.new(**(fields | changes))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
FIELDS = list(asdict(_record()).keys())


@st.composite
def damaged_bytes(draw) -> bytes:
    doc = asdict(_record())
    how = draw(st.sampled_from(["field", "drop", "bytes", "truncate", "shape"]))
    if how == "field":
        doc[draw(st.sampled_from(FIELDS))] = draw(json_values)
    elif how == "drop":
        doc.pop(draw(st.sampled_from(FIELDS)))
    elif how == "shape":
        return json.dumps(draw(json_values)).encode()
    data = json.dumps(doc).encode()
    if how == "bytes":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + 1 :]
    elif how == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


class _Cfn:
    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackName": StackName, "StackStatus": "UPDATE_COMPLETE"}]}

    def get_template(self, StackName, TemplateStage):
        return {"TemplateBody": json.loads(TEMPLATE)}


class _Aws:
    def client(self, name):
        return _Cfn()


def _engine(history, pending=None) -> Engine:
    return Engine(
        _Aws(), history, "dev", "me", PlainReporter(open("/dev/null", "w")), pending=pending
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=damaged_bytes())
def test_every_reader_survives_a_damaged_record(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("h")
    store = LocalHistory(root)
    store.append(_record(1))
    (root / "dev" / "s" / "9999-damaged.json").write_bytes(data)
    scan = store.scan("dev", "s")
    # Either the mutation left a valid record (some do), or it is reported, never both.
    assert len(scan.records) + len(scan.damaged) == 2
    for problem in scan.damaged:
        assert "9999-damaged.json" in problem and "is damaged" in problem
    assert store.list("dev") == scan.records
    engine = _engine(store)
    engine.last_deployed("s")  # what diff reads
    try:
        engine.rollback_target("s", "m", None)  # what rollback reads
    except LlmdeployError as exc:
        if scan.damaged:
            assert "9999-damaged.json" in str(exc)
    # Pending records are decoded the same way: written, or reported, never a crash.
    written, problems = Pending(root).flush(LocalHistory(tmp_path_factory.mktemp("o")), "dev")
    assert (written, len(problems)) == (len(scan.records), len(scan.damaged))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "a JSON list, not an object"),
        (b'{"environment": "dev"', "not JSON"),
        (json.dumps(asdict(_record()) | {"version": "7"}).encode(), "field 'version' is \"7\""),
        (json.dumps(asdict(_record()) | {"version": True}).encode(), "field 'version' is true"),
        (json.dumps(asdict(_record()) | {"kind": "destroy"}).encode(), "field 'kind'"),
        (json.dumps(asdict(_record()) | {"spec": []}).encode(), "field 'spec' is [] (list)"),
        (json.dumps(asdict(_record()) | {"stack": "other"}).encode(), "lies in dev/s"),
        (
            json.dumps(asdict(_record()) | {"template": '{"Resources": {"X": {}}}'}).encode(),
            "does not match its digest",
        ),
    ],
)
def test_each_kind_of_damage_is_named(data, message):
    with pytest.raises(DamagedRecord, match="history record where is damaged") as info:
        _decode(data, "where", "dev", "s")
    assert message in str(info.value)


def test_a_folder_named_like_a_record_is_reported_not_a_crash(tmp_path):
    store = LocalHistory(tmp_path)
    store.append(_record(1))
    (tmp_path / "dev" / "s" / "folder.json").mkdir()
    scan = store.scan("dev")
    assert len(scan.records) == 1
    assert "folder.json cannot be read (not a regular file)" in scan.damaged[0]


def test_a_pipe_named_like_a_record_is_reported_not_read(tmp_path):
    import os

    store = LocalHistory(tmp_path)
    store.append(_record(1))
    os.mkfifo(tmp_path / "dev" / "s" / "pipe.json")  # reading it would block for ever
    scan = store.scan("dev", "s")
    assert len(scan.records) == 1 and "pipe.json cannot be read" in scan.damaged[0]


def test_deeply_nested_json_is_damaged_not_a_crash():
    with pytest.raises(DamagedRecord, match="nested too deeply"):
        _decode(b"[" * 200_000, "where", "dev", "s")


def test_records_written_before_digests_still_read(tmp_path):
    store = LocalHistory(tmp_path)
    old = asdict(_record(1)) | {"digest": None}
    del old["parameters"]
    path = tmp_path / "dev" / "s" / "2020-old.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    (record,) = store.list("dev", "s")
    assert record.version == 1 and record.digest is None


class _Refusing(LocalHistory):
    def append(self, record):
        raise LlmdeployError("cannot write history to s3://gone/dev: NoSuchBucket: gone")


def test_a_record_the_store_refuses_is_kept_pending_and_written_next_run(tmp_path):
    events = []

    class Reporter(PlainReporter):
        def event(self, stack, text):
            events.append(text)

    pending = Pending(tmp_path / "pending")
    engine = Engine(_Aws(), _Refusing(tmp_path / "h"), "dev", "me", Reporter(), pending=pending)
    from llmdeploy.deploy.targets import Target

    target = Target("s", "model", "m", TEMPLATE, {}, "", model="m", version=3)
    engine._record(target, "deploy", "failed", "Model: the image does not exist", None, "cs")
    # The store's problem is reported, with where the record went; nothing raised.
    assert "NoSuchBucket" in events[0] and "written on the next run" in events[0]
    # The next run writes it to a store that works, and removes it from pending.
    store = LocalHistory(tmp_path / "h2")
    assert pending.flush(store, "dev") == (1, [])
    (record,) = store.list("dev", "s")
    assert (record.outcome, record.reason) == ("failed", "Model: the image does not exist")
    assert pending.flush(store, "dev") == (0, [])


def test_a_pending_record_someone_else_wrote_is_not_flushed(tmp_path):
    pending = Pending(tmp_path / "pending")
    pending.keep(_record(1, who="arn:aws:sts::1:assumed-role/ci/someone-else"))
    mine = _record(2, who="arn:aws:sts::1:assumed-role/ci/me")
    pending.keep(mine)
    (tmp_path / "pending" / "dev" / "s" / "fifo.json").mkdir()  # not a regular file
    store = LocalHistory(tmp_path / "h")
    written, problems = pending.flush(store, "dev", "arn:aws:sts::1:assumed-role/ci/me")
    assert written == 1 and [r.version for r in store.list("dev")] == [2]
    assert any(
        "written by arn:aws:sts::1:assumed-role/ci/someone-else, not by you" in p for p in problems
    )
    assert any("is not a regular file" in p for p in problems)


def test_history_output_cannot_drive_the_terminal():
    from llmdeploy.errors import printable

    assert printable("ok\x1b]0;title\x07\r\nnext") == "ok\\x1b]0;title\\x07\\r\\nnext"
    assert printable("é 中 text") == "é 中 text"


def test_diff_says_when_it_compares_with_an_older_record_than_a_damaged_one(tmp_path):
    from llmdeploy.deploy.targets import Target

    store = LocalHistory(tmp_path)
    store.append(_record(1))
    (tmp_path / "dev" / "s" / "9999-damaged.json").write_bytes(b"{broken")
    engine = _engine(store)
    target = Target("s", "model", "m", TEMPLATE, {"metadata": {"version": 2}}, "", model="m")
    (d,) = engine.diff([target])
    assert any("9999-damaged.json" in w and "last readable record" in w for w in d.warnings)
