"""A backfill claims the fire times it starts next together (`CLAIM_AHEAD` in one
transaction), and what it claimed ahead never runs twice and is never lost: a stop
gives back the claims it did not start, a SIGKILL leaves them queued orphans that the
same command run again settles and executes, each fire time exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

from cronplus._backfill_run import CLAIM_AHEAD
from cronplus.errors import ExitCode
from cronplus.model import RunStatus
from tests.conftest import wait_until

HOUR = [datetime(2026, 10, 1, 0, m, tzinfo=UTC) for m in range(60)]


def minutely(command: str) -> str:
    return f"""
[jobs.tick]
schedule = "* * * * *"
timezone = "UTC"
command = '{command}'
"""


def history(project):
    store = project.store()
    try:
        return sorted(store.history("tick", limit=10_000), key=lambda r: r.scheduled_for)
    finally:
        store.close()


def ran(project) -> Counter[str]:
    path = project.root / "ran.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def test_fire_times_are_claimed_together_in_batches(project, cli):
    project.write(minutely("true"))
    result = cli("backfill", "tick", "--from", "2026-10-01T00:00", "--to", "2026-10-01T00:39")
    assert result.exit_code == ExitCode.OK, result.output
    runs = history(project)
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 40
    # One claim's time per batch of CLAIM_AHEAD fire times, oldest first.
    batches = [runs[i : i + CLAIM_AHEAD] for i in range(0, 40, CLAIM_AHEAD)]
    assert all(len({r.created_at for r in b}) == 1 for b in batches)
    assert [r.id for r in runs] == sorted(r.id for r in runs)


def test_a_sigkilled_backfill_run_again_executes_every_fire_time_exactly_once(project, cli):
    # Each run takes 0.2 s and records its fire time only at its end.
    project.write(minutely('sleep 0.2; echo "$CRONPLUS_SCHEDULED_FOR" >> ran.txt'))
    args = ("tick", "--from", "2026-10-01T00:00", "--to", "2026-10-01T00:59", "--parallel", "2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
        + ["backfill", *args],
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: sum(ran(project).values()) >= 4, timeout=30)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    left = history(project)
    # Claimed ahead and never started: queued, no attempt, owned by the dead process.
    assert any(r.status is RunStatus.QUEUED and not r.attempts for r in left)
    assert len(left) < 60  # it was cut mid-way: the test covers the re-run

    result = cli("backfill", *args)
    assert result.exit_code == ExitCode.OK, result.output
    runs = history(project)
    assert [r.scheduled_for for r in runs] == HOUR
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    # The job's own record: every fire time once, none twice (the runs going at the
    # kill ended on their own and were settled from their status files, not re-run).
    assert ran(project) == {t.isoformat(): 1 for t in HOUR}


def test_a_stop_gives_back_the_claims_it_did_not_start(project):
    project.write(minutely('sleep 0.2; echo "$CRONPLUS_SCHEDULED_FOR" >> ran.txt'))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
        + ["backfill", "tick", "--from", "2026-10-01T00:00", "--to", "2026-10-01T00:59"],
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: sum(ran(project).values()) >= 2, timeout=30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == ExitCode.NOT_SUCCEEDED
    runs = history(project)
    # No queued claim is left: what it did not start has no run, as before batches.
    assert runs and all(r.status.is_final for r in runs)
    assert len(runs) < CLAIM_AHEAD
    assert max(r.scheduled_for for r in runs) < HOUR[0] + timedelta(minutes=CLAIM_AHEAD)
