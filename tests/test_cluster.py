"""Several daemons on one PostgreSQL state (issue 17): real daemon processes, each with
its own CRONPLUS_HOST, on a real PostgreSQL server the tests start (tests/pgserver.py).
Each logical run is executed once, the runs spread over the daemons, and a dead
daemon's run is taken over after its lease, never before."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import psycopg
import pytest

from tests.conftest import wait_until
from tests.pgserver import PASSWORD

pytestmark = pytest.mark.slow

LEASE = 'lease = "3s"'


def rows(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


def daemons_listed(url: str) -> list[tuple]:
    try:
        return rows(url, "SELECT host, pid FROM cronplus.processes WHERE kind = 'daemon'")
    except psycopg.errors.UndefinedTable:
        return []


def start_daemons(daemon, url: str, hosts: str) -> dict[str, object]:
    started = {h: daemon(env={"CRONPLUS_HOST": h}, state=url) for h in hosts}
    for d in started.values():
        d.wait_started(30)
    wait_until(lambda: len(daemons_listed(url)) == len(hosts), 30)
    return started


def per_second(*names: str, extra: str = "") -> str:
    return "".join(
        f"""
[jobs.{n}]
schedule = "* * * * * *"
command = 'echo "$CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ran.log'
{extra}
"""
        for n in names
    )


def test_three_daemons_each_run_once_spread_over_all(project, daemon, pg_url):
    # The daemons start on a file with nothing due, so that each sees the other two
    # before the per-second jobs arrive (a reload): then each takes its share.
    project.write(f'[defaults]\n{LEASE}\n[jobs.idle]\nschedule = "0 0 1 1 *"\ncommand = "true"\n')
    started = start_daemons(daemon, pg_url, "abc")
    project.write(
        f"[defaults]\n{LEASE}\n"
        + per_second("j1", "j2", "j3")
        + """
[jobs.dep]
after = ["j1"]
command = 'echo "$CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ran.log'
"""
    )
    time.sleep(13)
    for d in started.values():
        assert d.terminate() == 0
    ran = (project.root / "ran.log").read_text().splitlines()
    duplicates = [line for line, n in collections.Counter(ran).items() if n > 1]
    assert duplicates == []  # each logical run executed once
    assert len([r for r in ran if r.startswith("j")]) >= 24
    attempts = rows(
        pg_url,
        "SELECT r.job, r.scheduled_for, a.host FROM cronplus.runs r"
        " JOIN cronplus.attempts a ON a.run_id = r.id",
    )
    assert len(attempts) == len(ran)  # one attempt per run, and each wrote its line
    scheduled = [a for a in attempts if a[0] != "dep"]
    shares = collections.Counter(host for _, _, host in scheduled)
    assert set(shares) == {"a", "b", "c"}
    for n in shares.values():
        assert len(scheduled) / 6 <= n <= len(scheduled) / 2, shares
    j1_times = {t for job, t, _ in attempts if job == "j1"}
    dep_times = [t for job, t, _ in attempts if job == "dep"]
    assert sorted(dep_times) == sorted(dep_times_set := set(dep_times))  # once each
    assert dep_times_set <= j1_times and len(dep_times_set) >= len(j1_times) - 2


def test_a_killed_daemons_run_is_retried_elsewhere_after_its_lease(project, daemon, pg_url):
    project.write(
        f"""
[defaults]
{LEASE}

