"""The store contract, against a real SQLite file."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest

from cronplus.errors import StateError
from cronplus.model import AttemptResult, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.store import open_store
from cronplus.store.schema import SCHEMA_VERSION

T = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def paths(tmp_path):
    return StatePaths(tmp_path / "state")


@pytest.fixture
def store(paths):
    s = open_store(paths)
    yield s
    s.close()


def test_claim_is_at_most_once(store):
    first = store.claim_run("load", T, Trigger.SCHEDULE)
    assert first is not None and first.status is RunStatus.QUEUED
    assert store.claim_run("load", T, Trigger.MANUAL) is None
    assert store.claim_run("load", T + timedelta(seconds=1), Trigger.SCHEDULE) is not None


def test_concurrent_claims_from_two_connections_yield_one_run(paths, store):
    other = open_store(paths)
    winners = []
    barrier = threading.Barrier(8)

    def claim(s):
        barrier.wait()
        winners.append(s.claim_run("load", T, Trigger.SCHEDULE))

    threads = [threading.Thread(target=claim, args=(s,)) for s in [store, other] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(w is not None for w in winners) == 1
    other.close()


def test_attempt_lifecycle_is_recorded(store):
    run = store.claim_run("load", T, Trigger.SCHEDULE)
    started = T + timedelta(seconds=1)
    store.begin_attempt(run.id, 1, started, "/x/1.log")
    store.set_attempt_pid(run.id, 1, 4242)
    assert store.get_run(run.id).status is RunStatus.RUNNING
    result = AttemptResult(
        RunStatus.FAILED,
        started,
        started + timedelta(seconds=2),
        exit_code=None,
        signal="SIGKILL",
        reason="killed by SIGKILL",
    )
    store.finish_attempt(run.id, 1, result)
    store.finish_run(run.id, RunStatus.FAILED, "killed by SIGKILL", started + timedelta(seconds=2))
    got = store.get_run(run.id)
    assert got.status is RunStatus.FAILED
    assert got.reason == "killed by SIGKILL"
    assert got.duration_s == 2.0
    (a,) = got.attempts
    assert (a.number, a.signal, a.exit_code, a.pid, a.log) == (1, "SIGKILL", None, 4242, "/x/1.log")


def test_final_status_claim_records_a_finished_run(store):
    run = store.claim_run(
        "load",
        T,
        Trigger.SCHEDULE,
        status=RunStatus.SKIPPED,
        reason="previous run 3 of the job was still running",
    )
    got = store.get_run(run.id)
    assert got.status is RunStatus.SKIPPED and got.finished_at is not None
    assert store.unfinished_runs() == []


def test_latest_finished_run_ignores_skipped_and_running(store):
    a = store.claim_run("load", T, Trigger.SCHEDULE)
    store.finish_run(a.id, RunStatus.FAILED, "exit code 1", T)
    store.claim_run(
        "load", T + timedelta(minutes=1), Trigger.SCHEDULE, status=RunStatus.SKIPPED, reason="x"
    )
    store.claim_run("load", T + timedelta(minutes=2), Trigger.SCHEDULE)
    assert store.latest_run("load").scheduled_for == T + timedelta(minutes=2)
    assert store.latest_run("load", finished_only=True).id == a.id


def test_runs_between_and_history_order(store):
    for i in range(5):
        store.claim_run("load", T + timedelta(hours=i), Trigger.SCHEDULE)
    store.claim_run("other", T, Trigger.SCHEDULE)
    between = store.runs_between("load", T + timedelta(hours=1), T + timedelta(hours=3))
    assert [r.scheduled_for.hour for r in between] == [4, 5]
    assert [r.scheduled_for.hour for r in store.history("load", 2)] == [7, 6]


def test_succeeded_jobs_for_a_logical_time(store):
    for job, status in [("a", RunStatus.SUCCEEDED), ("b", RunStatus.FAILED)]:
        r = store.claim_run(job, T, Trigger.SCHEDULE)
        store.finish_run(r.id, status, None, T)
    assert store.succeeded_jobs(["a", "b", "c"], T) == {"a"}


def test_state_is_owner_only(paths, store):
    assert stat.S_IMODE(paths.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.db.stat().st_mode) == 0o600


def test_wal_mode_and_schema_version(paths, store):
    conn = sqlite3.connect(paths.db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_newer_schema_is_refused(paths, store):
    store.close()
    conn = sqlite3.connect(paths.db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError, match="newer cronplus .*upgrade cronplus"):
        open_store(paths)


def test_missing_state_reads_as_empty_without_creating_it(tmp_path):
    paths = StatePaths(tmp_path / "nowhere")
    s = open_store(paths, create=False)
    assert s.latest_run("load") is None and s.history("load") == []
    assert not paths.root.exists()


def _failed_run(store, job="load", t=T):
    run = store.claim_run(job, t, Trigger.SCHEDULE)
    store.begin_attempt(run.id, 1, t, "/x/1.log")
    store.finish_run(run.id, RunStatus.FAILED, "exit code 1", t + timedelta(seconds=1))
    return run


def test_reopen_takes_a_failed_run_back_once_keeping_its_attempts(paths, store):
    run = _failed_run(store)
    other = open_store(paths)
    bad = [RunStatus.FAILED, RunStatus.INTERRUPTED]
    taken = [s.reopen_run(run.id, bad) for s in (store, other)]
    other.close()
    assert taken[1] is None  # the first one took it
    got = taken[0]
    assert (got.status, got.reason, got.finished_at) == (RunStatus.QUEUED, None, None)
    assert got.started_at is None  # set again by its next attempt
    assert [a.number for a in got.attempts] == [1]
    assert store.owner_of(run.id) is not None


def test_reopen_refuses_a_status_not_allowed(store):
    run = _failed_run(store)
    assert store.reopen_run(run.id, [RunStatus.SKIPPED]) is None
    assert store.get_run(run.id).status is RunStatus.FAILED


def test_reopen_to_a_final_status_settles_it(store):
    run = _failed_run(store)
    got = store.reopen_run(
        run.id, [RunStatus.FAILED], status=RunStatus.UPSTREAM_FAILED, reason="x", now=T
    )
    assert (got.status, got.reason, got.finished_at) == (RunStatus.UPSTREAM_FAILED, "x", T)
    assert store.owner_of(run.id) is None


def test_an_attempt_records_who_executed_it(store):
    run = _failed_run(store)
    store.reopen_run(run.id, [RunStatus.FAILED])
    store.begin_attempt(run.id, 2, T, "/x/2.log", Trigger.BACKFILL)
    got = store.get_run(run.id)
    assert [a.trigger for a in got.attempts] == [Trigger.SCHEDULE, Trigger.BACKFILL]
    assert got.trigger is Trigger.SCHEDULE


def version_1_state(paths) -> sqlite3.Connection:
    """A state as the first cronplus wrote it (schema 1); the caller commits and closes."""
    from cronplus.store.schema import MIGRATIONS

    paths.create()
    conn = sqlite3.connect(paths.db)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    return conn


def test_a_version_1_state_is_migrated_in_place(paths):
    conn = version_1_state(paths)
    conn.execute(
        "INSERT INTO runs (job, scheduled_for, trigger, status, created_at)"
        " VALUES ('load', '2026-11-02T03:00:00.000000Z', 'manual', 'succeeded',"
        " '2026-11-02T03:00:00.000000Z')"
    )
    conn.execute(
        "INSERT INTO attempts (run_id, number, started_at) VALUES (1, 1,"
        " '2026-11-02T03:00:00.000000Z')"
    )
    conn.commit()
    conn.close()
    store = open_store(paths)
    (run,) = store.history("load")
    assert run.attempts[0].trigger is Trigger.MANUAL  # only the run's own could make it
    assert sqlite3.connect(paths.db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_settle_run_writes_only_over_the_run_as_the_caller_saw_it(store):
    run = store.claim_run("load", T, Trigger.SCHEDULE)
    store.begin_attempt(run.id, 1, T, "/x/1.log")
    owner = store.owner_of(run.id)
    stale = {"owner": owner, "attempts": 0, "status": RunStatus.INTERRUPTED}
    assert not store.settle_run(run.id, **stale, reason="gone", finished_at=T)
    seen = {"owner": owner, "attempts": 1, "status": RunStatus.INTERRUPTED}
    assert store.settle_run(run.id, **seen, reason="gone", finished_at=T)
    assert store.get_run(run.id).status is RunStatus.INTERRUPTED
    assert not store.settle_run(run.id, **seen, reason="again", finished_at=T)
    assert store.get_run(run.id).reason == "gone"


def test_a_locked_database_is_a_state_error_not_a_traceback(paths, store):
    blocker = sqlite3.connect(paths.db, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")
    impatient = open_store(paths)
    impatient._conn.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(StateError, match="cannot use the state database .*locked"):
        impatient.claim_run("load", T, Trigger.SCHEDULE)
    blocker.rollback()
    blocker.close()
    impatient.close()


def _open_at_once(path, barrier, results):
    from cronplus.store.sqlite import SqliteStore

    barrier.wait()
    try:
        SqliteStore(path).recent_alerts(1)
        results.put("ok")
    except Exception as e:  # reported to the test
        results.put(repr(e))


def test_two_processes_creating_the_state_at_once_both_succeed(tmp_path):
    # Switching a new file to WAL answered "database is locked" at once to the
    # second process (it failed nearly every time before the wait was added).
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    outcomes = []
    for i in range(20):
        barrier, results = ctx.Barrier(2), ctx.Queue()
        path = str(tmp_path / f"{i}.db")
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, results)) for _ in "ab"]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        outcomes += [results.get(timeout=5) for _ in procs]
    assert outcomes == ["ok"] * 40


def test_opening_the_state_twice_in_one_process_keeps_its_sqlite_locks(tmp_path):
    # Closing any descriptor of a file drops every POSIX lock the process holds on it.
    # If opening a second store touched state.db that way, the first store's lock would
    # be gone: another process closing the state would think itself the last user and
    # remove the write-ahead log under our open connections.
    import subprocess
    import sys

    paths = StatePaths(tmp_path / "state")
    first = open_store(paths)
    first.claim_run("x", datetime(2024, 1, 1, tzinfo=UTC), Trigger.MANUAL)
    second = open_store(paths)
    writer = (
        "import sys; from datetime import datetime, UTC; from pathlib import Path;"
        "from cronplus.paths import StatePaths; from cronplus.store import open_store;"
        "from cronplus.model import Trigger;"
        "s = open_store(StatePaths(Path(sys.argv[1])));"
        "s.claim_run('x', datetime(2024, 1, 2, tzinfo=UTC), Trigger.MANUAL); s.close()"
    )
    subprocess.run([sys.executable, "-c", writer, str(paths.root)], check=True)
    assert (paths.root / "state.db-wal").exists()  # still ours: not folded away
    assert len(first.history("x")) == len(second.history("x")) == 2
    first.close()
    second.close()


def test_a_read_leaves_an_older_state_a_live_daemon_holds_as_it_is(paths):
    # A newer cronplus's `status` must not upgrade the state under an older daemon,
    # which could not open it again; with no daemon it upgrades, as any command would.
    import fcntl

    from cronplus.errors import StateError
    from cronplus.paths import owner_only_file

    conn = version_1_state(paths)
    conn.commit()
    conn.close()
    owner_only_file(paths.lock)
    with open(paths.lock, "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # what a running daemon holds
        with pytest.raises(StateError, match=r"written by an older cronplus \(schema 1\)"):
            open_store(paths, create=False)
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert sqlite3.connect(paths.db).execute("PRAGMA user_version").fetchone()[0] == 1
    store = open_store(paths, create=False)
    assert store.history("load") == []
    store.close()
    assert sqlite3.connect(paths.db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_empty_state_file_reads_as_a_fresh_state(paths):
    paths.create()
    paths.db.touch()
    store = open_store(paths, create=False)
    assert store.history("load") == []
    assert paths.db.stat().st_size == 0  # read, not written
