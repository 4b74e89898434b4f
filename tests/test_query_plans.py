"""Issue 12, "A long history": the queries behind `status`, `status --on`, `history`
and `logs` read `runs` and `attempts` through an index, never a full scan of either,
so they stay as quick on a million runs as on two thousand.

The queries are not listed by hand: each command runs on a real state with a trace
callback on every SQLite connection the store opens, and `EXPLAIN QUERY PLAN` is asked
of every statement it issued (with its values bound). A full scan is a plan step
"SCAN runs" or "SCAN attempts" that uses no index; a scan of an index (a partial one
such as `runs_unfinished` is small) passes. The timings are in bench/history.py.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from conftest import traced_statements

from cronplus.model import Attempt, AttemptResult, Claim, RunEnd, RunStatus, Trigger

_ON_RUNS = re.compile(r"\b(runs|attempts)\b")
_FULL_SCAN = re.compile(r"\bSCAN (runs|attempts)\b(?!.*USING (COVERING )?INDEX)")


def full_scans(conn: sqlite3.Connection, sql: str) -> list[str]:
    """The plan steps of `sql` that read all of `runs` or `attempts`."""
    steps = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    return [s for s in steps if _FULL_SCAN.search(s)]


def test_the_check_finds_a_full_scan_and_passes_an_index_search(tmp_path):
    from cronplus.store.sqlite import SqliteDb

    SqliteDb(tmp_path / "state.db").close()
    conn = sqlite3.connect(tmp_path / "state.db")
    assert full_scans(conn, "SELECT id FROM runs WHERE reason = 'x'") == ["SCAN runs"]
    assert full_scans(conn, "SELECT * FROM attempts WHERE log = 'x'") == ["SCAN attempts"]
    assert full_scans(conn, "SELECT id FROM runs WHERE job = 'x' ORDER BY scheduled_for") == []
    unfinished = "SELECT id FROM runs WHERE status IN ('queued', 'running')"  # partial index
    assert full_scans(conn, unfinished) == []


@pytest.fixture
def history_state(project):
    """Three jobs, one `after` another, each with finished runs (one or two attempts,
    a log file), a skipped one, and one run going: every branch the read commands
    take, the upstream check of an overdue `after` job included."""
    project.write("""
        [jobs.extract]
        schedule = "0 * * * *"
        command = "true"

        [jobs.load]
        after = ["extract"]
        command = "true"

        [jobs.say]
        schedule = "*/5 * * * *"
        command = "true"
    """)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store = project.store()
    try:
        for job, hours in (("extract", (5, 4, 3, 2)), ("load", (5,)), ("say", (3, 2, 1))):
            for k in hours:
                finished(store, project, job, hour - timedelta(hours=k), tries=1 + k % 2)
        store.claim_run(
            "say",
            hour - timedelta(minutes=30),
            Trigger.SCHEDULE,
            Claim(owner=None, now=hour, status=RunStatus.SKIPPED, reason="paused"),
        )
        going = store.claim_run("say", hour, Trigger.SCHEDULE, Claim(owner=1, now=hour))
        store.begin_attempt(going.id, Attempt(1, hour, log="/nowhere/1.log"), owner=1)
    finally:
        store.close()
    return hour


def finished(store, project, job: str, t: datetime, tries: int) -> None:
    run = store.claim_run(job, t, Trigger.SCHEDULE, Claim(owner=1, now=t))
    for n in range(1, tries + 1):
        log = project.state / "logs" / job / f"{run.id}-{n}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"attempt {n}\n")
        store.begin_attempt(run.id, Attempt(n, t, log=str(log)), owner=1)
        store.finish_attempt(run.id, n, AttemptResult(RunStatus.SUCCEEDED, t, t, exit_code=0))
    store.finish_run(run.id, RunEnd(RunStatus.SUCCEEDED, None, t + timedelta(seconds=1)))


def statements_of(cli, *args: str) -> list[str]:
    """Every statement the command issued on a store connection, values bound."""
    with traced_statements() as issued:
        result = cli(*args)
    assert result.exit_code in (0, 1), result.output
    return issued


def test_the_read_commands_use_indexes_on_runs_and_attempts(project, cli, history_state):
    store = project.store()
    first_run = store.history("say")[-1].id
    store.close()
    commands = [
        ["status"],
        ["status", "--on", history_state.date().isoformat()],
        ["history", "say", "--limit", "50"],
        ["logs", "say"],
        ["logs", "say", "--run", str(first_run), "--attempt", "1"],
    ]
    conn = sqlite3.connect(project.state / "state.db")
    seen: list[str] = []
    for args in commands:
        reads = [s for s in statements_of(cli, *args) if _ON_RUNS.search(s)]
        assert reads, f"{args}: no query on runs or attempts was seen"
        for sql in reads:
            assert full_scans(conn, sql) == [], f"{' '.join(args)}: {sql}"
        seen += reads
    # Every kind of read was met: attempts, the newest started run, a range of fire
    # times (a date's runs, and the overdue `after` job's upstream runs), every job's
    # latest runs in one query.
    kinds = ("FROM attempts", "EXISTS", "scheduled_for >=", "asked")
    for kind in kinds:
        assert any(kind in s for s in seen), kind