[jobs.long]
schedule = "*/15 * * * * *"
command = 'echo "$CRONPLUS_SCHEDULED_FOR $CRONPLUS_ATTEMPT" >> ran.log; sleep 6'
retries = 1
retry_delay = "1s"
catchup = "none"
"""
    )
    started = start_daemons(daemon, pg_url, "xy")

    def running() -> list[tuple]:
        return rows(
            pg_url,
            "SELECT r.id, r.owner_host FROM cronplus.runs r WHERE r.job = 'long'"
            " AND r.status = 'running'",
        )

    wait_until(lambda: running(), 40)
    run_id, owner = running()[0]
    os.kill(started[owner].proc.pid, signal.SIGKILL)  # the daemon alone: its job goes on
    other = "y" if owner == "x" else "x"
    (last_beat,) = rows(
        pg_url, "SELECT heartbeat_at FROM cronplus.processes WHERE host = %s", (owner,)
    )[0]
    wait_until(
        lambda: (
            rows(pg_url, "SELECT status FROM cronplus.runs WHERE id = %s", (run_id,))[0][0]
            == "succeeded"
        ),
        40,
    )
    got = rows(
        pg_url,
        "SELECT number, host, finished_at FROM cronplus.attempts WHERE run_id = %s ORDER BY number",
        (run_id,),
    )
    assert [(n, h) for n, h, _ in got] == [(1, owner), (2, other)]
    # The first attempt was closed when the dead daemon's lease had passed, not before.
    closed = datetime.fromisoformat(got[0][2])
    assert (closed - datetime.fromisoformat(last_beat)).total_seconds() >= 3.0
    reasons = rows(pg_url, "SELECT reason FROM cronplus.runs WHERE id = %s", (run_id,))
    assert reasons == [(None,)]
    log = (project.root / "daemon-1.stderr").read_text() + (
        project.root / "daemon-2.stderr"
    ).read_text()
    assert f'interrupted: the daemon on host "{owner}"' in log


def test_a_dead_daemons_attempt_counts_so_without_retries_its_run_stays_interrupted(
    project, daemon, pg_url
):
    project.write(
        f"""
[defaults]
{LEASE}

[jobs.once]
schedule = "*/15 * * * * *"
command = "sleep 8"
catchup = "none"
"""
    )
    started = start_daemons(daemon, pg_url, "pq")
    wait_until(lambda: rows(pg_url, "SELECT 1 FROM cronplus.runs WHERE status = 'running'"), 40)
    run_id, owner = rows(
        pg_url, "SELECT id, owner_host FROM cronplus.runs WHERE status = 'running'"
    )[0]
    os.kill(started[owner].proc.pid, signal.SIGKILL)
    wait_until(
        lambda: (
            rows(pg_url, "SELECT status FROM cronplus.runs WHERE id = %s", (run_id,))[0][0]
            == "interrupted"
        ),
        30,
    )
    time.sleep(3)  # a retry would have begun by now
    (status, reason, attempts) = rows(
        pg_url, "SELECT status, reason, attempts FROM cronplus.runs WHERE id = %s", (run_id,)
    )[0]
    assert (status, attempts) == ("interrupted", 1)
    assert f'the daemon on host "{owner}"' in reason


def test_three_first_starts_at_once_apply_each_migration_once(project, daemon, pg_url):
    from cronplus.store.pg_schema import SCHEMA_VERSION

    project.write(f'[defaults]\n{LEASE}\n[jobs.idle]\nschedule = "0 0 1 1 *"\ncommand = "true"\n')
    started = [daemon(env={"CRONPLUS_HOST": h}, state=pg_url) for h in ("m1", "m2", "m3")]
    for d in started:  # all three on their way before any has opened the database
        d.wait_started(40)
    wait_until(lambda: len(daemons_listed(pg_url)) == 3, 40)
    got = rows(pg_url, "SELECT version, applied_by FROM cronplus.schema_migrations")
    assert sorted(v for v, _ in got) == list(range(1, SCHEMA_VERSION + 1))
    assert {by for _, by in got} <= {"m1", "m2", "m3"}
    for d in started:
        assert d.terminate() == 0
        assert "Traceback" not in d.stderr


def test_pause_takes_effect_on_every_host_within_two_seconds(project, daemon, pg_url, cli):
    project.write(f"[defaults]\n{LEASE}\n" + per_second("p1", "p2"))
    start_daemons(daemon, pg_url, "uv")
    wait_until(lambda: (project.root / "ran.log").exists(), 20)
    time.sleep(2)
    done = subprocess.run(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", pg_url, "pause", "p1"],
        cwd=project.root,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    paused_at = datetime.now().astimezone()
    time.sleep(4)
    late = [
        line
        for line in (project.root / "ran.log").read_text().splitlines()
        if line.startswith("p1 ")
        and (datetime.fromisoformat(line.split()[1]) - paused_at).total_seconds() > 2
    ]
    assert late == []
    skipped = rows(
        pg_url, "SELECT count(*) FROM cronplus.runs WHERE job = 'p1' AND status = 'skipped'"
    )
    assert skipped[0][0] >= 1
    p2_after = [
        line
        for line in (project.root / "ran.log").read_text().splitlines()
        if line.startswith("p2 ") and datetime.fromisoformat(line.split()[1]) > paused_at
    ]
    assert len(p2_after) >= 2  # the other job goes on


def run_row(url: str, run_id: int) -> tuple:
    return rows(url, "SELECT status, reason, attempts FROM cronplus.runs WHERE id = %s", (run_id,))[
        0
    ]


def test_the_database_down_past_the_lease_takes_nothing_over(project, daemon, pg_server, pg_url):
    project.write(
        f"""
