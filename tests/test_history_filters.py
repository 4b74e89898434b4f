"""Issue 14, "At the terminal": `history [JOB...]` with its filters, across jobs in one
read, each job's dates in its own zone."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from conftest import record
from test_query_plans import full_scans, statements_of

from cronplus.model import Trigger

T = datetime(2026, 11, 16, 22, 30, tzinfo=UTC)  # the 17th in Tokyo, the 16th in UTC


def jobs_file(project) -> None:
    project.write("""
        [jobs.tokyo]
        schedule = "30 * * * *"
        timezone = "Asia/Tokyo"
        command = "true"

        [jobs.utc]
        schedule = "30 * * * *"
        timezone = "UTC"
        command = "true"

        [jobs.quiet]
        schedule = "@daily"
        command = "true"
    """)


def fill(project) -> None:
    jobs_file(project)
    store = project.store()
    for k in range(4):
        record(store, "tokyo", T + timedelta(hours=k), "succeeded" if k % 2 else "failed")
        record(
            store, "utc", T + timedelta(hours=k, minutes=10), "succeeded", trigger=Trigger.MANUAL
        )
    record(store, "utc", T - timedelta(days=3), "timed_out", exits=(None,), signal="SIGKILL")
    store.close()


def rows(cli, *args: str) -> list[tuple[str, str]]:
    result = cli("history", *args, "--json")
    assert result.exit_code == 0, result.output
    return [(r["job"], r["scheduled_for"]) for r in json.loads(result.stdout)]


def test_history_without_a_job_lists_every_job_newest_logical_time_first(project, cli):
    fill(project)
    got = json.loads(cli("history", "--json").stdout)
    assert len(got) == 9
    times = [datetime.fromisoformat(r["scheduled_for"]) for r in got]
    assert times == sorted(times, reverse=True)
    assert [r["job"] for r in got[:2]] == ["utc", "tokyo"]
    assert got[0]["scheduled_for"] == "2026-11-17T01:40:00+00:00"  # each in its job's zone
    assert got[1]["scheduled_for"] == "2026-11-17T10:30:00+09:00"
    assert set(got[0]) == set(json.loads(cli("history", "utc", "--json").stdout)[0])
    table = cli("history").stdout
    assert table.splitlines()[0].split()[:3] == ["JOB", "RUN", "LOGICAL"]
    assert cli("history", "utc").stdout.splitlines()[0].split()[0] == "RUN"


def test_history_filters_status_and_trigger_repeated_or_with_commas(project, cli):
    fill(project)
    assert {j for j, _ in rows(cli, "--trigger", "manual")} == {"utc"}
    failed = rows(cli, "--status", "failed,timed_out")
    assert len(failed) == 3 and {j for j, _ in failed} == {"tokyo", "utc"}
    assert rows(cli, "--status", "failed", "--status", "timed_out") == failed
    assert rows(cli, "--status", "failed", "--limit", "1") == [failed[0]]  # limit after the filter
    assert rows(cli, "quiet") == []


def test_history_refuses_a_bad_word_naming_the_valid_ones(project, cli):
    fill(project)
    bad = cli("history", "--status", "failed,faild")
    assert bad.exit_code == 2
    assert '--status "faild" is not one of: queued, running, succeeded, failed' in bad.stderr
    bad = cli("history", "--trigger", "cron")
    assert bad.exit_code == 2 and "schedule, manual, backfill, catchup" in bad.stderr


def test_a_date_is_that_day_in_each_jobs_zone_and_until_is_exclusive(project, cli):
    fill(project)
    # 2026-11-17 in Tokyo starts at 15:00 UTC on the 16th: all four of tokyo's runs;
    # in UTC it starts at midnight: utc's runs from 00:40 on.
    day = rows(cli, "--since", "2026-11-17", "--until", "2026-11-18")
    assert [j for j, _ in day].count("tokyo") == 4
    assert [t for j, t in day if j == "utc"] == [
        "2026-11-17T01:40:00+00:00",
        "2026-11-17T00:40:00+00:00",
    ]
    before = rows(cli, "utc", "--until", "2026-11-16T23:40:00+00:00")
    assert [t for _, t in before] == ["2026-11-16T22:40:00+00:00", "2026-11-13T22:30:00+00:00"]
    assert rows(cli, "utc", "--since", "2026-11-16T23:40", "--until", "2026-11-17T00:10") == [
        ("utc", "2026-11-16T23:40:00+00:00")
    ]


def test_since_takes_a_duration_ago(project, cli):
    jobs_file(project)
    now = datetime.now(UTC).replace(microsecond=0)
    store = project.store()
    for hours in (1, 20, 30, 24 * 6, 24 * 8):
        record(store, "utc", now - timedelta(hours=hours), "succeeded")
    store.close()
    assert len(rows(cli, "--since", "24h")) == 2
    assert len(rows(cli, "utc", "--since", "7d")) == 4
    assert len(rows(cli, "--until", "1d")) == 3
    bad = cli("history", "--since", "yesterday")
    assert bad.exit_code == 2
    assert "is not a date, an ISO date-time or a duration ago" in bad.stderr


def test_history_of_an_unknown_job_among_several_exits_2_with_did_you_mean(project, cli):
    fill(project)
    result = cli("history", "utc", "tokio")
    assert result.exit_code == 2
    assert result.stderr == 'Error: no job named "tokio" (did you mean "tokyo"?)\n'


def test_history_across_jobs_is_one_indexed_read(project, cli):
    fill(project)
    conn = sqlite3.connect(project.state / "state.db")
    for args in (["history"], ["history", "tokyo", "utc", "--status", "failed", "--since", "7d"]):
        reads = [s for s in statements_of(cli, *args) if " FROM asked JOIN runs" in s]
        assert len(reads) == 1, args
        assert full_scans(conn, reads[0]) == []
