"""`max_active` (issue 17): a job's attempts at once across every cronplus process on
the state (daemon, `trigger`, `backfill`; SQLite or PostgreSQL), the others waiting
`queued` with the reason, oldest logical time first. Real processes and real time:
what is checked is each attempt's start and end as `history --json` records them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest
from conftest import wait_until

from cronplus.model import Claim, PoolEntry, RunStatus, Trigger

WAITING = "waiting for max_active ("
REASON_1 = "waiting for max_active (1 of 1 attempts running)"
REASON_2 = "waiting for max_active (2 of 2 attempts running)"


def job(max_active: int, *, schedule: str = "0 0 * * *", command: str = "sleep 1") -> str:
    return (
        f'[jobs.j]\nschedule = "{schedule}"\ntimezone = "UTC"\n'
        f"max_active = {max_active}\ncommand = '{command}'\n"
    )


def cronplus(project, *args: str, state: str | None = None) -> subprocess.Popen:
    """A `cronplus` process of its own on the project's state (or `state`: a URL)."""
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state"]
    return subprocess.Popen(
        [*argv, state or str(project.state), *args],
        cwd=project.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )


def history(project, state: str | None = None) -> list[dict]:
    p = cronplus(project, "history", "j", "--json", "--limit", "1000", state=state)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()
    return json.loads(out)


def ended(*procs: subprocess.Popen) -> None:
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()


def spans(runs: list[dict]) -> list[tuple[datetime, datetime, str]]:
    """Every attempt's (start, end, logical time), by start."""
    found = []
    for run in runs:
        for a in run["attempt_details"]:
            assert a["finished_at"] is not None, run
            begun, end = datetime.fromisoformat(a["started_at"]), a["finished_at"]
            found.append((begun, datetime.fromisoformat(end), run["scheduled_for"]))
    return sorted(found)


def most_at_once(found: list[tuple[datetime, datetime, str]]) -> int:
    events = [(s, 1) for s, _, _ in found] + [(e, -1) for _, e, _ in found]
    at_once = most = 0
    for _, step in sorted(events):  # an end before a start at the same instant
        at_once += step
        most = max(most, at_once)
    return most


def status(project) -> str:
    p = cronplus(project, "status")
    out, err = p.communicate(timeout=60)
    assert p.returncode in (0, 1), err.decode()
    return out.decode()


def reasons_seen(project, state: str | None = None) -> set[str]:
    """The reasons of the queued runs (a run just claimed has none yet)."""
    queued = [r["reason"] for r in history(project, state) if r["status"] == "queued"]
    return {why for why in queued if why is not None}


@pytest.mark.slow
def test_max_active_1_makes_a_parallel_backfill_one_at_a_time_oldest_first(project):
    project.write(job(1))
    p = cronplus(project, "backfill", "j", "--from", "2026-01-01", "--to", "2026-01-03",
                 "--parallel", "3")  # fmt: skip
    # The runs waiting say why in `status` (one asking while the first in line has yet
    # to take the slot reads "0 of 1").
    wait_until(lambda: f"queued, {REASON_1}" in status(project), timeout=30)
    assert {why[: len(WAITING)] for why in reasons_seen(project)} <= {WAITING}
    ended(p)
    runs = history(project)
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    found = spans(runs)
    assert len(found) == 3
    assert most_at_once(found) == 1
    assert all(found[i][1] <= found[i + 1][0] for i in range(2))
    # Those that waited are served oldest first (the first may be any: the line is empty
    # until one of the three workers enters it).
    waited = [t for _, _, t in found[1:]]
    assert waited == sorted(waited)
    assert project.store().pool_entries() == ([], [])