[defaults]
{LEASE}
{per_second("tick")}
[jobs.slow]
schedule = "*/20 * * * * *"
command = 'sleep 6; echo "done $CRONPLUS_SCHEDULED_FOR" >> slow.log'
catchup = "none"
"""
    )
    started = start_daemons(daemon, pg_url, "xy")
    wait_until(
        lambda: rows(
            pg_url, "SELECT 1 FROM cronplus.runs WHERE job = 'slow' AND status = 'running'"
        ),
        40,
    )
    (slow_id,) = rows(
        pg_url, "SELECT id FROM cronplus.runs WHERE job = 'slow' AND status = 'running'"
    )[0]
    pg_server.stop()
    try:
        time.sleep(8)  # over two leases
        for d in started.values():
            assert d.proc.poll() is None  # the daemons wait for it
    finally:
        pg_server.start()
    wait_until(lambda: run_row(pg_url, slow_id)[0] == "succeeded", 30)
    back = datetime.now().astimezone()
    time.sleep(5)  # a lease and more, connected again
    assert sorted(h for h, _ in daemons_listed(pg_url)) == ["x", "y"]
    taken = rows(
        pg_url, "SELECT id FROM cronplus.runs WHERE reason LIKE %s", ("%stopped heartbeating%",)
    )
    assert taken == []  # no daemon declared another dead
    assert (project.root / "slow.log").read_text().count("done") == 1
    reasons = [
        r
        for (r,) in rows(
            pg_url, "SELECT reason FROM cronplus.runs WHERE job = 'tick' AND status = 'skipped'"
        )
    ]
    assert reasons and all(r.startswith("state database unreachable until") for r in reasons)
    after = [
        line
        for line in (project.root / "ran.log").read_text().splitlines()
        if datetime.fromisoformat(line.split()[1]) > back
    ]
    assert len(after) >= 3  # the schedule goes on
    for d in started.values():
        assert d.terminate() == 0
        assert "Traceback" not in d.stderr


def test_a_daemon_cut_off_past_its_lease_loses_its_run_to_another(project, daemon, pg_url):
    """SIGSTOP stands for a host cut off from the database: its job goes on, the other
    daemon takes the run over after the lease and runs it again (the one case of a
    run executed twice); back, the first records nothing over it and lists itself."""
    project.write(
        f"""
[defaults]
{LEASE}

