"""Retention (issue 14): `keep_runs` / `keep_days`, `cronplus prune`, the daemon's
pruner, `status --on`'s pruned fire times, and metrics that never go down."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from conftest import record, wait_until

from cronplus.model import Claim, RunEnd, RunStatus, Trigger
from cronplus.paths import StatePaths

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HOURLY = """
[defaults]
keep_days = 0
timezone = "UTC"

[jobs.hourly]
schedule = "0 * * * *"
command = "true"
keep_runs = 3

[jobs.other]
command = "true"
"""


def _hours(store, job: str, n: int, status: str = "succeeded", **kw) -> list[int]:
    return [record(store, job, T0 + timedelta(hours=h), status, **kw).id for h in range(n)]


def _ids(store, job: str) -> list[int]:
    return sorted(r.id for r in store.history(job))


def _log(project, job: str, run_id: int, text: str = "out\n") -> None:
    log = StatePaths(project.state).attempt_log(job, run_id, 1)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)
    log.with_name(log.name + ".status").write_text("0\n")


def test_keys_default_and_are_checked_with_their_line(project, cli):
    project.write(HOURLY)
    jobs = project.config().jobs
    assert (jobs["hourly"].keep_runs, jobs["hourly"].keep_days) == (3, 0)
    assert (jobs["other"].keep_runs, jobs["other"].keep_days) == (1000, 0)
    project.write('[jobs.a]\ncommand = "true"\nkeep_runs = -1\nkeep_days = 1.5\n')
    result = cli("validate")
    assert result.exit_code == 2
    assert 'jobs.toml:3: job "a": keep_runs must be a whole number, 0 or more (got -1)' in (
        result.stderr
    )
    assert 'jobs.toml:4: job "a": keep_days must be a whole number, 0 or more' in result.stderr


def test_prune_keeps_the_newest_and_deletes_older_runs_and_their_logs(project, cli):
    project.write(HOURLY)
    store = project.store()
    ids = _hours(store, "hourly", 6)
    for i in ids:
        _log(project, "hourly", i, "x" * 10)
    dry = cli("prune", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    would = {"job": "hourly", "runs_deleted": 3, "logs_deleted": 6, "bytes_freed": 3 * (10 + 2)}
    assert json.loads(dry.stdout) == [would, {**would, "job": "other", **_ZERO}]
    assert _ids(store, "hourly") == ids  # a dry run changes nothing
    result = cli("prune", "--json")
    assert json.loads(result.stdout) == json.loads(dry.stdout)
    assert _ids(store, "hourly") == ids[3:]
    logs = StatePaths(project.state).logs / "hourly"
    assert sorted(os.listdir(logs)) == sorted(
        f"{i}-1.log{s}" for i in ids[3:] for s in ("", ".status")
    )
    again = cli("prune")
    assert again.exit_code == 0
    assert again.stdout.split("\n")[1].split() == ["hourly", "0", "0", "0"]


_ZERO = {"runs_deleted": 0, "logs_deleted": 0, "bytes_freed": 0}


def test_the_latest_success_schedule_run_and_unfinished_runs_always_stay(project, cli):
    project.write(HOURLY.replace("keep_runs = 3", "keep_runs = 1"))
    store = project.store()
    hour = [T0 + timedelta(hours=h) for h in range(8)]
    kept_success = record(store, "hourly", hour[0], "succeeded").id
    kept_scheduled = record(store, "hourly", hour[1], "failed", exits=(1,)).id
    going = record(store, "hourly", hour[2], "running", trigger=Trigger.MANUAL).id
    resumed = record(store, "hourly", hour[3], "failed", trigger=Trigger.MANUAL, exits=(1,)).id
    store.finish_run(  # a daemon's stop cut it short: the next one resumes it
        resumed, RunEnd(RunStatus.INTERRUPTED, "stopped", hour[3], resume_spent=0)
    )
    unreleased = record(store, "hourly", hour[4], "failed", trigger=Trigger.MANUAL).id
    store.finish_run(unreleased, RunEnd(RunStatus.FAILED, "x", hour[4]), release=True)
    gone = record(store, "hourly", hour[5], "skipped", trigger=Trigger.MANUAL).id
    latest = record(store, "hourly", hour[6], "failed", trigger=Trigger.MANUAL, exits=(1,)).id
    result = cli("prune", "--json")
    assert json.loads(result.stdout)[0]["runs_deleted"] == 1
    assert _ids(store, "hourly") == sorted(
        [kept_success, kept_scheduled, going, resumed, unreleased, latest]
    )
    assert gone not in _ids(store, "hourly")


def test_keep_days_deletes_runs_that_ended_long_ago(project, cli):
    project.write(HOURLY.replace("keep_days = 0", "keep_days = 30"))
    store = project.store()
    old = datetime(2020, 1, 1, tzinfo=UTC)
    ids = [record(store, "other", old + timedelta(hours=h), "succeeded").id for h in range(4)]
    newer = record(store, "other", datetime.now(UTC) - timedelta(days=1), "failed").id
    result = cli("prune", "--json")
    assert json.loads(result.stdout)[1]["runs_deleted"] == 3  # the latest success stays
    assert _ids(store, "other") == [ids[-1], newer]


def test_zero_keeps_every_run(project, cli):
    project.write(HOURLY.replace("keep_runs = 3", "keep_runs = 0"))
    store = project.store()
    ids = _hours(store, "hourly", 5)
    assert json.loads(cli("prune", "--json").stdout)[0] == {"job": "hourly", **_ZERO}
    assert _ids(store, "hourly") == ids


def test_prune_never_lowers_the_metrics_counters(project, cli):
    project.write(HOURLY)
    store = project.store()
    _hours(store, "hourly", 5)
    _hours(store, "other", 3, "failed", exits=(1,))
    before = cli("metrics").stdout
    totals = store.run_totals(["hourly", "other"])
    result = cli("prune", "--json")
    assert json.loads(result.stdout)[0]["runs_deleted"] == 2
    assert store.run_totals(["hourly", "other"]) == totals
    counters = [line for line in before.splitlines() if line.startswith("cronplus_job_runs_total")]
    counters += [line for line in before.splitlines() if "duration_seconds" in line]
    after = cli("metrics").stdout.splitlines()
    assert counters and all(line in after for line in counters)


def test_status_on_shows_pruned_fire_times_not_no_run(project, cli):
    project.write(HOURLY)
    store = project.store()
    _hours(store, "hourly", 6)
    store.prune_runs("hourly", 2, None, limit=500)  # hours 0..3 go
    result = cli("status", "--on", "2026-03-01", "--json")
    day = json.loads(result.stdout)[0]
    assert day["pruned"] == [f"2026-03-01T{h:02}:00:00+00:00" for h in range(4)]
    assert day["no_run"] == [f"2026-03-01T{h:02}:00:00+00:00" for h in range(6, 24)]
    table = cli("status", "--on", "2026-03-01").stdout
    assert table.count(" pruned ") == 4 and "hourly  2026-03-01 00:00" in table


def test_the_ledger_shows_pruned_fire_times(project, web):
    project.write(HOURLY)
    store = project.store()
    _hours(store, "hourly", 6)
    store.prune_runs("hourly", 2, None, limit=500)
    store.close()
    status, _, body = web().get("/ledger?date=2026-03-01")
    assert status == 200
    assert body.decode().count('class="glyph g-pruned"') == 4


def test_the_daemon_prunes_at_its_start(project, daemon):
    project.write(HOURLY.replace('schedule = "0 * * * *"', 'schedule = "0 0 1 1 *"'))
    store = project.store()
    ids = _hours(store, "hourly", 6)
    store.claim_run(
        "other", T0, Trigger.MANUAL, Claim(owner=None, now=T0, status=RunStatus.SKIPPED)
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: _ids(store, "hourly") == ids[3:], timeout=15)
    wait_until(lambda: "event=pruned runs=3" in d.stderr, timeout=5)


KEEP = """
[defaults]
keep_days = 0
timezone = "UTC"

