"""One deploy, rollback or retire per environment at a time: the lock in the history store."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from llmdeploy.deploy.history import LocalHistory, S3History
from llmdeploy.deploy.lock import Locked, LockInfo, hold


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalHistory(tmp_path / "h")
    request.getfixturevalue("aws")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="history")
    return S3History(s3, "s3://history/team/")


def test_a_second_run_is_stopped_with_who_holds_the_lock_and_since_when(store):
    with hold(store, "dev", "arn:aws:iam::1:user/alice", "deploy") as mine:
        with pytest.raises(Locked) as info, hold(store, "dev", "arn:aws:iam::1:user/bob", "x"):
            pytest.fail("two runs held the lock at once")
        message = str(info.value)
        assert "environment 'dev' is locked: deploy by arn:aws:iam::1:user/alice" in message
        assert f"since {mine.since}" in message
        assert "llmdeploy unlock --env dev" in message and "--lock-timeout" in message
        # Another environment is not affected.
        with hold(store, "prod", "bob", "deploy"):
            pass
    # Released at the end of the block: the next run gets it.
    with hold(store, "dev", "bob", "deploy"):
        assert store.read_lock("dev").who == "bob"
    assert store.read_lock("dev") is None


def test_a_second_run_waits_up_to_its_timeout(store):
    release = threading.Event()

    def first():
        with hold(store, "dev", "alice", "deploy"):
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    while store.read_lock("dev") is None:
        time.sleep(0.01)
    start = time.monotonic()
    with (
        pytest.raises(Locked, match=r"after waiting 0\.3 s"),
        hold(store, "dev", "bob", "deploy", timeout=0.3, poll=0.05),
    ):
        pass
    assert time.monotonic() - start >= 0.3
    threading.Timer(0.2, release.set).start()
    with hold(store, "dev", "bob", "deploy", timeout=5, poll=0.05):
        assert store.read_lock("dev").who == "bob"
    t.join()


def test_the_lock_is_released_when_the_run_fails(store):
    with pytest.raises(RuntimeError), hold(store, "dev", "alice", "deploy"):
        raise RuntimeError("boom")
    assert store.read_lock("dev") is None


def test_unlock_releases_only_its_own_lock_and_break_removes_any(store):
    with hold(store, "dev", "alice", "deploy") as mine:
        store.break_lock("dev")  # someone broke it ...
        with hold(store, "dev", "bob", "deploy"):  # ... and another run took it
            store.unlock("dev", mine.id)  # alice's release must not free bob's lock
            assert store.read_lock("dev").who == "bob"
    assert store.read_lock("dev") is None


def test_exactly_one_of_many_racing_runs_takes_the_lock(store):
    winners = []
    barrier = threading.Barrier(6)

    def race(i):
        barrier.wait()
        if store.try_lock(LockInfo.new("dev", "deploy", f"run{i}")) is None:
            winners.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_a_damaged_lock_still_locks_and_says_so(tmp_path):
    store = LocalHistory(tmp_path)
    (tmp_path / "dev.lock").write_text("{not json")
    with pytest.raises(Locked, match="locked: unknown by unknown"), hold(store, "dev", "b", "x"):
        pass


def test_a_lock_left_by_a_dead_process_on_this_host_is_called_stale(tmp_path):
    store = LocalHistory(tmp_path)
    info = LockInfo.new("dev", "deploy", "alice")
    dead = json.loads(json.dumps(info.__dict__)) | {"pid": 2**22 + 12345}
    (tmp_path / "dev.lock").write_text(json.dumps(dead))
    with (
        pytest.raises(Locked, match="that process is no longer running on this host"),
        hold(store, "dev", "bob", "deploy"),
    ):
        pass
    # It is never broken implicitly: only on request.
    assert store.read_lock("dev").who == "alice"


def test_a_dangling_link_in_the_lock_place_is_a_lock_that_unlock_can_break(tmp_path):
    store = LocalHistory(tmp_path)
    (tmp_path / "dev.lock").symlink_to(tmp_path / "nowhere")
    assert store.read_lock("dev") is not None
    with pytest.raises(Locked), hold(store, "dev", "bob", "deploy"):
        pass
    store.break_lock("dev")
    with hold(store, "dev", "bob", "deploy"):
        pass


def test_a_lock_cannot_drive_the_terminal(tmp_path):
    store = LocalHistory(tmp_path)
    info = LockInfo.new("dev", "deploy", "alice\x1b[2J\rmallory")
    assert store.try_lock(info) is None
    held = store.read_lock("dev")
    assert "\x1b" not in held.describe() and "\r" not in held.describe()
    assert "alice\\x1b[2J\\rmallory" in held.describe()