[jobs.long]
schedule = "*/30 * * * * *"
command = 'h=$CRONPLUS_HOST; echo "$h $CRONPLUS_ATTEMPT" >>ran.log; sleep 10; echo "$h done">>$F'
retries = 1
retry_delay = "1s"
catchup = "none"
env = {{ F = "ran.log" }}
"""
    )
    started = start_daemons(daemon, pg_url, "ab")
    wait_until(lambda: rows(pg_url, "SELECT 1 FROM cronplus.runs WHERE status = 'running'"), 40)
    run_id, owner = rows(
        pg_url, "SELECT id, owner_host FROM cronplus.runs WHERE status = 'running'"
    )[0]
    other = "b" if owner == "a" else "a"
    cut = started[owner]
    os.kill(cut.proc.pid, signal.SIGSTOP)
    try:
        wait_until(
            lambda: rows(
                pg_url,
                "SELECT 1 FROM cronplus.attempts WHERE run_id = %s AND number = 2",
                (run_id,),
            ),
            30,
        )
    finally:
        os.kill(cut.proc.pid, signal.SIGCONT)
    wait_until(lambda: run_row(pg_url, run_id)[0] == "succeeded", 30)
    time.sleep(2)
    # Its attempt was killed once it learned the run was taken over: it never ended.
    assert sorted((project.root / "ran.log").read_text().splitlines()) == sorted(
        [f"{owner} 1", f"{other} 2", f"{other} done"]
    )
    assert run_row(pg_url, run_id) == ("succeeded", None, 2)
    got = rows(
        pg_url,
        "SELECT number, host FROM cronplus.attempts WHERE run_id = %s ORDER BY number",
        (run_id,),
    )
    assert got == [(1, owner), (2, other)]
    wait_until(lambda: (owner, cut.proc.pid) in daemons_listed(pg_url), 15)
    assert "registration_lost" in cut.stderr and cut.proc.poll() is None
    for d in started.values():
        assert d.terminate() == 0


def test_a_daemon_restarted_under_its_name_adopts_its_attempt(project, daemon, pg_url):
    project.write(
        f"""
[defaults]
{LEASE}

