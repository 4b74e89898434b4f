"""What only the SQLite store has: its file and modes, PRAGMAs, migrations, locks,
read-only opens. The contract every backend keeps is in test_store_contract.py."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime

import pytest

from cronplus.errors import StateError
from cronplus.model import Claim, RunEnd, Trigger
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


def version_1_state(paths) -> sqlite3.Connection:
    """A state as the first cronplus wrote it (schema 1); the caller commits and closes."""
    from cronplus.store.schema import MIGRATIONS

    paths.create()
    conn = sqlite3.connect(paths.db)
    for statement in MIGRATIONS[0]:
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


def test_a_version_4_state_keeps_its_runs_and_drops_the_unused_index(paths):
    """Schema 5 (issue 12) drops runs_job_status_time: no query read it, and it cost
    about 60 bytes a run."""
    from cronplus.store.schema import MIGRATIONS

    paths.create()
    conn = sqlite3.connect(paths.db)
    for statement in (s for migration in MIGRATIONS[:4] for s in migration):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 4")
    conn.execute(
        "INSERT INTO runs (job, scheduled_for, trigger, status, created_at)"
        " VALUES ('load', '2026-11-02T03:00:00.000000Z', 'schedule', 'succeeded',"
        " '2026-11-02T03:00:00.000000Z')"
    )
    conn.commit()
    conn.close()
    store = open_store(paths)
    assert [r.job for r in store.history("load")] == ["load"]
    store.close()
    conn = sqlite3.connect(paths.db)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    assert "runs_job_status_time" not in indexes and "runs_unfinished" in indexes
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_version_6_state_gets_its_run_totals_and_deleting_runs_keeps_them(paths):
    """Schema 7 counts the runs a state already has, then each end as it is written;
    a deleted run (retention, later) leaves the totals as they were."""
    from cronplus.model import RunStatus
    from cronplus.store.schema import MIGRATIONS

    paths.create()
    conn = sqlite3.connect(paths.db)
    for statement in (s for migration in MIGRATIONS[:6] for s in migration):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 6")
    conn.executemany(
        "INSERT INTO runs (job, scheduled_for, trigger, status, created_at, started_at,"
        " finished_at) VALUES ('load', ?, 'schedule', ?, ?, ?, ?)",
        [
            (f"2026-11-02T0{h}:00:00.000000Z", status, "2026-11-02T00:00:00.000000Z", start, end)
            for h, status, start, end in (
                (1, "succeeded", "2026-11-02T01:00:00.250000Z", "2026-11-02T01:00:59.750000Z"),
                (2, "failed", "2026-11-02T01:59:59.900000Z", "2026-11-02T02:00:00.100000Z"),
                (3, "skipped", None, "2026-11-02T03:00:00.000000Z"),
                (4, "running", "2026-11-02T04:00:00.000000Z", None),
            )
        ],
    )
    conn.commit()
    conn.close()
    store = open_store(paths)
    totals = store.run_totals(["load"])["load"]
    assert {s: t[:3] for s, t in totals.items()} == {
        RunStatus.SUCCEEDED: (1, 1, 59.5),
        RunStatus.FAILED: (1, 1, 0.2),
        RunStatus.SKIPPED: (1, 0, 0.0),
    }
    assert store.recent_durations(["load"]) == {"load": [59.5, 0.2]}  # oldest end first
    running = store.find_run("load", datetime(2026, 11, 2, 4, tzinfo=UTC))
    store.finish_run(running.id, RunEnd(RunStatus.SUCCEEDED, None, T.replace(hour=4, second=3)))
    store._db._conn.execute("DELETE FROM runs")
    assert store.run_totals(["load"])["load"][RunStatus.SUCCEEDED][:3] == (2, 2, 62.5)
    assert store.recent_durations(["load"]) == {"load": [59.5, 0.2, 3.0]}
    store.close()


def test_a_locked_database_is_a_state_error_not_a_traceback(paths, store):
    blocker = sqlite3.connect(paths.db, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")
    impatient = open_store(paths)
    impatient._db._conn.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(StateError, match="cannot use the state database .*locked"):
        impatient.claim_run("load", T, Trigger.SCHEDULE, Claim(owner=None, now=T))
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
    t = datetime(2024, 1, 1, tzinfo=UTC)
    first.claim_run("x", t, Trigger.MANUAL, Claim(owner=None, now=t))
    second = open_store(paths)
    writer = (
        "import sys; from datetime import datetime, UTC; from pathlib import Path;"
        "from cronplus.paths import StatePaths; from cronplus.store import open_store;"
        "from cronplus.model import Claim, Trigger;"
        "s = open_store(StatePaths(Path(sys.argv[1]))); t = datetime(2024, 1, 2, tzinfo=UTC);"
        "s.claim_run('x', t, Trigger.MANUAL, Claim(owner=None, now=t)); s.close()"
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