@pytest.mark.slow
def test_max_active_2_holds_across_a_daemon_two_backfills_and_a_trigger(project, daemon):
    """The daemon's per-second runs keep asking for a slot while two backfills of three
    logical times each (three at once) and a `trigger` run the same job."""
    project.write(job(2, schedule="* * * * * *", command="sleep 0.6"))
    d = daemon()
    d.wait_started()
    others = [
        cronplus(project, "backfill", "j", "--from", "2026-01-01T00:00:00",
                 "--to", "2026-01-01T00:00:02", "--parallel", "3"),
        cronplus(project, "backfill", "j", "--from", "2026-01-02T00:00:00",
                 "--to", "2026-01-02T00:00:02", "--parallel", "3"),
        cronplus(project, "trigger", "j", "--wait"),
    ]  # fmt: skip
    wait_until(lambda: REASON_2 in reasons_seen(project), timeout=30)
    ended(*others)
    # The slots free again, the daemon's own runs go on (a loaded machine: wait for one).
    wait_until(
        lambda: any(
            (r["trigger"], r["status"]) == ("schedule", "succeeded") for r in history(project)
        ),
        timeout=30,
    )
    assert d.terminate() == 0
    runs = history(project)
    by = {}
    for r in runs:
        by.setdefault(r["trigger"], []).append(r["status"])
    assert by["backfill"] == ["succeeded"] * 6
    assert by["manual"] == ["succeeded"]
    assert "succeeded" in by["schedule"]
    found = spans(runs)
    assert most_at_once(found) == 2  # full at times, never over
    assert project.store().pool_entries() == ([], [])


@pytest.mark.slow
def test_max_active_holds_across_two_backfills_on_postgresql(project, pg_url):
    project.write(job(1, command="sleep 0.5"))
    backfills = [
        cronplus(project, "backfill", "j", "--from", f"2026-01-0{a}", "--to", f"2026-01-0{a + 2}",
                 "--parallel", "3", state=pg_url)
        for a in (1, 4)
    ]  # fmt: skip
    wait_until(lambda: REASON_1 in reasons_seen(project, pg_url), timeout=30)
    ended(*backfills)
    runs = history(project, pg_url)
    assert [r["status"] for r in runs] == ["succeeded"] * 6
    found = spans(runs)
    assert len(found) == 6
    assert most_at_once(found) == 1


@pytest.mark.slow
def test_each_item_of_a_for_each_run_is_an_attempt_of_the_job(project, cli):
    project.write(
        """
        [jobs.j]
        for_each = "printf 'a\\nb\\nc\\n'"
        item_parallel = 3
        max_active = 1
        command = 'echo "s $(date +%s.%N)" >> spans.txt; sleep 0.5; echo "e $(date +%s.%N)" >> spans.txt'
        """  # noqa: E501
    )
    result = cli("trigger", "j", "--wait")
    assert result.exit_code == 0, result.stderr
    lines = (project.root / "spans.txt").read_text().split()
    kinds = lines[0::2]
    assert kinds == ["s", "e"] * 3  # each item's end before the next one's start


def test_a_bad_max_active_is_a_file_line_error_saying_what_to_write(project, cli):
    project.write(
        """
        [defaults]
        max_active = 0

        [jobs.a]
        command = "true"
        max_active = "2"

        [jobs.b]
        command = "true"
        max_active = true
        """
    )
    result = cli("validate")
    assert result.exit_code == 2
    do = "write max_active = 1 for one attempt at a time, or remove it for no cap"
    for where, got in [
        ("jobs.toml:2: [defaults] ", "0"),
        ('jobs.toml:6: job "a": ', '"2"'),
        ('jobs.toml:10: job "b": ', "true"),
    ]:
        assert f"{where}max_active must be a whole number, 1 or more (got {got}): {do}" in (
            result.stderr
        )


def test_max_active_comes_from_defaults_unless_the_job_sets_it(project):
    project.write(
        """
        [defaults]
        max_active = 3

        [jobs.a]
        command = "true"

        [jobs.b]
        command = "true"
        max_active = 1
        """
    )
    jobs = project.config().jobs
    assert (jobs["a"].max_active, jobs["b"].max_active) == (3, 1)
    project.write('[jobs.a]\ncommand = "true"\n')
    assert project.config().jobs["a"].max_active is None


def test_the_implicit_max_active_pools_are_not_listed_as_pools(project, cli):
    """`pools` and `/pools` (pool_report) show [pools] only, not a job's max_active."""
    project.write('[pools]\nw = 2\n\n[jobs.j]\ncommand = "true"\nmax_active = 1\npool = "w"\n')
    store = project.store()
    at = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    run = store.claim_run("j", at, Trigger.MANUAL, Claim(owner=os.getpid(), now=at))
    for pool, item in (("max_active:j", -2), ("w", -1)):
        store.pool_wait(PoolEntry(pool, run.id, "j", 1, at, 1, "h", os.getpid(), at, item=item))
        assert store.pool_take(run.id, 2, at, item)[0]
    result = cli("pools", "--json")
    assert result.exit_code == 0, result.stderr
    assert [p["pool"] for p in json.loads(result.stdout)] == ["w"]
    assert run.status is RunStatus.QUEUED