[jobs.hourly]
schedule = "0 * * * *"
command = "echo NEW-RUN-OUTPUT"
keep_runs = KEEP
"""


def test_the_run_status_metrics_and_the_recovered_alert_judge_by_stays(project, cli):
    project.write(KEEP.replace("KEEP", "2"))
    store = project.store()
    record(store, "hourly", T0, "succeeded")
    failed = record(store, "hourly", T0 + timedelta(hours=1), "failed", exits=(1,)).id
    for h in (2, 3, 4):  # paused after the failure: its fire times recorded skipped
        record(store, "hourly", T0 + timedelta(hours=h), "skipped", reason="paused")
    cli("prune")
    assert failed in _ids(store, "hourly")
    status = 'cronplus_job_last_run_status{job_name="hourly",status="failed"} 1'
    assert status in cli("metrics").stdout
    following = record(store, "hourly", T0 + timedelta(hours=5), "succeeded")
    assert store.previous_final("hourly", following.id).status is RunStatus.FAILED


def test_run_ids_are_never_reused_nor_a_leftover_log_continued(project, cli):
    project.write(KEEP.replace("KEEP", "1").replace("0 * * * *", "0 0 1 1 *"))
    store = project.store()
    now = datetime.now(UTC)
    record(store, "hourly", now - timedelta(hours=2), "succeeded")
    record(store, "hourly", now - timedelta(hours=1), "succeeded")
    old = record(store, "hourly", now - timedelta(days=300), "failed", trigger=Trigger.BACKFILL)
    gone = store.prune_runs("hourly", 1, None, limit=500)
    assert old.id not in [r.id for r in gone]  # the highest id stays, though oldest
    assert old.id in _ids(store, "hourly")
    # a leftover log at the next run's name (a crash between a prune's commit and its
    # unlinks, or a state put back): the new attempt starts it afresh
    _log(project, "hourly", old.id + 1, "OLD-PRUNED-RUN-OUTPUT\n")
    assert cli("trigger", "hourly", "--wait").exit_code == 0
    new = store.latest_run("hourly")
    assert new.id == old.id + 1
    assert cli("logs", "hourly").stdout == "NEW-RUN-OUTPUT\n"


FAN_IN = """
[defaults]
keep_days = 0
timezone = "UTC"
[jobs.a]
schedule = "* * * * *"
command = "true"
keep_runs = 2
[jobs.b]
schedule = "* * * * *"
command = "true"
[jobs.c]
command = "true"
after = ["a", "b"]
"""


def test_a_success_a_fan_in_still_waits_for_stays(project, cli):
    from cronplus.lanes import upstream_blocker

    project.write(FAN_IN)
    store = project.store()
    ok = [record(store, "a", T0 + timedelta(minutes=m), "succeeded").id for m in range(5)]
    record(store, "b", T0, "running")  # b's run for 00:00 still going: c waits for it
    record(store, "b", T0 + timedelta(minutes=1), "succeeded")
    assert json.loads(cli("prune", "--json").stdout)[0]["runs_deleted"] == 2
    assert _ids(store, "a") == [ok[0], *ok[3:]]
    assert upstream_blocker(store, ["a"], T0, "UTC") is None


def test_a_pruned_manual_run_leaves_a_missed_fire_time_missed(project, cli):
    project.write(KEEP.replace("KEEP", "2"))
    store = project.store()
    record(store, "hourly", T0, "succeeded")  # 01:00 and 02:00: the daemon was down
    for m in (150, 160, 170):
        at = T0 + timedelta(minutes=m)
        record(store, "hourly", at, "failed", trigger=Trigger.MANUAL, exits=(1,))
    assert json.loads(cli("prune", "--json").stdout)[0]["runs_deleted"] == 1
    day = json.loads(cli("status", "--on", "2026-03-01", "--json").stdout)[0]
    assert day["pruned"] == []
    assert day["no_run"][:2] == ["2026-03-01T01:00:00+00:00", "2026-03-01T02:00:00+00:00"]


def _many_jobs(project, n: int = 5) -> None:
    text = "[defaults]\nkeep_days = 0\nkeep_runs = 1\ntimezone = 'UTC'\n"
    text += "".join(f'[jobs.j{i}]\ncommand = "true"\n' for i in range(n))
    project.write(text)
    store = project.store()
    for i in range(n):
        _hours(store, f"j{i}", 4)


def test_a_stop_ends_the_whole_pass(project, monkeypatch):
    from cronplus import retention

    _many_jobs(project)
    monkeypatch.setattr(retention, "BATCH", 1)
    paths, now = StatePaths(project.state), datetime.now(UTC)
    store = project.store()
    done = retention.prune(project.config(), store, paths, now, between=lambda: True)
    assert [p.runs_deleted for p in done] == [1, 0, 0, 0, 0]
    done = retention.prune(project.config(), store, paths, now, stopped=lambda: True)
    assert [p.runs_deleted for p in done] == [0] * 5


def test_the_pruner_outlives_an_unexpected_error(project, monkeypatch, caplog):
    from cronplus import retention
    from cronplus.clock import system_clock

    project.write(HOURLY)
    project.store().close()
    calls = []

    def boom(*a, **kw):
        calls.append(1)
        raise ValueError("a bug")

    monkeypatch.setattr(retention, "prune", boom)
    monkeypatch.setattr(retention, "EVERY", timedelta(seconds=0.02))
    pruner = retention.Pruner(project.config, StatePaths(project.state), system_clock())
    pruner.start()
    try:
        wait_until(lambda: len(calls) >= 3, timeout=5)
        assert pruner._thread.is_alive()
    finally:
        pruner.stop()
    failed = [r for r in caplog.records if "event=prune_failed" in r.getMessage()]
    assert len(failed) >= 3 and [bool(r.exc_info) for r in failed[:2]] == [True, False]


def test_a_dry_run_never_upgrades_an_older_state(project, cli):
    import sqlite3

    project.write(HOURLY)
    store = project.store()
    record(store, "hourly", T0, "succeeded")
    store.close()
    db = StatePaths(project.state).db
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE pruned")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    result = cli("prune", "--dry-run")
    assert result.exit_code != 0 and "older cronplus" in result.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    conn.close()


def test_a_backfill_does_not_run_again_what_was_pruned(project, cli):
    project.write(KEEP.replace("KEEP", "3").replace("0 * * * *", "0 6 * * *"))
    store = project.store()
    now = datetime.now(UTC)
    for d in (3, 2):
        record(store, "hourly", now - timedelta(days=d), "succeeded")
    span = ("backfill", "hourly", "--from", "2026-01-01", "--to", "2026-01-03")
    assert json.loads(cli(*span, "--json").stdout)["succeeded"] == 3
    record(store, "hourly", now - timedelta(days=1), "succeeded")  # the newest id
    assert json.loads(cli("prune", "--json").stdout)[0]["runs_deleted"] == 3
    plan = cli(*span, "--dry-run")
    assert plan.exit_code == 0
    assert plan.stdout.count("  pruned  its record was pruned; --rerun runs it") == 3
    assert "0 would-run, 0 already-succeeded, 0 blocked, 3 pruned" in plan.stderr
    assert json.loads(cli(*span, "--dry-run", "--json").stdout)["pruned"] == 3
    again = cli(*span, "--json")
    assert again.exit_code == 0, again.stderr
    out = json.loads(again.stdout)
    assert (out["succeeded"], out["pruned"], out["not_run"], out["runs"]) == (0, 3, 0, [])
    text = cli(*span).stdout
    assert "0 succeeded" in text and "3 pruned (--rerun runs them)" in text
    assert json.loads(cli(*span, "--rerun", "--json").stdout)["succeeded"] == 3


def test_an_upstream_whose_record_was_pruned_blocks_with_that_reason(project, cli):
    project.write(FAN_IN.replace('after = ["a", "b"]', 'after = ["a"]'))
    store = project.store()
    ok = [record(store, "a", T0 + timedelta(minutes=m), "succeeded").id for m in range(4)]
    record(store, "b", T0 + timedelta(minutes=9), "succeeded")  # the newest id
    assert json.loads(cli("prune", "--json").stdout)[0]["runs_deleted"] == 2
    assert _ids(store, "a") == ok[2:]
    span = ("backfill", "c", "--from", "2026-03-01T00:00", "--to", "2026-03-01T00:01")
    plan = cli(*span, "--dry-run", "--json")
    reasons = [
        f'upstream job "a" has no run for 2026-03-01 00:0{m}:00+00:00: its record was pruned'
        for m in (0, 1)
    ]
    assert [i["detail"] for i in json.loads(plan.stdout)["plan"]] == reasons
    result = cli(*span, "--json")
    assert result.exit_code == 1
    assert [r["reason"] for r in json.loads(result.stdout)["runs"]] == reasons


def test_the_overview_draws_pruned_fire_times_as_pruned(project, web):
    project.write(KEEP.replace("KEEP", "3"))
    store = project.store()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for h in range(12, 0, -1):
        record(store, "hourly", now - timedelta(hours=h), "succeeded")
    store.prune_runs("hourly", 3, None, limit=500)  # 12..4 hours ago go
    store.close()
    status, _, body = web().get("/?hours=12")
    text = body.decode()
    assert status == 200
    assert text.count('data-status="pruned"') == 8  # 11..4 hours ago: 12 is before the window
    assert text.count('data-status="no_run"') <= 1  # this hour's, if it came already


def test_runs_are_chosen_outside_the_write_lock_and_checked_again_in_it(project, monkeypatch):
    import sqlite3

    project.write(HOURLY)
    store = project.store()
    ids = _hours(store, "hourly", 6)
    monkeypatch.setattr(store._db, "tx", lambda: (_ for _ in ()).throw(AssertionError("tx")))
    assert store.prune_runs("hourly", 0, T0, limit=500) == []  # nothing to go: no lock
    monkeypatch.undo()
    read = store._db.rows

    def then_reopened(sql, args=()):
        found = read(sql, args)
        if "ORDER BY scheduled_for LIMIT" in sql:  # the candidates: one changes meanwhile
            with sqlite3.connect(StatePaths(project.state).db) as conn:
                conn.execute("UPDATE runs SET status = 'running' WHERE id = ?", (ids[0],))
        return found

    monkeypatch.setattr(store._db, "rows", then_reopened)
    gone = store.prune_runs("hourly", 3, None, limit=500)
    assert [r.id for r in gone] == ids[1:3]
