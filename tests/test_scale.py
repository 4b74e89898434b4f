"""With many jobs, the work of a command or of a daemon's wake-up grows with the jobs
asked about or due, never with the square of the number of jobs (issue 12). Checked
by counting calls and look-ups, not by timing: the timings live in bench/many_jobs.py
and bench/busy.py."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FakeClock, traced_statements

from cronplus import engine as engine_module
from cronplus import graph, report
from cronplus.config import config_dag, load_config, pipeline_schedule
from cronplus.dispatch import Dispatcher
from cronplus.due import Due
from cronplus.engine import Engine
from cronplus.errors import StateError
from cronplus.model import Claim, Config, RunStatus, Trigger
from cronplus.paths import StatePaths

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def many_jobs(n: int) -> str:
    """Blocks of five: a root every hour, two jobs after it, one after both, a lone one."""
    parts = []
    for i in range(n):
        block, k = i // 5, i % 5
        lines = [f"[jobs.j{i}]", 'command = "true"']
        if k in (1, 2):
            lines.append(f'after = ["j{block * 5}"]')
        elif k == 3:
            lines.append(f'after = ["j{block * 5 + 1}", "j{block * 5 + 2}"]')
        else:
            lines += [f'schedule = "{i % 60} * * * *"', 'timezone = "UTC"']
        if i % 7 == 6:
            lines.append("enabled = false")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


@pytest.fixture
def count_orders(monkeypatch):
    calls = []
    real = graph.topological_order

    def counted(deps):
        calls.append(len(deps))
        return real(deps)

    monkeypatch.setattr(graph, "topological_order", counted)
    return calls


def test_loading_works_out_the_order_once(project, count_orders):
    project.write(many_jobs(1_000))
    config = load_config(project.jobs_file)
    assert len(config.jobs) == 1_000
    assert count_orders == [1_000]


def test_a_status_of_every_job_works_out_the_order_once(project, count_orders):
    project.write(many_jobs(1_000))
    config = project.config()
    store = project.store()
    count_orders.clear()
    rows = report.job_statuses(config, store, list(config.jobs), T0)
    for j in config.jobs.values():
        report.upcoming(config, j, T0, 2)
        report.day_report(config, store, j, T0.date(), T0)
    assert len(rows) == 1_000
    assert count_orders == [1_000]


def test_the_order_is_worked_out_again_for_another_config(project, count_orders):
    project.write(many_jobs(10))
    first, second = project.config(), project.config()
    count_orders.clear()
    pipeline_schedule(first, "j3")
    pipeline_schedule(first, "j8")
    assert pipeline_schedule(second, "j3") == pipeline_schedule(first, "j3")
    assert count_orders == [10, 10, 10]  # first, second, first again: the last one is kept


def test_on_schedule_leaves_out_jobs_below_a_disabled_one(project):
    project.write(many_jobs(15))
    config = project.config()
    # j6 (after j5) is disabled, so j8 (after j6 and j7) never runs; j13 is disabled.
    assert report.on_schedule(config) == {f"j{i}" for i in range(15)} - {"j6", "j8", "j13"}


def test_cycle_search_walks_no_job_twice_without_cycles(monkeypatch):
    """Looking for cycles from each job in turn walked the graph once per job."""
    walks = []
    real = graph._reach

    def counted(start, edges, allowed):
        walks.append(start)
        return real(start, edges, allowed)

    monkeypatch.setattr(graph, "_reach", counted)
    chain = {f"n{i}": [f"n{i - 1}"] if i else [] for i in range(20_000)}
    assert graph.find_cycles(chain) == []
    assert walks == []
    chain["n0"] = ["n3"]
    assert graph.find_cycles(chain) == [["n0", "n1", "n2", "n3", "n0"]]
    assert set(walks) <= {"n0", "n1", "n2", "n3"}


def _random_dag(rng: random.Random, n: int) -> dict[str, list[str]]:
    names = [f"x{i}" for i in range(n)]
    rng.shuffle(names)  # file order is not run order
    rank = {name: i for i, name in enumerate(sorted(names, key=lambda s: int(s[1:])))}
    deps = {}
    for name in names:
        earlier = [m for m in names if rank[m] < rank[name]]
        picked = rng.sample(earlier, min(len(earlier), rng.choice((0, 0, 1, 2, 3))))
        deps[name] = picked + (["unknown"] if rng.random() < 0.05 else [])
    return deps


def _closure(deps, name, edges):
    seen, todo = set(), [name]
    while todo:
        for nxt in edges(todo.pop()):
            if nxt in deps and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen - {name}


@pytest.mark.parametrize("seed", range(20))
def test_dag_answers_as_the_definitions_say(seed):
    rng = random.Random(seed)
    deps = _random_dag(rng, 40)
    dag = graph.Dag(deps)
    order = graph.topological_order(deps)
    assert dag.order == order
    after = {n: [m for m in deps if n in deps[m]] for n in deps}
    for name in deps:
        up = _closure(deps, name, lambda n: deps[n])
        down = _closure(deps, name, lambda n: after[n])
        assert dag.upstream(name) == [n for n in order if n in up]
        assert dag.downstream(name) == [n for n in order if n in down]
        roots = [name] if not deps[name] else [n for n in order if n in up and not deps[n]]
        assert dag.pipeline_roots(name) == roots
        assert dag.dependents(name) == after[name]
    with pytest.raises(KeyError):
        dag.upstream("unknown")


def test_a_config_keeps_its_dag(project):
    project.write(many_jobs(10))
    config = project.config()
    assert config_dag(config) is config_dag(config)
    other = Config(path=config.path, jobs=dict(config.jobs))
    assert config_dag(other) is not config_dag(config)


# -- the daemon's wake-up ------------------------------------------------------------------


class CountingJobs(dict):
    """config.jobs that notes every job looked up."""

    def __init__(self, jobs):
        super().__init__(jobs)
        self.looked_up: list[str] = []

    def __getitem__(self, name):
        self.looked_up.append(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.looked_up.append(name)
        return super().get(name, default)


def test_a_wake_up_looks_only_at_the_jobs_due(project, monkeypatch):
    """1,000 hourly jobs and a per-second probe: a step when only the probe is due
    looks up the probe alone and advances its fire times alone."""
    hourly = "\n".join(
        f'[jobs.h{i}]\nschedule = "{i % 60} 3 * * *"\ntimezone = "UTC"\ncommand = "true"\n'
        for i in range(1_000)
    )
    project.write(hourly + '[jobs.probe]\nschedule = "* * * * * *"\ncommand = "true"\n')
    advanced: list[str] = []
    real = engine_module.fire_times

    def counting_fire_times(schedule, tz, after, until=None):
        name = "probe" if schedule.expr == "* * * * * *" else "hourly"
        for t in real(schedule, tz, after, until):
            advanced.append(name)
            yield t

    monkeypatch.setattr(engine_module, "fire_times", counting_fire_times)
    config = project.config()
    jobs = CountingJobs(config.jobs)
    config = Config(path=config.path, jobs=jobs)
    store = project.store()
    clock = FakeClock(T0)
    dispatcher = Dispatcher(config, store, StatePaths(project.state), clock=clock)
    engine = Engine(config, store, dispatcher, clock=clock)
    engine.start(T0)
    try:
        for k in range(1, 4):
            jobs.looked_up.clear()
            advanced.clear()
            now = T0 + timedelta(seconds=k)
            clock.set(now)
            assert engine.step(now) == now + timedelta(seconds=1)
            assert set(jobs.looked_up) == {"probe"}
            assert advanced == ["probe"]
    finally:
        dispatcher.shutdown()
        dispatcher.wait_all()
    assert len(store.history("probe")) == 3


def test_due_gives_jobs_by_time_then_by_when_they_were_added():
    due = Due()
    t = T0 + timedelta(seconds=5)
    due.set("b", t)
    due.set("a", t)
    due.set("c", T0 + timedelta(seconds=1))
    due.set("gone", T0)
    due.set("gone", None)
    assert due.first() == T0 + timedelta(seconds=1)
    assert due.pop_due(T0) is None
    assert due.pop_due(t) == "c"
    due.at["c"] = t + timedelta(seconds=1)
    due.back("c")
    assert [due.pop_due(t), due.pop_due(t), due.pop_due(t)] == ["b", "a", None]
    due.set("b", t + timedelta(seconds=2))  # b back at a later time: one entry, not two
    assert due.pop_due(t + timedelta(seconds=9)) == "c"
    assert due.pop_due(t + timedelta(seconds=9)) == "b"
    assert due.pop_due(t + timedelta(seconds=9)) is None


def test_due_compares_instants_across_zones():
    from zoneinfo import ZoneInfo

    due = Due()
    berlin = ZoneInfo("Europe/Berlin")
    due.set("utc", T0 + timedelta(minutes=30))
    due.set("berlin", datetime(2026, 11, 23, 11, 10, tzinfo=berlin))  # 10:10 UTC
    assert due.first() == datetime(2026, 11, 23, 11, 10, tzinfo=berlin)
    assert due.pop_due(T0 + timedelta(hours=1)) == "berlin"


def _status_statements(project, n: int) -> int:
    """Store statements a status of `n` jobs issues, each job with runs in the hour
    before T0: succeeded, failed, or a skipped one after a failure (the newest run is
    then not the newest finished one)."""
    from cronplus.model import Claim, RunStatus, Trigger
    from cronplus.schedule import fire_times, parse_schedule
    from cronplus.zones import zone

    project.write(many_jobs(n))
    config = project.config()
    store = project.store()
    for i, name in enumerate(config.jobs):
        expr = pipeline_schedule(config, name)[0]
        t = next(fire_times(parse_schedule(expr), zone("UTC"), after=T0 - timedelta(hours=1)))
        kinds = [(RunStatus.SUCCEEDED,), (RunStatus.FAILED,), (RunStatus.FAILED, RunStatus.SKIPPED)]
        for k, status in enumerate(kinds[i % 3]):
            at = t - timedelta(hours=len(kinds[i % 3]) - 1 - k)
            store.claim_run(name, at, Trigger.SCHEDULE, Claim(owner=None, now=at, status=status))
    store.close()
    with traced_statements() as issued:
        store = project.store()
        try:
            rows = report.job_statuses(config, store, list(config.jobs), T0)
        finally:
            store.close()
    assert len(rows) == n and all(r.last_run is not None for r in rows)
    assert sum(r.last_finished is not r.last_run for r in rows) == n // 3
    assert not any(r.overdue for r in rows)
    return len(issued)


def test_a_status_issues_as_many_store_statements_for_1000_jobs_as_for_20(project):
    """Two queries a job (its newest run, its newest finished one) made a status of
    1,000 jobs issue some 2,000 statements. Reading a batch of runs reads their
    attempts 500 runs at a time, so a few statements more are allowed, never one a job."""
    small = _status_statements(project, 20)
    big = _status_statements(project, 1_000)
    assert big <= small + 4, (small, big)


def _busy_instant(project, n: int):
    """`n` jobs due at T0 + 5 s, and an engine started at T0 with slots for them all."""
    project.write(
        "\n".join(
            f'[jobs.j{i}]\nschedule = "5 * * * * *"\ntimezone = "UTC"\ncommand = "true"\n'
            for i in range(n)
        )
    )
    config, store = project.config(), project.store()
    clock = FakeClock(T0)
    paths = StatePaths(project.state)
    dispatcher = Dispatcher(config, store, paths, clock=clock, max_parallel=n)
    engine = Engine(config, store, dispatcher, clock=clock)
    engine.start(T0)
    clock.set(T0 + timedelta(seconds=5))
    return engine, store, dispatcher


@pytest.mark.parametrize("n", [1, 17])
def test_the_runs_due_at_one_instant_cost_the_step_two_commits(project, monkeypatch, n):
    """However many runs are due at once, the step claims them in one transaction and
    records their attempts in one more, then starts their processes."""
    engine, store, dispatcher = _busy_instant(project, n)
    commits = []
    real = store._db.tx
    engine_thread = threading.current_thread()

    def counted(locked: bool = True):
        if threading.current_thread() is engine_thread:  # not the runs' own threads
            commits.append(1)
        return real(locked)

    monkeypatch.setattr(store._db, "tx", counted)
    try:
        engine.step(T0 + timedelta(seconds=5))
    finally:
        monkeypatch.undo()
        dispatcher.shutdown()
        dispatcher.wait_all()
    assert len(commits) == 2
    runs = [store.find_run(f"j{i}", T0 + timedelta(seconds=5)) for i in range(n)]
    assert all(r is not None and len(r.attempts) == 1 for r in runs)


def test_fire_times_due_together_whose_claim_the_state_refused_are_claimed_later(
    project, monkeypatch
):
    engine, store, dispatcher = _busy_instant(project, 5)
    t = T0 + timedelta(seconds=5)
    real = store.claim_many

    def refused(*args, **kw):
        raise StateError("disk full")

    monkeypatch.setattr(store, "claim_many", refused)
    try:
        assert engine.step(t) > t  # tried again later
        assert [store.find_run(f"j{i}", t) for i in range(5)] == [None] * 5
        monkeypatch.setattr(store, "claim_many", real)
        engine.step(t + timedelta(seconds=1))  # within start_grace: they start now
        dispatcher.wait_all(10)
    finally:
        dispatcher.shutdown()
        dispatcher.wait_all()
    for i in range(5):
        (run,) = store.runs_between(f"j{i}", t, t + timedelta(minutes=1))
        assert (run.scheduled_for, run.status) == (t, RunStatus.SUCCEEDED)


def test_a_reload_before_a_started_run_has_its_thread_neither_skips_it_nor_loses_its_slot(
    project, monkeypatch
):
    """A run started with others due at its instant has its process before its thread
    runs; a reload meanwhile that removes its job must not record it skipped (its
    process runs), and the slot it holds comes back when it ends."""
    engine, store, dispatcher = _busy_instant(project, 2)
    t = T0 + timedelta(seconds=5)
    held = []
    submit = dispatcher._workers.submit
    monkeypatch.setattr(dispatcher._workers, "submit", lambda *task: held.append(task))
    try:
        engine.step(t)  # spawned, the threads' tasks held back
        assert len(held) == 2
        project.write('[jobs.other]\nschedule = "0 0 1 1 *"\ncommand = "true"\n')
        engine.apply(project.config(), t)  # the reload removes j0 and j1
        for task in held:
            submit(*task)
        dispatcher.wait_all(10)
    finally:
        dispatcher.shutdown()
        dispatcher.wait_all()
    for name in ("j0", "j1"):
        run = store.find_run(name, t)
        assert (run.status, len(run.attempts)) == (RunStatus.SUCCEEDED, 1), run
    assert dispatcher.runner.slots.try_take() and dispatcher.runner.slots.try_take()


def test_fire_times_given_back_after_their_claim_took_alert_no_missed_run(project, monkeypatch):
    """The batch's claim took, then a later write of the step failed: the fire times
    go back to their jobs, and the next step finds their runs. None of them is
    recorded or alerted as missed: they ran."""
    engine, store, dispatcher = _busy_instant(project, 3)
    t = T0 + timedelta(seconds=5)
    store.claim_run("j2", t, Trigger.SCHEDULE, Claim(owner=1, now=t))  # goes through start
    alerts = []
    monkeypatch.setattr(dispatcher, "alert", lambda event, *a, **kw: alerts.append(a))
    real = dispatcher.start

    def refused(*args, **kw):
        raise StateError("disk full")

    monkeypatch.setattr(dispatcher, "start", refused)
    try:
        engine.step(t)  # j0 and j1 claimed and started, then the write for j2 failed
        monkeypatch.setattr(dispatcher, "start", real)
        dispatcher.wait_all(10)  # ended: the next minute's fire times find nothing going
        engine.step(t + timedelta(seconds=61))  # past start_grace: not started again
        dispatcher.wait_all(10)
    finally:
        dispatcher.shutdown()
        dispatcher.wait_all()
    assert [a for a in alerts if t in a[1]] == []
    for i in range(2):
        assert store.find_run(f"j{i}", t).status is RunStatus.SUCCEEDED


def test_due_by_gives_the_jobs_due_up_to_an_instant_and_no_other():
    due = Due()
    for i in range(50):
        due.set(f"j{i}", T0 + timedelta(seconds=i % 10))
    assert sorted(due.due_by(T0 + timedelta(seconds=1))) == sorted(
        f"j{i}" for i in range(50) if i % 10 <= 1
    )
    assert due.due_by(T0 - timedelta(seconds=1)) == []


def test_the_log_folders_of_the_jobs_due_next_are_made_while_the_engine_waits(project):
    """A job's first run makes no folder on the way to its process (issue 12): the
    step before makes those of the jobs due next, and of no other."""
    project.write(
        '[jobs.soon]\nschedule = "5 * * * * *"\ntimezone = "UTC"\ncommand = "true"\n'
        '[jobs.later]\nschedule = "7 * * * * *"\ntimezone = "UTC"\ncommand = "true"\n'
    )
    config, store = project.config(), project.store()
    clock = FakeClock(T0)
    paths = StatePaths(project.state)
    dispatcher = Dispatcher(config, store, paths, clock=clock)
    engine = Engine(config, store, dispatcher, clock=clock)
    engine.start(T0)
    try:
        assert engine.step(T0) == T0 + timedelta(seconds=5)
        assert (paths.logs / "soon").is_dir()
        assert not (paths.logs / "later").exists()
        clock.set(T0 + timedelta(seconds=5))
        engine.step(T0 + timedelta(seconds=5))
        assert (paths.logs / "later").is_dir()
    finally:
        dispatcher.shutdown()
        dispatcher.wait_all()


def test_a_reloaded_job_starts_with_its_new_environment(project, monkeypatch):
    """The environment is worked out once per job, and again for a job a reload
    changed."""
    from dataclasses import replace

    from cronplus.model import Trigger
    from cronplus.spawner import Spawner

    monkeypatch.delenv("X", raising=False)
    project.write('[jobs.a]\ncommand = \'printf "%s" "$X"\'\nenv = { X = "old" }\n')
    config = project.config()
    paths = StatePaths(project.state)
    clock = FakeClock(T0)
    spawner = Spawner(paths, clock)
    store = project.store()
    outputs = []
    for job in (config.jobs["a"], replace(config.jobs["a"], env={})):
        run = store.claim_run("a", T0, Trigger.MANUAL, Claim(owner=1, now=T0))
        run = run or store.claim_run("a", T0 + timedelta(1), Trigger.MANUAL, Claim(owner=1, now=T0))
        log = paths.attempt_log("a", run.id, 1)
        handle = spawner.spawn(config.folder, job, run, 1, Trigger.MANUAL, log, T0)
        handle.wait()
        outputs.append(log.read_text())
    assert outputs == ["old", ""]  # not the environment worked out for the old job


def test_a_run_takes_the_thread_an_earlier_run_parked():
    """No thread made per run (issue 12): the second run's thread is the first's,
    named after the run it executes."""
    from cronplus.workers import Workers

    workers = Workers(keep=4)
    seen = []

    def note():
        me = threading.current_thread()
        seen.append((me, me.name))  # the Thread itself: an ident may be reused

    workers.submit("run-1", note)
    workers.wait_idle()
    workers.submit("run-2", note)
    workers.wait_idle()
    assert [name for _, name in seen] == ["run-1", "run-2"]
    assert seen[0][0] is seen[1][0]


def test_waiting_for_the_workers_waits_for_the_runs_their_runs_start():
    from cronplus.workers import Workers

    workers = Workers(keep=1)
    done = []
    gate = threading.Event()

    def second():
        gate.wait(5)
        done.append(2)

    def first():
        workers.submit("run-2", second)  # a dependent released by a run's thread
        done.append(1)

    workers.submit("run-1", first)
    threading.Timer(0.2, gate.set).start()
    workers.wait_idle()
    assert done == [1, 2]


def test_no_more_threads_stay_parked_than_kept():
    from cronplus.workers import Workers

    workers = Workers(keep=1)
    gate = threading.Barrier(4)
    threads = []

    def run():
        threads.append(threading.current_thread())
        gate.wait(5)

    for i in range(3):  # three at once: three threads
        workers.submit(f"run-{i}", run)
    gate.wait(5)
    workers.wait_idle()
    for t in threads:  # the two not kept end once their run is done
        t.join(0.05)
    for _ in range(100):
        if sum(t.is_alive() for t in threads) <= 1:
            break
        threads[0].join(0.05)
    assert len(set(threads)) == 3
    assert sum(t.is_alive() for t in threads) == 1


def test_a_parked_thread_keeps_nothing_of_its_run_alive():
    """`trigger` leaves its store to be closed when nothing refers to it (then SQLite
    removes its write-ahead log): a parked thread must not hold it."""
    import gc
    import weakref

    from cronplus.workers import Workers

    class Held:
        def run(self) -> None:
            pass

    workers = Workers(keep=2)
    held = [Held(), Held()]
    refs = [weakref.ref(h) for h in held]
    workers.submit("run-1", held[0].run)  # a new thread's first task
    workers.wait_idle()
    workers.submit("run-2", held[1].run)  # a parked thread's
    workers.wait_idle()
    del held
    gc.collect()
    assert [r() for r in refs] == [None, None]
