"""Pools (issue 15) in real processes on one state: a daemon, `trigger` and
`backfill` at once, never more attempts in a pool than its size; the line serving
a 2-slot run; a SIGKILLed holder's slots freed once its job ended; a waiter whose
process is gone under a live pid (reused, or of the previous boot) losing its place;
a reload shrinking a pool; overlap, start_grace and a stop while runs wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from conftest import wait_until

from cronplus import procs
from cronplus.model import Claim, PoolEntry, RunStatus, Trigger

pytestmark = pytest.mark.slow

# Each attempt appends its start and end instants, with its run id.
SPAN = (
    'echo "$CRONPLUS_RUN_ID s $(date +%s.%N)" >> spans.txt; sleep {s};'
    ' echo "$CRONPLUS_RUN_ID e $(date +%s.%N)" >> spans.txt'
)


def cronplus(project, *args: str) -> subprocess.Popen:
    """A `cronplus` process of its own on the project's state."""
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
    return subprocess.Popen(
        [*argv, *args],
        cwd=project.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def spans(project) -> dict[str, tuple[float, float | None]]:
    path = project.root / "spans.txt"
    found: dict[str, list[float | None]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        run_id, kind, at = line.split()
        found.setdefault(run_id, [None, None])[kind == "e"] = float(at)
    return {k: (s, e) for k, (s, e) in found.items() if s is not None}


def most_at_once(found: dict[str, tuple[float, float | None]]) -> int:
    events = []
    for start, end in found.values():
        events += [(start, 1), (end if end is not None else float("inf"), -1)]
    at_once = most = 0
    for _, step in sorted(events):  # an end before a start at the same instant
        at_once += step
        most = max(most, at_once)
    return most


def runs_of(project, job):
    return project.store().history(job)


def test_a_pool_of_2_holds_across_a_daemon_a_trigger_and_a_backfill(project, daemon):
    """Five jobs share 2 slots: the daemon's two per-second jobs keep asking, while a
    `trigger` runs a 1-slot and a 2-slot job and a `backfill` runs 4 logical times; the
    2-slot run, first in line once it waits, is served although 1-slot runs keep coming."""
    day = datetime.now(UTC).date().isoformat()
    jobs = "".join(
        f"[jobs.{name}]\n{extra}pool = \"warehouse\"\ncommand = '{SPAN.format(s=0.4)}'\n"
        for name, extra in [
            ("a", 'schedule = "* * * * * *"\ntimezone = "UTC"\n'),
            ("b", 'schedule = "* * * * * *"\ntimezone = "UTC"\n'),
            ("c", ""),
            ("d", 'schedule = "0 * * * *"\ntimezone = "UTC"\n'),
            ("e", "pool_slots = 2\n"),
        ]
    )
    project.write("[pools]\nwarehouse = 2\n" + jobs)
    d = daemon()
    d.wait_started()
    wait_until(lambda: len(spans(project)) >= 2, timeout=15)
    others = [
        cronplus(project, "trigger", "c", "--wait"),
        cronplus(project, "trigger", "e", "--wait"),
        cronplus(project, "backfill", "d", "--from", f"{day}T00:00", "--to", f"{day}T03:00",
                 "--parallel", "2"),
    ]  # fmt: skip
    for p in others:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    assert d.terminate() == 0
    found = spans(project)
    assert most_at_once(found) == 2  # full at times, never over
    assert [r.status for r in runs_of(project, "e")] == [RunStatus.SUCCEEDED]
    assert [r.status for r in runs_of(project, "c")] == [RunStatus.SUCCEEDED]
    assert [r.status for r in runs_of(project, "d")] == [RunStatus.SUCCEEDED] * 4
    assert project.store().pool_entries() == ([], [])


def test_a_killed_holders_slots_are_freed_once_its_job_ended(project, cli):
    """And a killed waiter first in line loses its place: the next waiter takes the
    slot within about a second of the holder's job's end."""
    project.write("""
        [pools]
        warehouse = 1
        [jobs.hold]
        pool = "warehouse"
        command = 'sleep 2; date +%s.%N > held_end.txt'
        [jobs.gone]
        pool = "warehouse"
        command = 'true'
        [jobs.next]
        pool = "warehouse"
        command = 'date +%s.%N > next_start.txt'
    """)
    holder = cronplus(project, "trigger", "hold", "--wait")
    wait_until(lambda: project.store().pool_entries()[0], timeout=15)
    gone = cronplus(project, "trigger", "gone", "--wait")  # first in line, then killed
    wait_until(lambda: project.store().pool_entries()[1], timeout=15)
    waiter = cronplus(project, "trigger", "next", "--wait")
    why = 'waiting for pool "warehouse" (1 of 1 slots in use)'
    wait_until(lambda: [r.reason for r in runs_of(project, "next")] == [why], timeout=15)
    assert runs_of(project, "next")[0].status is RunStatus.QUEUED
    for p in (gone, holder):  # the holder's job goes on: its slot stays taken
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    _, err = waiter.communicate(timeout=20)
    assert waiter.returncode == 0, err.decode()
    ended = float((project.root / "held_end.txt").read_text())
    started = float((project.root / "next_start.txt").read_text())
    assert ended <= started < ended + 1.5
    assert runs_of(project, "next")[0].reason is None
    assert project.store().pool_entries() == ([], [])


TWO_JOBS = """
    [pools]
    warehouse = 1
    [jobs.old]
    pool = "warehouse"
    command = 'true'
    [jobs.next]
    pool = "warehouse"
    command = 'true'
"""


def row_of(project, pid: int, *, holding: bool = False, **changed) -> PoolEntry:
    """A run of `old` waiting first in line (or holding the slot), its process named
    as `pid` of this host, with that process's boot id and start ticks as they are
    (but for those `changed`)."""
    store = project.store()
    t = datetime(2020, 1, 1, tzinfo=UTC)
    run = store.claim_run("old", t, Trigger.MANUAL, Claim(owner=pid, now=t))
    assert run is not None
    entry = PoolEntry("warehouse", run.id, "old", 1, t, 1, procs.host(), pid, t,
                      procs.boot_id(), procs.start_ticks(pid))  # fmt: skip
    entry = replace(entry, **changed)
    store.pool_wait(entry)
    assert not holding or store.pool_take(run.id, 1, t)[0]
    return entry


def waited_s(run) -> float:
    """How long the run waited for its pool: from its claim to its attempt's start."""
    return (run.attempts[0].started_at - run.created_at).total_seconds()


@pytest.mark.parametrize("reused", [True, False])
def test_a_waiter_whose_process_is_gone_under_a_live_pid_loses_its_place(project, reused):
    """A state outlives a reboot and pids are reused: a waiter first in line whose pid
    is now a live process's, one that started at another tick (`reused`), or this very
    process's pid recorded in the previous boot, blocks nobody: the run behind it
    takes the slot within about a second."""
    project.write(TWO_JOBS)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        if reused:  # the pid's process started one tick later than the row's
            gone = row_of(project, sleeper.pid, start_ticks=procs.start_ticks(sleeper.pid) - 1)
        else:
            gone = row_of(project, os.getpid(), boot_id="the-previous-boot")
        assert procs.alive(gone.pid)
        waiter = cronplus(project, "trigger", "next", "--wait")
        _, err = waiter.communicate(timeout=10)
        assert waiter.returncode == 0, err.decode()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert waited_s(runs_of(project, "next")[0]) < 1.5
    assert project.store().pool_entries() == ([], [])


def test_a_live_holder_is_never_freed_and_its_slot_goes_once_it_is_gone(project):
    project.write(TWO_JOBS)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        holder = row_of(project, sleeper.pid, holding=True)
        waiter = cronplus(project, "trigger", "next", "--wait")
        why = 'waiting for pool "warehouse" (1 of 1 slots in use)'
        wait_until(lambda: [r.reason for r in runs_of(project, "next")] == [why], timeout=15)
        time.sleep(1.5)  # three looks for gone holders at least
        holders, line = project.store().pool_entries()
        assert [e.run_id for e in holders] == [holder.run_id] and len(line) == 1
        assert runs_of(project, "next")[0].status is RunStatus.QUEUED
    finally:
        sleeper.kill()
        sleeper.wait()
    _, err = waiter.communicate(timeout=10)
    assert waiter.returncode == 0, err.decode()
    assert project.store().pool_entries() == ([], [])


def test_a_process_is_gone_when_its_boot_start_or_pid_differ_or_it_is_a_zombie():
    pid, boot, start = procs.me()
    here = procs.host()
    assert boot and start and procs.me() == (os.getpid(), boot, start)
    assert procs.gone(here, pid, boot, start) is False
    assert procs.gone(here, pid, None, None) is False  # unknown: the pid alone
    assert procs.gone(here, pid, "the-previous-boot", start) is True
    assert procs.gone(here, pid, boot, start + 1) is True
    assert procs.gone("another-host", pid, "the-previous-boot", start) is None
    zombie = subprocess.Popen(["true"])
    wait_until(lambda: (procs._stat(zombie.pid) or [b"Z"])[0] == b"Z", timeout=5)
    assert procs.gone(here, zombie.pid, boot, procs.start_ticks(zombie.pid)) is True
    zombie.wait()
    assert procs.gone(here, zombie.pid, boot, None) is True


def test_judging_a_process_reads_its_stat_once(monkeypatch):
    """A waiter judges every other process's row at each look, and `pools` each row:
    one read of /proc/PID/stat per row, not one for `alive` and one for its start."""
    pid, boot, start = procs.me()  # read once per process, before counting
    reads = []
    stat = procs._stat
    monkeypatch.setattr(procs, "_stat", lambda pid: reads.append(pid) or stat(pid))
    assert procs.gone(procs.host(), pid, boot, start) is False
    assert procs.gone(procs.host(), pid, boot, start + 1) is True
    assert reads == [pid, pid]


def test_a_reload_shrinking_a_pool_holds_for_the_next_slots_taken(project, daemon):
    text = """
        [pools]
        warehouse = {n}
        [jobs.a]
        schedule = "* * * * * *"
        timezone = "UTC"
        pool = "warehouse"
        command = '{span}'
        [jobs.b]
        schedule = "* * * * * *"
        timezone = "UTC"
        pool = "warehouse"
        command = '{span}'
    """
    project.write(text.format(n=2, span=SPAN.format(s=0.8)))
    d = daemon()
    d.wait_started()
    wait_until(lambda: most_at_once(spans(project)) == 2, timeout=15)
    project.write(text.format(n=1, span=SPAN.format(s=0.8)))
    wait_until(lambda: "event=reloaded" in d.stderr, timeout=15)
    after = datetime.now(UTC).timestamp() + 1.0  # slots taken before it may still go
    wait_until(lambda: sum(s > after for s, _ in spans(project).values()) >= 3, timeout=20)
    assert d.terminate() == 0
    found = spans(project)
    late = {k: v for k, v in found.items() if v[0] > after}
    for start, end in late.values():
        others = [v for v in found.values() if v != (start, end)]
        # One the stop cut short has no end: it started after every other.
        assert all((e is not None and e <= start) or (end and s >= end) for s, e in others)


def test_a_waiting_run_is_the_jobs_active_run_and_is_not_late_and_a_stop_ends_it(project, daemon):
    """While `hold` (another process) has the pool, the daemon's `tick` waits: its next
    fire times are skipped (overlap), it starts well past its start_grace, a `swap`
    waiting is replaced by its next fire time, and a stop ends a waiting run as a run
    queued behind max_parallel ends, its place in line given up."""
    project.write("""
        [pools]
        warehouse = 1
        [jobs.hold]
        pool = "warehouse"
        command = 'sleep 3'
        [jobs.tick]
        schedule = "* * * * * *"
        timezone = "UTC"
        start_grace = "1s"
        pool = "warehouse"
        command = 'true'
        [jobs.swap]
        schedule = "* * * * * *"
        timezone = "UTC"
        overlap = "replace"
        pool = "warehouse"
        command = 'true'
    """)
    holder = cronplus(project, "trigger", "hold", "--wait")
    wait_until(lambda: project.store().pool_entries()[0], timeout=15)
    d = daemon()
    d.wait_started()
    assert holder.wait(timeout=20) == 0
    wait_until(lambda: any(r.status is RunStatus.SUCCEEDED for r in runs_of(project, "tick")))
    tick = runs_of(project, "tick")
    first = next(r for r in tick if r.status is RunStatus.SUCCEEDED)
    assert (first.attempts[0].started_at - first.scheduled_for).total_seconds() > 1.0
    skipped = [r.reason for r in tick if r.status is RunStatus.SKIPPED]
    assert f"previous run {first.id} of the job was still running" in skipped
    swapped = [r for r in runs_of(project, "swap") if r.status is RunStatus.INTERRUPTED]
    assert swapped and all("replaced" in (r.reason or "") for r in swapped)
    # The pool held again from outside: the daemon's runs wait, then it stops.
    again = cronplus(project, "trigger", "hold", "--wait")
    line = lambda: project.store().pool_entries()[1]  # noqa: E731
    wait_until(lambda: any(e.job == "tick" for e in line()), timeout=15)
    assert d.terminate() == 0
    waited = [r for r in runs_of(project, "tick") if r.status is RunStatus.INTERRUPTED]
    assert waited and waited[0].reason == "cronplus stopped before the run started"
    assert line() == []
    assert again.wait(timeout=20) == 0


def test_an_adopted_attempt_keeps_its_slot_and_a_settled_waiters_place_is_freed(project, daemon):
    """A SIGKILLed daemon's job goes on: the next daemon adopts it with its slot, and
    settles a `trigger` waiting behind it, SIGKILLed too, giving up its place in line."""
    from test_daemon import once_in

    project.write(f"""
        [pools]
        warehouse = 1
        [jobs.slow]
        schedule = "{once_in(2)}"
        timezone = "UTC"
        pool = "warehouse"
        command = 'sleep 3'
        [jobs.next]
        pool = "warehouse"
        command = 'true'
    """)
    first = daemon()
    first.wait_started()
    wait_until(lambda: project.store().pool_entries()[0], timeout=15)
    waiter = cronplus(project, "trigger", "next", "--wait")
    wait_until(lambda: project.store().pool_entries()[1], timeout=15)
    os.kill(first.proc.pid, signal.SIGKILL)
    os.kill(waiter.pid, signal.SIGKILL)
    first.proc.wait(), waiter.wait()
    second = daemon()
    second.wait_started()
    holders, line = project.store().pool_entries()
    assert [(e.job, e.pid) for e in holders] == [("slow", second.proc.pid)] and line == []
    # named as the adopter, whole: a waiter elsewhere must not take it for a reused pid
    adopter = (procs.host(), procs.boot_id(), procs.start_ticks(second.proc.pid))
    assert (holders[0].host, holders[0].boot_id, holders[0].start_ticks) == adopter
    assert procs.gone(holders[0].host, second.proc.pid, *adopter[1:]) is False
    third = cronplus(project, "trigger", "next", "--wait")
    _, err = third.communicate(timeout=20)
    assert third.returncode == 0, err.decode()
    assert [r.status for r in runs_of(project, "slow")] == [RunStatus.SUCCEEDED]
    assert project.store().pool_entries() == ([], [])
