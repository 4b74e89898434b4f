"""Scheduling decisions through Engine.step(now) with a fake clock, and what dispatch
does with a run: retries with backoff, dependencies, upstream_failed. Jobs are real
processes; only the engine's sense of "now" is injected."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FakeClock, wait_until

from cronplus.dispatch import Dispatcher
from cronplus.engine import Engine
from cronplus.model import Claim, RetryPolicy, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.trigger import run_now

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def make_engine(project, clock, **kw):
    config = project.config()
    store = project.store()
    dispatcher = Dispatcher(
        config,
        store,
        StatePaths(project.state),
        clock=clock,
        max_parallel=kw.pop("max_parallel", 8),
    )
    engine = Engine(config, store, dispatcher, clock=clock, **kw)
    engine.start(clock.now())
    return engine, store, dispatcher


def test_step_starts_a_run_at_its_fire_time_and_not_before(project):
    project.write("""
        [jobs.tick]
        schedule = "0 * * * * *"
        timezone = "UTC"
        command = "true"
    """)
    clock = FakeClock(T0 + timedelta(seconds=1))
    engine, store, dispatcher = make_engine(project, clock)
    fire = T0 + timedelta(minutes=1)
    assert engine.next_due() == fire
    assert engine.step(fire - timedelta(microseconds=1)) == fire
    assert store.history("tick") == []
    clock.set(fire)
    assert engine.step(fire) == fire + timedelta(minutes=1)
    dispatcher.wait_all()
    (run,) = store.history("tick")
    assert (run.scheduled_for, run.trigger, run.status) == (
        fire,
        Trigger.SCHEDULE,
        RunStatus.SUCCEEDED,
    )


def test_fire_time_while_previous_run_still_runs_is_skipped_with_reason(project):
    project.write("""
        [jobs.slow]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = "sleep 30"
        kill_grace = 1
    """)
    clock = FakeClock(T0)
    engine, store, dispatcher = make_engine(project, clock)
    engine.step(T0 + timedelta(seconds=1))
    first = store.find_run("slow", T0 + timedelta(seconds=1))
    engine.step(T0 + timedelta(seconds=2))
    second = store.find_run("slow", T0 + timedelta(seconds=2))
    assert second.status is RunStatus.SKIPPED
    assert second.reason == f"previous run {first.id} of the job was still running"
    dispatcher.shutdown()
    dispatcher.wait_all()
    assert store.get_run(first.id).status is RunStatus.INTERRUPTED


def test_fire_time_past_start_grace_is_recorded_skipped(project):
    project.write("""
        [jobs.tick]
        schedule = "0 * * * *"
        timezone = "UTC"
        command = "true"
    """)
    clock = FakeClock(T0 - timedelta(seconds=1))
    engine, store, dispatcher = make_engine(project, clock)
    engine.step(T0 + timedelta(seconds=61))
    run = store.find_run("tick", T0)
    assert run.status is RunStatus.SKIPPED
    assert "could not start it within 60s" in run.reason


def test_disabled_jobs_and_triggered_only_jobs_are_not_scheduled(project):
    project.write("""
        [jobs.off]
        schedule = "* * * * * *"
        command = "true"
        enabled = false

        [jobs.manual]
        command = "true"
    """)
    engine, _, _ = make_engine(project, FakeClock(T0))
    assert engine.next_due() is None


def test_retries_follow_delay_times_backoff(project):
    project.write("""
        [jobs.flaky]
        command = "exit 4"
        retries = 2
        retry_delay = 0.3
        retry_backoff = 2.0
    """)
    (run,) = run_now(project.config(), project.store(), StatePaths(project.state), "flaky")
    assert run.status is RunStatus.FAILED
    got = project.store().get_run(run.id)
    a1, a2, a3 = got.attempts
    assert [a.exit_code for a in got.attempts] == [4, 4, 4]
    gap1 = (a2.started_at - a1.finished_at).total_seconds()
    gap2 = (a3.started_at - a2.finished_at).total_seconds()
    assert 0.3 <= gap1 < 0.3 + 0.5
    assert 0.6 <= gap2 < 0.6 + 0.5
    assert "exit code 4" in got.reason


def test_a_retry_waits_its_delay_on_the_runs_clock(project):
    """Retry delays are measured on the injected clock: moving a fake clock past the
    delay starts the next attempt at once, and the records show the delay exactly."""
    project.write("""
        [jobs.flaky]
        command = "exit 4"
        retries = 2
        retry_delay = "1h"
        retry_backoff = 2.0
    """)
    clock = FakeClock(T0)
    store = project.store()
    done = []
    config, paths = project.config(), StatePaths(project.state)
    runner = threading.Thread(
        target=lambda: done.extend(run_now(config, store, paths, "flaky", clock=clock)),
        daemon=True,  # a failing test must not leave the process waiting three hours
    )
    started = time.monotonic()
    runner.start()
    for attempts, delay in ((1, 3600), (2, 7200)):
        # The failed attempt is recorded and the run waits its retry, still on attempt n.
        waiting = wait_until(lambda n=attempts: _waiting_after(project.store(), n))
        assert f"retry in {delay}s" in waiting.reason
        clock.advance(delay)
    runner.join(10)
    assert not runner.is_alive() and done[0].status is RunStatus.FAILED
    a1, a2, a3 = project.store().get_run(done[0].id).attempts
    assert a2.started_at - a1.finished_at == timedelta(hours=1)
    assert a3.started_at - a2.finished_at == timedelta(hours=2)
    assert time.monotonic() - started < 10  # three hours of retries, not waited for


def _waiting_after(store, attempts):
    runs = store.history("flaky")  # none until the run is claimed
    ended = [a for a in runs[0].attempts if a.finished_at is not None] if runs else []
    return runs[0] if len(ended) == attempts and runs[0].status is RunStatus.RUNNING else None


def test_an_attempt_is_recorded_on_the_clock_of_its_run(project):
    project.write("""
        [jobs.j]
        command = "true"
    """)
    clock = FakeClock(T0)
    store = project.store()
    (run,) = run_now(project.config(), store, StatePaths(project.state), "j", clock=clock)
    got = store.get_run(run.id)
    (attempt,) = got.attempts
    assert (got.scheduled_for, got.started_at, got.finished_at) == (T0, T0, T0)
    assert (attempt.started_at, attempt.finished_at) == (T0, T0)


def test_retry_max_delay_caps_the_backoff(project):
    project.write("""
        [jobs.flaky]
        command = "exit 1"
        retries = 2
        retry_delay = 0.2
        retry_backoff = 10
        retry_max_delay = 0.3
    """)
    (run,) = run_now(project.config(), project.store(), StatePaths(project.state), "flaky")
    a1, a2, a3 = project.store().get_run(run.id).attempts
    assert 0.3 <= (a3.started_at - a2.finished_at).total_seconds() < 0.3 + 0.5


def test_retry_delay_is_clamped_instead_of_overflowing():
    # validate rejects such a policy; the daemon must still never die of one.
    longest = timedelta(days=999_999_999)
    huge = RetryPolicy(retries=3, backoff=1e308)
    assert huge.delay_before_retry(1) == timedelta(seconds=30)
    assert huge.delay_before_retry(3) == longest
    assert RetryPolicy(retries=5000).delay_before_retry(5000) == longest
    capped = RetryPolicy(retries=3, backoff=1e308, max_delay=timedelta(hours=1))
    assert capped.delay_before_retry(3) == timedelta(hours=1)
    assert RetryPolicy(retries=3, delay=timedelta(0), backoff=1e308).delay_before_retry(3) == (
        timedelta(0)
    )


def test_a_retry_delay_of_centuries_waits_until_the_stop(project):
    # 900,000,000 days is a valid delay, but longer than threading can wait at once.
    project.write("""
        [jobs.patient]
        command = "exit 1"
        retries = 1
        retry_delay = "900000000d"
    """)
    config, store, paths = project.config(), project.store(), StatePaths(project.state)
    d = Dispatcher(config, store, paths)
    run = store.claim_run("patient", T0, Trigger.MANUAL, Claim(owner=os.getpid(), now=T0))
    d.submit(run)
    wait_until(lambda: (store.get_run(run.id).reason or "").endswith("retry in 7.776e+13s"))
    assert store.get_run(run.id).status is RunStatus.RUNNING
    d.shutdown()
    d.wait_all()
    got = store.get_run(run.id)
    assert (got.status, got.reason) == (
        RunStatus.INTERRUPTED,
        "interrupted: cronplus stopped while the run waited for a retry",
    )


def test_retry_that_succeeds_ends_succeeded_with_attempt_env(project):
    project.write("""
        [jobs.second_time_lucky]
        command = 'echo "$CRONPLUS_ATTEMPT" >> attempts.txt; [ "$CRONPLUS_ATTEMPT" = 2 ]'
        retries = 3
        retry_delay = 0
    """)
    (run,) = run_now(
        project.config(), project.store(), StatePaths(project.state), "second_time_lucky"
    )
    assert run.status is RunStatus.SUCCEEDED
    assert (project.root / "attempts.txt").read_text().split() == ["1", "2"]


def test_fan_in_runs_once_after_both_upstreams(project):
    project.write("""
        [jobs.extract_a]
        command = "echo a >> order.txt"
        [jobs.extract_b]
        command = "echo b >> order.txt"
        [jobs.load]
        after = ["extract_a", "extract_b"]
        command = "echo load >> order.txt"
    """)
    config, store, paths = project.config(), project.store(), StatePaths(project.state)
    d = Dispatcher(config, store, paths, max_parallel=4)
    t = T0
    runs = [
        store.claim_run(j, t, Trigger.MANUAL, Claim(owner=os.getpid(), now=t))
        for j in ("extract_a", "extract_b")
    ]
    for r in runs:
        d.submit(r)
    d.wait_all()
    load = store.find_run("load", t)
    assert load is not None and load.status is RunStatus.SUCCEEDED
    lines = (project.root / "order.txt").read_text().split()
    assert sorted(lines[:2]) == ["a", "b"] and lines[2:] == ["load"]


def test_failure_marks_every_downstream_job_upstream_failed(project):
    project.write("""
        [jobs.extract]
        command = "exit 2"
        [jobs.transform]
        after = ["extract"]
        command = "true"
        [jobs.load]
        after = ["transform"]
        command = "true"
        [jobs.report]
        after = ["load", "extract"]
        command = "true"
    """)
    runs = run_now(project.config(), project.store(), StatePaths(project.state), "extract")
    by_job = {r.job: r for r in runs}
    assert by_job["extract"].status is RunStatus.FAILED
    extract_id = by_job["extract"].id
    for job in ("transform", "load", "report"):
        r = project.store().find_run(job, by_job["extract"].scheduled_for)
        assert r.status is RunStatus.UPSTREAM_FAILED
        assert r.attempts == () and r.reason == (
            f'upstream job "extract" run {extract_id} ended failed'
        )


def test_max_parallel_queues_due_runs_oldest_first(project):
    project.write("""
        [jobs.gate]
        command = 'touch started; while [ ! -f go ]; do sleep 0.02; done'
        [jobs.a]
        command = 'echo "a $CRONPLUS_SCHEDULED_FOR" >> order.txt'
        [jobs.b]
        command = 'echo "b $CRONPLUS_SCHEDULED_FOR" >> order.txt'
    """)
    config, store, paths = project.config(), project.store(), StatePaths(project.state)
    d = Dispatcher(config, store, paths, max_parallel=1)
    d.submit(
        store.claim_run(
            "gate", T0 - timedelta(hours=1), Trigger.MANUAL, Claim(owner=os.getpid(), now=T0)
        )
    )
    wait_until(lambda: (project.root / "started").exists())
    # The one slot is taken: the runs below all wait for it, submitted newest first.
    d.submit(
        store.claim_run(
            "b", T0 + timedelta(seconds=2), Trigger.MANUAL, Claim(owner=os.getpid(), now=T0)
        )
    )
    d.submit(store.claim_run("a", T0, Trigger.MANUAL, Claim(owner=os.getpid(), now=T0)))
    d.submit(
        store.claim_run(
            "b", T0 + timedelta(seconds=1), Trigger.MANUAL, Claim(owner=os.getpid(), now=T0)
        )
    )
    wait_until(lambda: d.runner.slots.waiting == 3)
    (project.root / "go").touch()
    d.wait_all()
    jobs = [
        line.split()[0] + line.split()[1][17:19]
        for line in (project.root / "order.txt").read_text().splitlines()
    ]
    assert jobs == ["a00", "b01", "b02"]


def test_a_run_cut_short_by_a_stop_does_not_block_its_dependents(project):
    project.write("""
        [jobs.extract]
        command = "sleep 30"
        kill_grace = 1
        [jobs.load]
        after = ["extract"]
        command = "true"
    """)
    config, store, paths = project.config(), project.store(), StatePaths(project.state)
    d = Dispatcher(config, store, paths, max_parallel=2)
    run = store.claim_run("extract", T0, Trigger.MANUAL, Claim(owner=os.getpid(), now=T0))
    d.submit(run)
    wait_until(lambda: store.get_run(run.id).attempts)
    d.shutdown()
    d.wait_all()
    assert store.get_run(run.id).status is RunStatus.INTERRUPTED
    assert store.find_run("load", T0) is None


def test_overlap_queue_starts_one_waiting_run_when_the_previous_ends(project):
    # Each run waits for its go-file, so the test decides when a run ends.
    project.write("""
        [jobs.slow]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = 'while ! test -e "go-$CRONPLUS_RUN_ID"; do sleep 0.02; done'
        overlap = "queue"
    """)
    clock = FakeClock(T0)
    engine, store, dispatcher = make_engine(project, clock)
    for s in (1, 2, 3):
        engine.step(T0 + timedelta(seconds=s))
    first, second, third = (store.find_run("slow", T0 + timedelta(seconds=s)) for s in (1, 2, 3))
    assert (second.status, second.attempts) == (RunStatus.QUEUED, ())
    assert third.status is RunStatus.SKIPPED
    assert third.reason == f"run {second.id} of the job was already queued behind run {first.id}"
    (project.root / f"go-{first.id}").touch()
    wait_until(lambda: store.get_run(second.id).status is RunStatus.RUNNING)
    assert store.get_run(first.id).status is RunStatus.SUCCEEDED
    (project.root / f"go-{second.id}").touch()
    wait_until(lambda: store.get_run(second.id).status is RunStatus.SUCCEEDED)
    started = [store.get_run(r.id).started_at for r in (first, second)]
    assert started[1] >= store.get_run(first.id).finished_at
    dispatcher.wait_all()


def test_overlap_replace_interrupts_the_running_one_and_starts_the_new(project):
    project.write("""
        [jobs.slow]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = "sleep 30"
        kill_grace = 1
        overlap = "replace"
    """)
    clock = FakeClock(T0)
    engine, store, dispatcher = make_engine(project, clock)
    engine.step(T0 + timedelta(seconds=1))
    first = store.find_run("slow", T0 + timedelta(seconds=1))
    wait_until(lambda: store.get_run(first.id).status is RunStatus.RUNNING)
    engine.step(T0 + timedelta(seconds=2))
    second = store.find_run("slow", T0 + timedelta(seconds=2))
    wait_until(lambda: store.get_run(first.id).status.is_final)
    old = store.get_run(first.id)
    assert old.status is RunStatus.INTERRUPTED
    assert old.reason == f"interrupted: replaced by run {second.id} (overlap = replace)"
    wait_until(lambda: store.get_run(second.id).status is RunStatus.RUNNING)
    dispatcher.shutdown()
    dispatcher.wait_all()


def test_overlap_must_be_one_of_the_modes(project):
    from cronplus.errors import ConfigError

    project.write('[jobs.a]\ncommand = "true"\noverlap = "parallel"\n')
    with pytest.raises(ConfigError, match='overlap must be one of "skip", "queue", "replace"'):
        project.config()


def _down_for_five_minutes(project, catchup, extra=""):
    """A per-minute job whose last scheduled run was at T0; the engine starts 5.5 min
    later, so the fire times T0+1..T0+5 min passed while no daemon ran, all of them
    longer ago than start_grace (within it, one would merely be late)."""
    project.write(f"""
        [jobs.m]
        schedule = "* * * * *"
        timezone = "UTC"
        command = 'echo "$CRONPLUS_SCHEDULED_FOR start" >> order.txt; sleep 0.2; echo "$CRONPLUS_SCHEDULED_FOR end" >> order.txt'
        catchup = "{catchup}"
        start_grace = "10s"
        {extra}
    """)  # noqa: E501
    store = project.store()
    store.claim_run(
        "m", T0, Trigger.SCHEDULE, Claim(owner=None, now=T0, status=RunStatus.SUCCEEDED)
    )
    store.close()
    clock = FakeClock(T0 + timedelta(minutes=5, seconds=30))
    engine, store, dispatcher = make_engine(project, clock)
    dispatcher.wait_all()
    runs = {r.scheduled_for: r for r in store.history("m")}
    return [runs.get(T0 + timedelta(minutes=i)) for i in range(1, 6)], engine, store, dispatcher


def test_catchup_latest_runs_the_newest_missed_fire_time_and_skips_the_rest(project):
    runs, *_ = _down_for_five_minutes(project, "latest")
    assert [(r.status, r.trigger) for r in runs] == [(RunStatus.SKIPPED, Trigger.SCHEDULE)] * 4 + [
        (RunStatus.SUCCEEDED, Trigger.CATCHUP)
    ]
    assert {r.reason for r in runs[:4]} == {"daemon was down"}


def test_catchup_all_runs_the_newest_up_to_the_limit_oldest_first_one_at_a_time(project):
    runs, *_ = _down_for_five_minutes(project, "all", "catchup_limit = 3")
    assert [r.status for r in runs] == [RunStatus.SKIPPED] * 2 + [RunStatus.SUCCEEDED] * 3
    lines = (project.root / "order.txt").read_text().split("\n")[:-1]
    times = [(T0 + timedelta(minutes=i)).isoformat() for i in (3, 4, 5)]
    assert lines == [f"{t} {what}" for t in times for what in ("start", "end")]


def test_catchup_none_records_every_missed_fire_time_skipped(project):
    runs, *_ = _down_for_five_minutes(project, "none")
    assert [(r.status, r.reason) for r in runs] == [(RunStatus.SKIPPED, "daemon was down")] * 5


def test_fire_times_due_during_catch_up_queue_behind_it_instead_of_being_skipped(project):
    project.write("""
        [jobs.m]
        schedule = "* * * * *"
        timezone = "UTC"
        command = 'while ! test -e go; do sleep 0.02; done'
        catchup = "all"
    """)
    store = project.store()
    store.claim_run(
        "m", T0, Trigger.SCHEDULE, Claim(owner=None, now=T0, status=RunStatus.SUCCEEDED)
    )
    store.close()
    clock = FakeClock(T0 + timedelta(minutes=2, seconds=30))
    engine, store, dispatcher = make_engine(project, clock)
    # The catch-up runs for T0+1 and T0+2 min are going or waiting; T0+3 min comes due.
    engine.step(T0 + timedelta(minutes=3))
    due = store.find_run("m", T0 + timedelta(minutes=3))
    assert (due.status, due.trigger) == (RunStatus.QUEUED, Trigger.SCHEDULE)
    (project.root / "go").touch()
    dispatcher.wait_all()
    statuses = [store.find_run("m", T0 + timedelta(minutes=i)).status for i in (1, 2, 3)]
    assert statuses == [RunStatus.SUCCEEDED] * 3
    # Drained: overlap applies again.
    assert not dispatcher._lanes["m"].catching_up


def test_the_daemons_dispatcher_keeps_no_list_of_finished_runs(project):
    # A daemon runs for months: keeping every finished run in memory would grow forever.
    project.write("""
        [jobs.tick]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = "true"
    """)
    clock = FakeClock(T0)
    engine, store, dispatcher = make_engine(project, clock)
    for s in range(1, 4):
        engine.step(T0 + timedelta(seconds=s))
        dispatcher.wait_all()
    assert len(store.history("tick")) == 3
    assert dispatcher.finished == []


def test_a_reload_names_every_job_whose_definition_changed(project, caplog):
    project.write("""
        [jobs.tick]
        schedule = "0 * * * *"
        timezone = "UTC"
        command = "true"
        [jobs.same]
        schedule = "0 * * * *"
        timezone = "UTC"
        command = "true"
        [jobs.manual]
        command = "true"
        [jobs.gone]
        command = "true"
    """)
    clock = FakeClock(T0 + timedelta(seconds=1))
    engine, _, _ = make_engine(project, clock, load=project.config)
    project.write("""
        [jobs.new]
        command = "true"
        [jobs.manual]
        command = "true"
        env = { X = "1" }
        [jobs.tick]
        schedule = "0 * * * *"
        timezone = "UTC"
        command = "echo changed"
        [jobs.same]
        schedule = "0 * * * *"
        timezone = "UTC"
        command = "true"
    """)  # `same` moved down the file, nothing else
    with caplog.at_level("INFO", logger="cronplus"):
        assert engine.reload(clock.now())
    assert "event=reloaded jobs=4 added=new changed=manual,tick removed=gone" in caplog.text
    assert engine.next_due() == T0 + timedelta(hours=1)


def test_a_run_whose_attempt_cannot_start_or_be_retried_fails_with_the_cause(project):
    """Values the jobs file check cannot see (or does not refuse yet) end the run
    failed with the cause, through the failure path: dependents upstream_failed."""
    from dataclasses import replace

    from cronplus.model import RetryPolicy

    project.write("""
        [jobs.nul]
        command = "true"
        [jobs.far]
        command = 'echo x >> far.txt; exit 1'
        [jobs.capped]
        command = 'echo x >> capped.txt; exit 1'
        [jobs.after]
        after = ["nul"]
        command = "true"
    """)
    config = project.config()
    fast = timedelta(milliseconds=10)
    jobs = dict(config.jobs)
    jobs["nul"] = replace(jobs["nul"], env={"TOKEN": "a\0b"})
    jobs["far"] = replace(jobs["far"], retry=RetryPolicy(retries=3, delay=fast, backoff=1e308))
    capped = RetryPolicy(retries=2, delay=fast, backoff=1e308, max_delay=fast)
    jobs["capped"] = replace(jobs["capped"], retry=capped)
    config = replace(config, jobs=jobs)
    store = project.store()
    paths = StatePaths(project.state)

    nul, after = run_now(config, store, paths, "nul")
    assert (nul.status, nul.reason) == (
        RunStatus.FAILED,
        'cannot start: environment variable "TOKEN" contains a NUL byte',
    )
    assert after.status is RunStatus.UPSTREAM_FAILED

    # An overflowing backoff with no max_delay is clamped to the longest delay (see
    # test_a_retry_delay_of_centuries_waits_until_the_stop); validate refuses it first.
    assert jobs["far"].retry.delay_before_retry(2).days == 999_999_999
    (capped_run,) = run_now(config, store, paths, "capped")  # max_delay caps it: retried
    assert capped_run.status is RunStatus.FAILED and len(capped_run.attempts) == 3
    assert (project.root / "capped.txt").read_text() == "x\n" * 3


def test_a_clock_stepped_back_during_a_step_is_noticed_at_once(project, caplog):
    """The engine sleeps until the next fire time read after its step: a step back
    landing during the step made that 600 s away, and the jump went unnoticed for
    MAX_SLEEP_S (30 s) instead of at the next look."""
    project.write("""
        [jobs.tick]
        schedule = "0 * * * * *"
        timezone = "UTC"
        command = "true"
    """)
    clock = FakeClock(T0 + timedelta(seconds=1))
    config, store = project.config(), project.store()
    dispatcher = Dispatcher(config, store, StatePaths(project.state), clock=clock)
    engine = Engine(config, store, dispatcher, clock=clock)
    step, stepped = engine.step, []

    def step_then_the_clock_steps_back(now):
        nxt = step(now)
        if not stepped:  # once: the wall clock alone, as an NTP step moves it
            stepped.append(now)
            clock._now -= timedelta(seconds=600)
        return nxt

    engine.step = step_then_the_clock_steps_back
    caplog.set_level("INFO", logger="cronplus")
    runner = threading.Thread(target=engine.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: "detail='backward by 600" in caplog.text, timeout=5)
    finally:
        engine.request_stop()
        runner.join(10)
    store.close()


def test_a_correction_follows_each_job_from_after_its_pruned_runs(project):
    """Runs made while the clock ran 6 h ahead and pruned since have no record left
    for the claim to refuse: after the correction the job follows from after the
    newest pruned one, so those logical times are not run a second time."""
    from cronplus.retention import prune

    project.write("""
        [jobs.m]
        schedule = "* * * * *"
        timezone = "UTC"
        keep_runs = 1
        command = 'echo "$CRONPLUS_SCHEDULED_FOR" >> m.txt'
    """)
    ahead = T0 + timedelta(hours=6)
    clock = FakeClock(ahead)
    engine, store, dispatcher = make_engine(project, clock)
    config, paths = engine.config, StatePaths(project.state)
    for i in (1, 2, 3):  # 16:01, 16:02, 16:03 run while the clock is 6 h ahead
        clock.set(ahead + timedelta(minutes=i))
        engine.step(clock.now())
        dispatcher.wait_all()
    (pruned,) = prune(config, store, paths, clock.now())
    assert pruned.runs_deleted == 2  # 16:01 and 16:02 go; 16:03, the newest, stays
    before = clock.now()
    clock.set(T0)
    engine.jumped(before, T0)  # corrected: the truth is 10:00
    assert engine.next_due() == ahead + timedelta(minutes=3)  # not 10:01, nor 16:01
    for i in (3, 4):
        clock.set(ahead + timedelta(minutes=i))
        engine.step(clock.now())
        dispatcher.wait_all()
    dispatcher.shutdown()
    lines = (project.root / "m.txt").read_text().split()
    assert len(lines) == len(set(lines)) == 4  # 16:01-16:04, each once
    store.close()


def test_a_run_cronplus_failed_on_closes_its_attempt_too(project, monkeypatch):
    """A bug raised while a run's thread works (here as it records the end) is
    recorded on the run, and its attempt is closed with it: `logs -f` and the web
    wait on an attempt with no end."""
    from cronplus.runner import Runner

    project.write("""
        [jobs.j]
        command = "true"
    """)
    config, store = project.config(), project.store()

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Runner, "_finish", broken)
    clock = FakeClock(T0)
    dispatcher = Dispatcher(config, store, StatePaths(project.state), clock=clock)
    dispatcher.start(config.jobs["j"], T0, Trigger.MANUAL, T0)
    dispatcher.wait_all()
    dispatcher.shutdown()
    (run,) = store.history("j")
    assert (run.status, run.reason) == (RunStatus.INTERRUPTED, "cronplus failed while running it")
    (attempt,) = run.attempts
    assert attempt.finished_at is not None
    store.close()
