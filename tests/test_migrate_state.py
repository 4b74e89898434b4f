"""`cronplus migrate-state` (issue 17): a SQLite state copied whole into a real
PostgreSQL database, read the same there by every read command, the source untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result
from pgserver import PASSWORD

from cronplus.cli import cli as cli_group
from cronplus.errors import ExitCode
from cronplus.store.postgres import shown_url
from tests.test_alerts import Http

JOBS = """
[alerts]
urls = ["json://127.0.0.1:{port}/hook"]

[jobs.ok]
schedule = "@daily"
command = "echo fine"

[jobs.flaky]
schedule = "@daily"
command = 'echo "try $CRONPLUS_ATTEMPT"; exit 3'
retries = 1
retry_delay = "0s"

[jobs.fan]
for_each = "printf 'a\\\\nb\\\\n'"
command = 'echo "item $CRONPLUS_ITEM"'

[jobs.after_ok]
after = ["ok"]
command = "echo after"
"""


def cronplus(*args: str, state: str | None = None) -> Result:
    """The CLI on jobs.toml, with `--state` when given (else the default .cronplus/)."""
    where = ("--state", state) if state else ()
    return CliRunner().invoke(
        cli_group, ["-c", "jobs.toml", *where, *args], catch_exceptions=False, prog_name="cronplus"
    )


def digest(folder: Path) -> dict[str, str]:
    """The state's files: state.db and its write-ahead log by content, the log's index
    (no data, and written by any reader) by name."""
    return {
        p.name: "" if p.name.endswith("-shm") else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.glob("state.db*"))
    }


def varied_state(project) -> Http:
    """Runs succeeded, failed after a retry, released after `ok`, a for_each run, a
    run marked by hand, a paused job and the alert of the failure, in `.cronplus/`."""
    http = Http()
    project.write(JOBS.format(port=http.port))
    assert cronplus("trigger", "ok", "--wait").exit_code == 0
    assert cronplus("trigger", "flaky", "--wait").exit_code == 1
    assert cronplus("trigger", "fan", "--wait").exit_code == 0
    assert cronplus("mark", "ok", "succeeded", "--at", "2026-12-04T03:00").exit_code == 0
    assert cronplus("pause", "flaky").exit_code == 0
    return http


READS = (
    ("status", "--json"),
    ("history", "--json"),
    ("history", "flaky", "--json"),
    ("history", "fan", "--json"),
    ("alerts", "--json"),
    ("logs", "flaky"),
    ("logs", "flaky", "--attempt", "1"),
    ("logs", "fan", "--item", "1"),
    ("logs", "after_ok"),
    ("metrics",),  # the run totals and durations, copied, not counted twice
)


def test_a_varied_state_reads_the_same_on_postgresql_and_new_runs_follow_its_ids(project, pg_url):
    http = varied_state(project)
    try:
        source = project.root / ".cronplus"
        before = digest(source)
        sqlite_reads = [cronplus(*args) for args in READS]
        assert [r.exit_code for r in sqlite_reads] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # flaky failed
        assert json.loads(sqlite_reads[4].stdout), "the failure was alerted"
        runs = json.loads(sqlite_reads[1].stdout)

        result = cronplus("migrate-state", "--from", ".cronplus", "--to", pg_url)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == (
            "copied 5 runs, 4 attempts, 1 paused job and 1 alert from "
            f"{source} to {shown_url(pg_url)}\n"
        )
        pg_reads = [cronplus(*args, state=pg_url) for args in READS]
        for args, want, got in zip(READS, sqlite_reads, pg_reads, strict=True):
            assert (got.exit_code, got.stdout) == (want.exit_code, want.stdout), args
        assert digest(source) == before

        after = cronplus("trigger", "ok", "--wait", state=pg_url)
        assert after.exit_code == 0, after.stderr
        assert cronplus("trigger", "flaky", "--wait", state=pg_url).exit_code == 1
        newest = json.loads(cronplus("history", "--json", state=pg_url).stdout)
        assert min(r["id"] for r in newest[:3]) > max(r["id"] for r in runs)
        alerts = json.loads(cronplus("alerts", "--json", state=pg_url).stdout)
        assert len({a["id"] for a in alerts}) == len(alerts)  # no alert id reused
        totals = cronplus("metrics", state=pg_url).stdout
        assert 'cronplus_job_runs_total{job_name="flaky",status="failed"} 2\n' in totals
        assert digest(source) == before
        for r in [result, *sqlite_reads, *pg_reads, after]:
            assert PASSWORD not in r.stdout + r.stderr
    finally:
        http.close()


def test_a_state_at_rest_is_read_without_a_file_made_beside_it(project, pg_url):
    """No write-ahead log there (its daemon stopped, its last reader gone): reading it
    as any reader does would leave an empty log and its index beside it."""
    project.write(JOBS.format(port=1))
    made = subprocess.run(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "trigger", "ok", "--wait"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    source = project.root / ".cronplus"
    before = digest(source)
    assert list(before) == ["state.db"]
    result = cronplus("migrate-state", "--from", ".cronplus", "--to", pg_url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("copied 2 runs, 2 attempts, 0 paused jobs and 0 alerts")
    assert digest(source) == before


def test_the_configured_postgresql_state_is_the_default_target(project, pg_url, monkeypatch):
    http = varied_state(project)
    http.close()
    refused = cronplus("migrate-state", "--from", ".cronplus")
    assert refused.exit_code == ExitCode.USAGE
    assert "is not a PostgreSQL database: give --to" in refused.stderr
    monkeypatch.setenv("CRONPLUS_STATE", pg_url)
    result = cronplus("migrate-state", "--from", ".cronplus")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("copied 5 runs, 4 attempts,")
    assert PASSWORD not in result.stdout + result.stderr


def test_a_target_holding_runs_is_refused_and_left_as_it_was(project, pg_url):
    varied_state(project).close()
    assert cronplus("migrate-state", "--from", ".cronplus", "--to", pg_url).exit_code == 0
    history = cronplus("history", "--json", state=pg_url).stdout
    again = cronplus("migrate-state", "--from", ".cronplus", "--to", pg_url)
    assert again.exit_code == ExitCode.USAGE
    assert again.stderr == (
        f"Error: the state database {shown_url(pg_url)} already holds 5 runs: "
        "migrate into an empty one\n"
    )
    assert cronplus("history", "--json", state=pg_url).stdout == history


def test_a_target_without_runs_gets_the_source_in_place_of_what_it_held(project, pg_url):
    """A daemon or `pause` may have written to the new database before any run: the
    copy replaces that (here: another job paused), so the target is the source."""
    varied_state(project).close()
    assert cronplus("pause", "ok", state=pg_url).exit_code == 0
    result = cronplus("migrate-state", "--from", ".cronplus", "--to", pg_url)
    assert result.exit_code == 0, result.stderr
    paused = {
        j["job"]: j["paused_since"] is not None
        for j in json.loads(cronplus("status", "--json", state=pg_url).stdout)
    }
    assert paused == {"ok": False, "flaky": True, "fan": False, "after_ok": False}


def test_a_missing_source_and_a_bad_target_are_refused(project, pg_url):
    project.write(JOBS.format(port=1))
    missing = cronplus("migrate-state", "--from", "nowhere", "--to", pg_url)
    assert missing.exit_code == ExitCode.USAGE
    assert f"no SQLite state in {project.root / 'nowhere'}: no such folder" in missing.stderr
    (project.root / "empty").mkdir()
    empty = cronplus("migrate-state", "--from", "empty", "--to", pg_url)
    assert empty.exit_code == ExitCode.USAGE and "it holds no state.db" in empty.stderr
    assert cronplus("trigger", "ok", "--wait").exit_code == 0
    not_pg = cronplus("migrate-state", "--from", ".cronplus", "--to", "mysql://x:y@h/db")
    assert not_pg.exit_code == ExitCode.USAGE and "y@h" not in not_pg.stderr
    dead = pg_url.rsplit("@", 1)[0] + "@127.0.0.1:1/cronplus"
    unreachable = cronplus("migrate-state", "--from", ".cronplus", "--to", dead)
    assert unreachable.exit_code == ExitCode.NOT_SUCCEEDED
    assert f"cannot connect to the state database {shown_url(dead)}" in unreachable.stderr
    for r in (missing, empty, unreachable):
        assert PASSWORD not in r.stdout + r.stderr


def test_a_source_a_daemon_holds_is_refused_naming_its_pid(project, pg_url, daemon):
    project.write(JOBS.format(port=1))
    d = daemon()
    d.wait_started()
    result = cronplus("migrate-state", "--from", str(project.state), "--to", pg_url)
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    assert f"a cronplus daemon (pid {d.proc.pid}) holds the state in {project.state}" in (
        result.stderr
    )
    assert cronplus("history", "--json", state=pg_url).stdout.strip() == "[]"


def test_a_source_an_older_cronplus_wrote_is_upgraded_in_a_copy(project, pg_url):
    """Schema 13 (before issue 17's columns): the copy is upgraded, the source kept."""
    from cronplus.store.schema import MIGRATIONS

    project.write(JOBS.format(port=1))
    source = project.root / "old"
    source.mkdir()
    conn = sqlite3.connect(source / "state.db")
    for statement in (s for migration in MIGRATIONS[:13] for s in migration):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 13")
    conn.execute(
        "INSERT INTO runs (id, job, scheduled_for, trigger, status, created_at, started_at,"
        " finished_at, attempts) VALUES (41, 'ok', '2026-11-02T03:00:00.000000Z', 'schedule',"
        " 'succeeded', '2026-11-02T03:00:00.000000Z', '2026-11-02T03:00:00.000000Z',"
        " '2026-11-02T03:00:01.000000Z', 1)"
    )
    conn.execute(
        "INSERT INTO attempts (run_id, number, started_at, finished_at, exit_code)"
        " VALUES (41, 1, '2026-11-02T03:00:00.000000Z', '2026-11-02T03:00:01.000000Z', 0)"
    )
    conn.commit()
    conn.close()
    before = digest(source)
    result = cronplus("migrate-state", "--from", "old", "--to", pg_url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("copied 1 run, 1 attempt, 0 paused jobs and 0 alerts")
    assert digest(source) == before
    assert sqlite3.connect(source / "state.db").execute("PRAGMA user_version").fetchone() == (13,)
    [run] = json.loads(cronplus("history", "ok", "--json", state=pg_url).stdout)
    assert (run["id"], run["status"]) == (41, "succeeded")
    assert cronplus("trigger", "ok", "--wait", state=pg_url).exit_code == 0
    assert json.loads(cronplus("history", "ok", "--json", state=pg_url).stdout)[0]["id"] == 42


def test_every_sqlite_table_and_column_has_its_postgresql_twin(pg_url, tmp_path):
    """The copy takes the columns both schemas have: one only SQLite's would be lost."""
    from cronplus.store.postgres import PgDb
    from cronplus.store.sqlite import SqliteDb

    sqlite = SqliteDb(tmp_path / "state.db")
    tables = {
        r["name"]: {c["name"] for c in sqlite.rows(f'PRAGMA table_info("{r["name"]}")')}
        for r in sqlite.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    pg = PgDb(pg_url)
    columns: dict[str, set[str]] = {}
    for r in pg.rows(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'cronplus' AND table_name <> 'schema_migrations'"
    ):
        columns.setdefault(r["table_name"], set()).add(r["column_name"])
    pg.close()
    sqlite.close()
    assert tables == columns