[jobs.long]
schedule = "*/30 * * * * *"
command = 'echo "$CRONPLUS_ATTEMPT" >> ran.log; sleep 6'
catchup = "none"
"""
    )
    first = start_daemons(daemon, pg_url, "k")["k"]
    wait_until(lambda: rows(pg_url, "SELECT 1 FROM cronplus.runs WHERE status = 'running'"), 40)
    (run_id,) = rows(pg_url, "SELECT id FROM cronplus.runs WHERE status = 'running'")[0]
    os.kill(first.proc.pid, signal.SIGKILL)  # its job goes on in its own session
    first.proc.wait()
    again = daemon(env={"CRONPLUS_HOST": "k"}, state=pg_url)
    again.wait_started(30)  # within the lease: the dead one's name is its own
    wait_until(lambda: run_row(pg_url, run_id)[0] == "succeeded", 30)
    assert run_row(pg_url, run_id) == ("succeeded", None, 1)  # adopted, not run again
    assert (project.root / "ran.log").read_text() == "1\n"
    assert "event=adopted" in again.stderr or "adopted" in again.stderr
    assert again.terminate() == 0


def test_a_daemon_whose_clock_is_off_the_databases_takes_no_jobs(pg_url, caplog):
    from datetime import timedelta
    from pathlib import Path

    from cronplus.job_share import JobShare
    from cronplus.paths import StatePaths
    from cronplus.store import open_store
    from tests.conftest import FakeClock

    store = open_store(StatePaths(Path("/nonexistent"), url=pg_url))
    lease = timedelta(seconds=3)
    assert store.register_process("daemon", 4242, lease) is None
    clock = FakeClock(store.db_now() + timedelta(seconds=2))  # 2 s ahead of the database
    share = JobShare(
        store, 4242, lease, idle=lambda j: True, sweep=None, resume=lambda *a: None, clock=clock
    )
    share.check(clock.now(), ["a", "b"])
    assert not share.owns("a") and store.job_owners() == {}
    assert "clock is 2." in caplog.text and "takes no jobs" in caplog.text
    clock.set(store.db_now())  # in sync again
    share.check(clock.now() + timedelta(seconds=5), ["a", "b"])
    assert share.owns("a") and share.owns("b") and sorted(store.job_owners()) == ["a", "b"]
    store.close()


def test_the_whole_state_url_may_come_from_a_variable(project, pg_url):
    project.write('[defaults]\nstate = "${CRONPLUS_TEST_DB}"\n[jobs.j]\ncommand = "true"\n')
    env = {**os.environ, "CRONPLUS_TEST_DB": pg_url}
    env.pop("CRONPLUS_STATE", None)
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml"]
    done = subprocess.run([*argv, "trigger", "j", "--wait"], cwd=project.root, env=env)
    assert done.returncode == 0
    assert rows(pg_url, "SELECT job, status FROM cronplus.runs") == [("j", "succeeded")]
    del env["CRONPLUS_TEST_DB"]
    unset = subprocess.run([*argv, "status"], cwd=project.root, env=env, capture_output=True)
    assert unset.returncode == 2
    assert b"${CRONPLUS_TEST_DB}, which is not set" in unset.stderr
    assert not (project.root / "${CRONPLUS_TEST_DB}").exists()


def test_a_daemon_waits_for_a_database_not_up_yet(project, daemon, pg_server, pg_url):
    project.write(f'[defaults]\n{LEASE}\n[jobs.idle]\nschedule = "0 0 1 1 *"\ncommand = "true"\n')
    pg_server.stop()
    try:
        d = daemon(env={"CRONPLUS_HOST": "w"}, state=pg_url)
        wait_until(lambda: d.stderr.count("event=state-unreachable") >= 2, 20)
        assert d.proc.poll() is None and "event=started" not in d.stderr
    finally:
        pg_server.start()
    d.wait_started(30)
    wait_until(lambda: daemons_listed(pg_url), 20)
    assert PASSWORD not in d.stderr and "Traceback" not in d.stderr
    assert d.terminate() == 0


def test_read_commands_need_only_a_read_only_role_and_write_nothing(project, pg_server, pg_url):
    project.write('[jobs.j]\ncommand = "echo out"\n')
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state"]
    database = pg_url.rsplit("/", 1)[1]
    untouched = pg_server.new_database()
    for db in (database, untouched):
        pg_server.sql(f"GRANT CONNECT ON DATABASE {db} TO PUBLIC")
    pg_server.sql("DROP ROLE IF EXISTS reader")
    pg_server.sql("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
    reader = f"postgresql://reader:reader-pw@127.0.0.1:{pg_server.port}/"
    # An untouched database reads as empty, and stays untouched.
    done = subprocess.run([*argv, reader + untouched, "status"], cwd=project.root)
    assert done.returncode == 0
    assert pg_server.sql("SELECT to_regnamespace('cronplus')", untouched) == [(None,)]
    ran = subprocess.run([*argv, pg_url, "trigger", "j", "--wait"], cwd=project.root)
    assert ran.returncode == 0
    pg_server.sql("GRANT USAGE ON SCHEMA cronplus TO reader", database)
    pg_server.sql("GRANT SELECT ON ALL TABLES IN SCHEMA cronplus TO reader", database)
    for command in (["status"], ["history", "j", "--json"], ["logs", "j"], ["alerts"]):
        got = subprocess.run(
            [*argv, reader + database, *command], cwd=project.root, capture_output=True
        )
        assert got.returncode == 0, (command, got.stderr)
    logs = subprocess.run(
        [*argv, reader + database, "logs", "j"], cwd=project.root, capture_output=True
    )
    assert logs.stdout == b"out\n"
    refused = subprocess.run(
        [*argv, reader + database, "pause", "j"], cwd=project.root, capture_output=True
    )
    assert refused.returncode == 1 and b"Traceback" not in refused.stderr
    assert b"reader-pw" not in refused.stderr
