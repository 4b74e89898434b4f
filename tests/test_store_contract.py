"""The `Store` contract (cronplus/store/__init__.py), run against every backend.

A backend is a name in BACKENDS and a way to open stores on one state in
`open_backend`; a new one (PostgreSQL) adds both, and every test here runs on it.
Every method of the Protocol is exercised here: `test_every_protocol_method_is_tested`
fails for one that is not. What only SQLite has (its file, PRAGMAs, migrations) is
tested in test_store.py.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronplus.errors import StateError
from cronplus.model import Attempt, AttemptResult, Run, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.store import AlertDelivery, Claim, ConfigCopy, RunEnd, SeenRun, Store, open_store

BACKENDS = ["sqlite", "postgresql"]
T = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
ME = os.getpid()
OTHER = ME + 1  # another owner; never asked whether it is alive here


def open_backend(backend: str, where: str, *, readonly: bool = False) -> Store:
    """A store on the state at `where` (a folder for SQLite, a URL for PostgreSQL)."""
    if backend == "sqlite":
        return open_store(StatePaths(Path(where)), create=not readonly)
    if backend == "postgresql":
        return open_store(StatePaths(Path("/nonexistent"), url=where), create=not readonly)
    raise AssertionError(f"no backend {backend}")


@dataclass
class Backend:
    name: str
    where: str
    opened: list[Store] = field(default_factory=list)

    def open(self, *, readonly: bool = False) -> Store:
        store = open_backend(self.name, self.where, readonly=readonly)
        self.opened.append(store)
        return store


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Iterator[Backend]:
    if request.param == "postgresql":
        where = request.getfixturevalue("pg_url")
    else:
        where = str(tmp_path / "state")
    b = Backend(request.param, where)
    yield b
    for store in b.opened:
        store.close()


@pytest.fixture
def store(backend) -> Store:
    return backend.open()


def claim(store: Store, job: str = "load", t: datetime = T, **kw) -> Run | None:
    kw.setdefault("owner", ME)
    kw.setdefault("now", t)
    return store.claim_run(job, t, kw.pop("trigger", Trigger.SCHEDULE), Claim(**kw))


def claimed(store: Store, job: str = "load", t: datetime = T, **kw) -> Run:
    run = claim(store, job, t, **kw)
    assert run is not None
    return run


def ended(status: RunStatus, start: datetime = T, seconds: float = 1.0, **kw) -> AttemptResult:
    return AttemptResult(status, start, start + timedelta(seconds=seconds), **kw)


def failed_run(store: Store, job: str = "load", t: datetime = T) -> Run:
    run = claimed(store, job, t)
    store.begin_attempt(run.id, Attempt(1, t, log="/x/1.log"), owner=ME)
    store.finish_run(run.id, RunEnd(RunStatus.FAILED, "exit code 1", t + timedelta(seconds=1)))
    return run


def started_run(store: Store, owner: int = ME) -> Run:
    run = claimed(store, owner=owner)
    store.begin_attempt(run.id, Attempt(1, T, log="/x/1.log"), owner=owner)
    return run


# -- the Protocol itself ----------------------------------------------------------------


def protocol_methods() -> list[str]:
    """The methods of `Store` and of the Protocols it extends (store/_contract_side.py)."""
    protocols = [k for k in Store.__mro__ if k.__module__.startswith("cronplus.store")]
    assert len(protocols) >= 2  # Store and SideStore
    return sorted(
        {n for k in protocols for n, v in vars(k).items() if callable(v) and not n.startswith("_")}
    )


def test_every_protocol_method_is_tested():
    """A method added to the Protocol without a test here fails this."""
    me = test_every_protocol_method_is_tested
    bodies = [
        inspect.getsource(f)
        for name, f in globals().items()
        if name.startswith("test_") and callable(f) and f is not me
    ]
    untested = [m for m in protocol_methods() if not any(f".{m}(" in b for b in bodies)]
    assert untested == []
    assert len(protocol_methods()) > 30  # the Protocol was read, not an empty class


def test_the_backend_has_every_protocol_method_as_the_protocol_states_it(store):
    for name in protocol_methods():
        want = inspect.signature(getattr(Store, name))
        got = inspect.signature(getattr(type(store), name))
        assert [(p.name, p.kind, p.default) for p in got.parameters.values()] == [
            (p.name, p.kind, p.default) for p in want.parameters.values()
        ], name


def test_the_queries_know_no_driver():
    """The SQL is written once, apart from the connection layer: a second backend
    brings its own connection layer and reuses every query."""
    store_dir = Path(__file__).resolve().parent.parent / "cronplus" / "store"
    for module in ("_db.py", "_sql.py", "_sql_side.py", "_sql_prune.py", "_sql_files.py"):
        text = (store_dir / module).read_text()
        imported = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & {"sqlite3", "psycopg", "os", "time"}, module
        assert "datetime.now" not in text, module


# -- claims -------------------------------------------------------------------------------


def test_claim_is_at_most_once(store):
    first = store.claim_run("load", T, Trigger.SCHEDULE, Claim(owner=ME, now=T))
    assert first is not None and first.status is RunStatus.QUEUED
    assert (first.job, first.scheduled_for, first.trigger) == ("load", T, Trigger.SCHEDULE)
    assert claim(store, trigger=Trigger.MANUAL) is None
    assert claim(store, t=T + timedelta(seconds=1)) is not None
    assert store.owner_of(first.id) == ME


def test_a_claim_records_the_time_it_is_given(store):
    made = T + timedelta(hours=5)
    run = claimed(store, now=made)
    assert store.get_run(run.id).created_at == made


def test_concurrent_claims_from_two_connections_yield_one_run(backend, store):
    other = backend.open()
    winners = []
    barrier = threading.Barrier(8)

    def race(s):
        barrier.wait()
        winners.append(claim(s))

    threads = [threading.Thread(target=race, args=(s,)) for s in [store, other] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(w is not None for w in winners) == 1


def _claim_in_a_process(backend: str, where: str, rounds: int, barrier, results) -> None:
    store = open_backend(backend, where)
    won = []
    for i in range(rounds):
        barrier.wait()
        if claim(store, t=T + timedelta(minutes=i), owner=os.getpid()) is not None:
            won.append(i)
    store.close()
    results.put((os.getpid(), won))


def _race(backend, target, rounds: int) -> dict[int, list]:
    """Two processes running `target` at once, `rounds` times in step: what each won,
    by its pid."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    barrier, results = ctx.Barrier(2, timeout=60), ctx.Queue()  # a peer dead: not for ever
    args = (backend.name, backend.where, rounds, barrier, results)
    procs = [ctx.Process(target=target, args=args) for _ in "ab"]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return outcome


def test_two_processes_claiming_the_same_run_at_once_one_wins(backend, store):
    rounds = 20
    outcome = _race(backend, _claim_in_a_process, rounds)
    assert sorted(i for won in outcome.values() for i in won) == list(range(rounds))
    for pid, won in outcome.items():
        for i in won:  # the winner owns its run
            assert store.owner_of(store.find_run("load", T + timedelta(minutes=i)).id) == pid


def test_claim_many_claims_each_new_pair_in_one_go(store):
    taken = claimed(store, "a")
    t2 = T + timedelta(seconds=1)
    wanted = [("a", T, Trigger.SCHEDULE), ("b", T, Trigger.SCHEDULE), ("a", t2, Trigger.CATCHUP)]
    got = store.claim_many([*wanted, ("b", T, Trigger.MANUAL)], Claim(owner=ME, now=t2))
    assert got[0] is None and got[3] is None  # existed; given twice: the second is None
    assert [(r.job, r.scheduled_for, r.trigger) for r in got[1:3]] == [w for w in wanted[1:]]
    for run in got[1:3]:
        assert store.get_run(run.id) == run
        assert (run.status, run.created_at, store.owner_of(run.id)) == (RunStatus.QUEUED, t2, ME)
    assert store.get_run(taken.id).trigger is Trigger.SCHEDULE
    assert store.claim_many([], Claim(owner=ME, now=T)) == []


def test_claim_many_records_all_or_none(store):
    bad = [("c", T, Trigger.SCHEDULE), (None, T, Trigger.SCHEDULE)]  # no job: refused
    with pytest.raises(StateError):
        store.claim_many(bad, Claim(owner=ME, now=T))
    assert store.find_run("c", T) is None
    assert claim(store, "c") is not None


def _claim_batches_in_a_process(backend: str, where: str, rounds: int, barrier, results) -> None:
    import random

    store = open_backend(backend, where)
    rng = random.Random(os.getpid())
    won = []
    for i in range(rounds):
        wanted = [(f"j{k}", T + timedelta(minutes=i), Trigger.SCHEDULE) for k in range(5)]
        rng.shuffle(wanted)  # each process claims them in another order
        barrier.wait()
        got = store.claim_many(wanted, Claim(owner=os.getpid(), now=T))
        won += [(w[0], i) for w, run in zip(wanted, got, strict=True) if run is not None]
    store.close()
    results.put((os.getpid(), won))


def test_two_processes_claiming_overlapping_batches_at_once_claim_each_run_once(backend, store):
    rounds = 20
    outcome = _race(backend, _claim_batches_in_a_process, rounds)
    won = sorted(w for ws in outcome.values() for w in ws)
    assert won == sorted((f"j{k}", i) for k in range(5) for i in range(rounds))
    for pid, ws in outcome.items():
        for job, i in ws:  # the winner owns its run
            assert store.owner_of(store.find_run(job, T + timedelta(minutes=i)).id) == pid


def test_a_claim_with_a_final_status_records_a_finished_unowned_run(store):
    why = "previous run 3 of the job was still running"
    run = claimed(store, status=RunStatus.SKIPPED, reason=why)
    got = store.get_run(run.id)
    assert (got.status, got.reason, got.finished_at) == (RunStatus.SKIPPED, why, T)
    assert store.unfinished_runs() == []
    assert store.owner_of(run.id) is None


def test_unclaiming_deletes_only_queued_claims_of_that_owner_without_attempts(store):
    times = [T + timedelta(minutes=i) for i in range(4)]
    unstarted, begun, settled = (claimed(store, t=t) for t in times[:3])
    store.begin_attempt(begun.id, Attempt(1, T, log="/x/1.log"), owner=ME)
    store.settle_run(settled.id, SeenRun(ME, 0), RunEnd(RunStatus.INTERRUPTED, "gone", T))
    theirs = claimed(store, t=times[3], owner=OTHER)
    ids = [unstarted.id, begun.id, settled.id, theirs.id]
    assert store.unclaim_runs(ids, owner=ME) == 1
    assert store.get_run(unstarted.id) is None
    assert store.find_run("load", times[0]) is None  # free to be claimed again
    assert [store.get_run(i).status for i in ids[1:]] == [
        RunStatus.RUNNING,
        RunStatus.INTERRUPTED,
        RunStatus.QUEUED,
    ]
    assert claim(store, t=times[0]) is not None
    assert store.unclaim_runs([], owner=ME) == 0


# -- the life of a run --------------------------------------------------------------------


def test_attempt_lifecycle_is_recorded(store):
    run = claimed(store)
    started = T + timedelta(seconds=1)
    store.begin_attempt(run.id, Attempt(1, started, log="/x/1.log"), owner=OTHER)
    store.set_attempt_pid(run.id, 1, 4242)
    assert store.get_run(run.id).status is RunStatus.RUNNING
    assert store.owner_of(run.id) == OTHER  # whoever executes the attempt
    result = ended(
        RunStatus.FAILED, started, 2, exit_code=None, signal="SIGKILL", reason="killed by SIGKILL"
    )
    store.finish_attempt(run.id, 1, result)
    store.finish_run(
        run.id, RunEnd(RunStatus.FAILED, "killed by SIGKILL", started + timedelta(seconds=2))
    )
    got = store.get_run(run.id)
    assert got.status is RunStatus.FAILED
    assert got.reason == "killed by SIGKILL"
    assert got.duration_s == 2.0
    (a,) = got.attempts
    assert (a.number, a.signal, a.exit_code, a.pid, a.log) == (1, "SIGKILL", None, 4242, "/x/1.log")
    assert store.owner_of(run.id) is None


def test_begin_attempts_records_every_attempt_in_one_go(store):
    first, second = claimed(store, "a"), claimed(store, "b")
    started = T + timedelta(seconds=1)
    begun = [(r.id, Attempt(1, started, log=f"/x/{r.job}.log")) for r in (first, second)]
    store.begin_attempts(begun, owner=OTHER)
    for run in (first, second):
        got = store.get_run(run.id)
        assert (got.status, got.started_at, store.owner_of(run.id)) == (
            RunStatus.RUNNING,
            started,
            OTHER,
        )
        assert [(a.number, a.log, a.trigger) for a in got.attempts] == [
            (1, f"/x/{run.job}.log", Trigger.SCHEDULE)
        ]


def test_begin_attempts_records_all_or_none(store):
    run = claimed(store)
    with pytest.raises(StateError):  # no run 999999: its attempt is refused, and so is run's
        store.begin_attempts(
            [(run.id, Attempt(1, T, log="/x/1.log")), (999_999, Attempt(1, T, log="/x/2.log"))],
            owner=ME,
        )
    got = store.get_run(run.id)
    assert (got.status, got.attempts) == (RunStatus.QUEUED, ())


def test_a_run_waiting_for_its_retry_stays_running_with_the_reason(store):
    run = started_run(store)
    store.finish_attempt(run.id, 1, ended(RunStatus.FAILED, exit_code=1), waiting="retry in 5s")
    got = store.get_run(run.id)
    assert (got.status, got.reason) == (RunStatus.RUNNING, "retry in 5s")
    assert got.attempts[0].finished_at is not None
    assert store.spent_attempts(run.id) == 1


def test_finish_run_writes_the_last_attempt_and_its_markers_at_once(store):
    run = started_run(store)
    store.finish_run(
        run.id,
        RunEnd(
            RunStatus.SUCCEEDED,
            "ignored for a success",
            T + timedelta(seconds=3),
            last_attempt=(1, ended(RunStatus.SUCCEEDED, seconds=3, exit_code=0)),
        ),
        release=True,
    )
    got = store.get_run(run.id)
    assert (got.status, got.reason, got.attempts[0].exit_code) == (RunStatus.SUCCEEDED, None, 0)
    assert store.unreleased() == [run.id]
    store.mark_released(run.id)
    assert store.unreleased() == []


def test_a_run_cut_short_is_resumable_until_dropped(store):
    run = started_run(store)
    cut = (1, ended(RunStatus.INTERRUPTED))
    store.finish_run(
        run.id, RunEnd(RunStatus.INTERRUPTED, "stop", T, last_attempt=cut, resume_spent=0)
    )
    assert store.resumable() == [(run.id, 0)]
    assert store.spent_attempts(run.id) == 0  # an attempt cronplus cut short does not count
    store.drop_resume(run.id)
    assert store.resumable() == []


def test_an_attempt_records_who_executed_it(store):
    run = failed_run(store)
    store.reopen_run(run.id, [RunStatus.FAILED], Claim(owner=ME, now=T))
    store.begin_attempt(run.id, Attempt(2, T, log="/x/2.log", trigger=Trigger.BACKFILL), owner=ME)
    got = store.get_run(run.id)
    assert [a.trigger for a in got.attempts] == [Trigger.SCHEDULE, Trigger.BACKFILL]
    assert got.trigger is Trigger.SCHEDULE


# -- reopening ----------------------------------------------------------------------------


def test_reopen_takes_a_failed_run_back_once_keeping_its_attempts(backend, store):
    run = failed_run(store)
    other = backend.open()
    bad = [RunStatus.FAILED, RunStatus.INTERRUPTED]
    taken = [s.reopen_run(run.id, bad, Claim(owner=OTHER, now=T)) for s in (store, other)]
    assert taken[1] is None  # the first one took it
    got = taken[0]
    assert (got.status, got.reason, got.finished_at) == (RunStatus.QUEUED, None, None)
    assert got.started_at is None  # set again by its next attempt
    assert [a.number for a in got.attempts] == [1]
    assert store.owner_of(run.id) == OTHER


def test_reopen_refuses_a_status_not_allowed(store):
    run = failed_run(store)
    assert store.reopen_run(run.id, [RunStatus.SKIPPED], Claim(owner=ME, now=T)) is None
    assert store.reopen_run(run.id, [], Claim(owner=ME, now=T)) is None
    assert store.get_run(run.id).status is RunStatus.FAILED


def test_reopen_to_a_final_status_settles_it(store):
    run = failed_run(store)
    later = T + timedelta(days=1)
    got = store.reopen_run(
        run.id,
        [RunStatus.FAILED],
        Claim(owner=ME, now=later, status=RunStatus.UPSTREAM_FAILED, reason="x"),
    )
    assert (got.status, got.reason, got.finished_at) == (RunStatus.UPSTREAM_FAILED, "x", later)
    assert store.owner_of(run.id) is None


def test_a_reopened_run_is_no_longer_resumable(store):
    run = started_run(store)
    store.finish_run(run.id, RunEnd(RunStatus.INTERRUPTED, "stop", T, resume_spent=1))
    assert store.reopen_run(run.id, [RunStatus.INTERRUPTED], Claim(owner=ME, now=T)) is not None
    assert store.resumable() == []


# -- recovery -----------------------------------------------------------------------------


def test_settle_run_writes_only_over_the_run_as_the_caller_saw_it(store):
    run = started_run(store)
    owner = store.owner_of(run.id)
    gone = RunEnd(RunStatus.INTERRUPTED, "gone", T)
    assert not store.settle_run(run.id, SeenRun(owner, 0), gone)  # stale
    assert not store.settle_run(run.id, SeenRun(OTHER, 1), gone)  # not theirs
    assert store.settle_run(run.id, SeenRun(owner, 1), gone)
    assert store.get_run(run.id).status is RunStatus.INTERRUPTED
    again = RunEnd(RunStatus.INTERRUPTED, "again", T)
    assert not store.settle_run(run.id, SeenRun(owner, 1), again)
    assert store.get_run(run.id).reason == "gone"


AS_SEEN = SeenRun(ME, 1)  # a started_run as its recovery reads it


def test_settle_run_drops_an_attempt_that_never_started_and_marks_it_to_resume(store):
    run = started_run(store)
    end = RunEnd(RunStatus.INTERRUPTED, "never started", T, resume_spent=0)
    assert store.settle_run(run.id, AS_SEEN, end, drop_last_attempt=True)
    assert store.get_run(run.id).attempts == ()
    assert store.resumable() == [(run.id, 0)]


def test_settle_run_records_the_outcome_its_attempt_left(store):
    run = started_run(store)
    result = ended(RunStatus.FAILED, seconds=4, exit_code=3)
    end = RunEnd(RunStatus.FAILED, "exit code 3", result.finished_at, last_attempt=(1, result))
    assert store.settle_run(run.id, AS_SEEN, end)
    got = store.get_run(run.id)
    assert (got.status, got.attempts[0].exit_code, got.duration_s) == (RunStatus.FAILED, 3, 4.0)


def test_a_settled_unowned_run_is_matched_by_no_owner(store):
    run = claimed(store, owner=None)
    assert store.owner_of(run.id) is None
    end = RunEnd(RunStatus.INTERRUPTED, "x", T)
    assert not store.settle_run(run.id, SeenRun(ME, 0), end)
    assert store.settle_run(run.id, SeenRun(None, 0), end)


def test_adopt_run_takes_an_orphan_once_and_only_as_seen(backend, store):
    run = started_run(store, owner=OTHER)
    other = backend.open()
    assert not store.adopt_run(run.id, SeenRun(OTHER, 0), owner=ME)
    adopted = [s.adopt_run(run.id, SeenRun(OTHER, 1), owner=ME) for s in (store, other)]
    assert adopted == [True, False]
    assert store.owner_of(run.id) == ME
    assert store.get_run(run.id).status is RunStatus.RUNNING


def test_spent_attempts_count_the_ended_ones_that_count(store):
    run = started_run(store)
    assert store.spent_attempts(run.id) == 0  # not ended yet
    store.finish_attempt(run.id, 1, ended(RunStatus.FAILED, exit_code=1), waiting="retry")
    store.begin_attempt(run.id, Attempt(2, T, log="/x/2.log"), owner=ME)
    store.finish_attempt(run.id, 2, ended(RunStatus.INTERRUPTED))
    assert store.spent_attempts(run.id) == 1


# -- reads --------------------------------------------------------------------------------


def test_get_and_find_a_run(store):
    run = claimed(store)
    assert store.get_run(run.id) == store.find_run("load", T) == run
    assert store.get_run(run.id + 1000) is None
    assert store.find_run("load", T + timedelta(seconds=1)) is None
    assert store.find_run("load", T.astimezone(timezone_east())).id == run.id  # an instant


def timezone_east():
    from datetime import timezone

    return timezone(timedelta(hours=5))


def test_latest_finished_run_ignores_skipped_and_running(store):
    a = claimed(store)
    store.finish_run(a.id, RunEnd(RunStatus.FAILED, "exit code 1", T))
    claim(store, t=T + timedelta(minutes=1), status=RunStatus.SKIPPED, reason="x")
    claim(store, t=T + timedelta(minutes=2))
    assert store.latest_run("load").scheduled_for == T + timedelta(minutes=2)
    assert store.latest_run("load", finished_only=True).id == a.id
    assert store.latest_run("other") is None


def test_latest_runs_reads_each_asked_job_as_latest_run_does(store):
    a = claimed(store)
    store.finish_run(a.id, RunEnd(RunStatus.FAILED, "exit code 1", T))
    claim(store, t=T + timedelta(minutes=1), status=RunStatus.SKIPPED, reason="x")
    newest = claimed(store, t=T + timedelta(minutes=2))
    done = claimed(store, "done")
    store.finish_run(done.id, RunEnd(RunStatus.SUCCEEDED, None, T))
    claimed(store, "going")
    claimed(store, "not asked")
    got = store.latest_runs(["load", "done", "going", "never", "load"])
    assert sorted(got) == ["done", "going", "load"]
    for job in got:
        want = (store.latest_run(job), store.latest_run(job, finished_only=True))
        assert got[job] == want
    assert got["load"][0].id == newest.id and got["load"][1].id == a.id
    assert got["done"][0].id == got["done"][1].id == done.id
    assert got["going"][1] is None
    assert store.latest_runs([]) == {}


def _timed_run(store: Store, job: str, t: datetime, status: RunStatus, seconds: float) -> Run:
    run = claimed(store, job, t)
    store.begin_attempt(run.id, Attempt(1, t, log="/x/1.log"), owner=ME)
    end = t + timedelta(seconds=seconds)
    store.finish_run(run.id, RunEnd(status, None, end, last_attempt=(1, ended(status, t, seconds))))
    return run


def test_run_totals_count_every_end_with_its_duration(store):
    bad = _timed_run(store, "load", T, RunStatus.FAILED, 1.25)
    _timed_run(store, "load", T + timedelta(hours=1), RunStatus.SUCCEEDED, 2.000001)
    claim(store, t=T + timedelta(hours=2), status=RunStatus.SKIPPED, reason="paused")
    claimed(store, t=T + timedelta(hours=3))  # not over: not counted
    _timed_run(store, "other", T, RunStatus.TIMED_OUT, 60)
    got = store.run_totals(["load", "never", "load"])
    assert set(got) == {"load"}
    assert set(got["load"]) == {RunStatus.FAILED, RunStatus.SUCCEEDED, RunStatus.SKIPPED}
    assert got["load"][RunStatus.FAILED] == (1, 1, 1.25, T + timedelta(seconds=1.25))
    ok = got["load"][RunStatus.SUCCEEDED]
    assert (ok.runs, ok.timed, ok.timed_s) == (1, 1, 2.000001)
    assert got["load"][RunStatus.SKIPPED] == (1, 0, 0.0, T + timedelta(hours=2))
    # Run again and marked succeeded: a second end, counted as well; the first stays.
    later = T + timedelta(days=1)
    store.reopen_run(
        bad.id, [RunStatus.FAILED], Claim(owner=None, now=later, status=RunStatus.SUCCEEDED)
    )
    again = store.run_totals(["load"])["load"]
    assert again[RunStatus.FAILED].runs == 1
    assert again[RunStatus.SUCCEEDED][:2] == (2, 1) and again[RunStatus.SUCCEEDED][3] == later
    assert store.run_totals([]) == {}


def test_recent_durations_are_the_last_100_runs_with_an_attempt_to_end(store):
    for k in range(103):
        _timed_run(store, "load", T + timedelta(minutes=k), RunStatus.SUCCEEDED, k + 0.5)
    claim(store, t=T - timedelta(minutes=1), status=RunStatus.SKIPPED, reason="x")
    going = claimed(store, t=T - timedelta(minutes=2))  # an attempt, not over: left out
    store.begin_attempt(going.id, Attempt(1, T, log="/x/1.log"), owner=ME)
    _timed_run(store, "sync", T, RunStatus.FAILED, 7)
    got = store.recent_durations(["load", "sync", "never"])
    assert got["load"] == [k + 0.5 for k in range(3, 103)]  # oldest end first
    assert got["sync"] == [7.0] and "never" not in got
    # Run again: its new end is the newest duration.
    store.finish_run(going.id, RunEnd(RunStatus.INTERRUPTED, "x", T + timedelta(seconds=1)))
    store.reopen_run(going.id, [RunStatus.INTERRUPTED], Claim(owner=ME, now=T))
    store.begin_attempt(going.id, Attempt(2, T + timedelta(seconds=1), log="/x/2.log"), owner=ME)
    store.finish_run(going.id, RunEnd(RunStatus.SUCCEEDED, None, T + timedelta(seconds=10)))
    assert store.recent_durations(["load"])["load"][-3:] == [102.5, 1.0, 9.0]
    assert store.recent_durations([]) == {}


def test_runs_between_of_reads_many_jobs_as_runs_between_does(store):
    runs = {}
    for job in ("load", "sync", "quiet"):
        for k in range(3):
            run = claimed(store, job, T + timedelta(minutes=k))
            store.begin_attempt(run.id, Attempt(1, T, log="/x/1.log"), owner=ME)
            runs[job, k] = run.id
    claimed(store, "load", T - timedelta(minutes=1))  # before the window
    claimed(store, "load", T + timedelta(minutes=3))  # at its end: left out
    got = store.runs_between_of(["load", "sync", "never", "load"], T, T + timedelta(minutes=3))
    for job in ("load", "sync"):
        mine = [r for r in got if r.job == job]
        whole = store.runs_between(job, T, T + timedelta(minutes=3))
        assert mine == [replace(r, attempts=()) for r in whole]
        assert all(r.attempts for r in whole)  # which runs_between_of leaves out
        assert [r.id for r in mine] == [runs[job, k] for k in range(3)]
    assert {r.job for r in got} == {"load", "sync"}
    assert store.runs_between_of([], T, T + timedelta(hours=1)) == []


def test_ended_badly_is_by_end_newest_first_whatever_the_logical_time(store):
    def ends(job: str, t: datetime, status: RunStatus, end: datetime) -> int:
        run = claimed(store, job, t)
        store.finish_run(run.id, RunEnd(status, None if status == "succeeded" else "x", end))
        return run.id

    since = T + timedelta(hours=1)
    old_backfill = ends(
        "load", T - timedelta(days=30), RunStatus.FAILED, since + timedelta(seconds=20)
    )
    timed_out = ends("sync", T, RunStatus.TIMED_OUT, since + timedelta(seconds=5))
    upstream = ends("after", T, RunStatus.UPSTREAM_FAILED, since)
    ends("load", T, RunStatus.SUCCEEDED, since + timedelta(seconds=9))  # went well
    ends("load", T + timedelta(minutes=1), RunStatus.FAILED, since - timedelta(seconds=1))
    skipped = claimed(store, "sync", T + timedelta(minutes=1), status=RunStatus.SKIPPED, now=since)
    claimed(store, "going", T)  # not ended
    assert skipped.finished_at == since
    assert [r.id for r in store.ended_badly(since, 10)] == [old_backfill, timed_out, upstream]
    assert [r.id for r in store.ended_badly(since, 2)] == [old_backfill, timed_out]
    assert store.ended_badly(since, 1)[0].reason == "x"
    assert store.ended_badly(since + timedelta(days=1), 5) == []


def test_runs_between_and_history_order(store):
    for i in range(5):
        claim(store, t=T + timedelta(hours=i))
    claim(store, "other")
    between = store.runs_between("load", T + timedelta(hours=1), T + timedelta(hours=3))
    assert [r.scheduled_for.hour for r in between] == [4, 5]
    assert [r.scheduled_for.hour for r in store.history("load", 2)] == [7, 6]
    assert len(store.history("load")) == 5


def test_history_of_reads_many_jobs_each_in_its_own_range_newest_first(store):
    h = timedelta(hours=1)
    for i in range(4):
        claimed(store, "load", T + i * h)
        claimed(store, "sync", T + i * h + timedelta(minutes=30), trigger=Trigger.MANUAL)
    claimed(store, "sync", T + 9 * h, status=RunStatus.SKIPPED, reason="paused")
    claimed(store, "other", T + 5 * h)
    both = store.history_of({"load": (None, None), "sync": (T + 2 * h, None)})
    assert [(r.job, r.scheduled_for - T) for r in both] == [
        ("sync", 9 * h),
        ("sync", 3.5 * h),
        ("load", 3 * h),
        ("sync", 2.5 * h),
        ("load", 2 * h),
        ("load", h),
        ("load", timedelta(0)),
    ]
    limited = store.history_of({"load": (T + h, T + 3 * h), "sync": (None, T + h)}, 2)
    assert [(r.job, r.scheduled_for - T) for r in limited] == [("load", 2 * h), ("load", h)]
    manual = store.history_of(
        {"load": (None, None), "sync": (None, None)}, triggers=[Trigger.MANUAL]
    )
    assert {r.job for r in manual} == {"sync"} and len(manual) == 4
    skipped = store.history_of(
        {"sync": (None, None)}, statuses=[RunStatus.SKIPPED, RunStatus.FAILED]
    )
    assert [r.reason for r in skipped] == ["paused"]
    assert store.history_of({}) == [] and store.history_of({"none": (None, None)}) == []


def test_latest_started_is_the_newest_run_with_an_attempt(store):
    assert store.latest_started("load") is None
    older = failed_run(store, t=T)
    newer = failed_run(store, t=T + timedelta(hours=1))
    claim(store, t=T + timedelta(hours=2), status=RunStatus.SKIPPED, reason="paused")
    claim(store, t=T + timedelta(hours=3))  # queued: no attempt yet
    failed_run(store, "other", t=T + timedelta(hours=4))
    latest = store.latest_started("load")
    assert latest == store.get_run(newer.id) and len(latest.attempts) == 1
    assert older.id != latest.id


def test_unfinished_runs_are_the_queued_and_running_ones(store):
    queued = claimed(store, t=T)
    running = claimed(store, t=T + timedelta(hours=1))
    store.begin_attempt(running.id, Attempt(1, T, log="/x/1.log"), owner=ME)
    failed_run(store, t=T + timedelta(hours=2))
    assert [r.id for r in store.unfinished_runs()] == [queued.id, running.id]


def test_succeeded_jobs_for_a_logical_time(store):
    for job, status in [("a", RunStatus.SUCCEEDED), ("b", RunStatus.FAILED)]:
        r = claimed(store, job)
        store.finish_run(r.id, RunEnd(status, None, T))
    assert store.succeeded_jobs(["a", "b", "c"], T) == {"a"}
    assert store.succeeded_jobs([], T) == set()


def test_previous_final_is_the_jobs_own_last_outcome(store):
    first = failed_run(store, t=T)
    claim(store, t=T + timedelta(hours=1), status=RunStatus.SKIPPED, reason="x")
    now = claimed(store, t=T + timedelta(hours=2))
    assert store.previous_final("load", now.id).id == first.id
    assert store.previous_final("load", first.id) is None


def test_latest_scheduled_counts_the_schedule_and_catch_up_only(store):
    assert store.latest_scheduled("load") is None
    claim(store, t=T)
    claim(store, t=T + timedelta(hours=1), trigger=Trigger.CATCHUP)
    claim(store, t=T + timedelta(hours=2), trigger=Trigger.MANUAL)
    assert store.latest_scheduled("load") == T + timedelta(hours=1)


def test_a_store_closed_and_opened_again_keeps_what_was_written(backend):
    first = backend.open()
    run = claimed(first)
    first.close()
    backend.opened.remove(first)
    assert backend.open().get_run(run.id) == run


def test_a_read_only_store_reads_and_refuses_writes(backend, store):
    run = claimed(store)
    reader = backend.open(readonly=True)
    assert reader.get_run(run.id) == run
    with pytest.raises(StateError):
        claim(reader, t=T + timedelta(hours=1))


# -- alerts -------------------------------------------------------------------------------


def test_hold_or_send_holds_repeats_and_folds_them_into_the_next(store):
    hour = timedelta(hours=1)
    assert store.hold_or_send("load", "failing", T, hour) == (0, None)
    assert store.hold_or_send("load", "failing", T + timedelta(minutes=10), hour) is None
    assert store.hold_or_send("load", "failing", T + timedelta(minutes=20), hour) is None
    assert store.hold_or_send("load", "missed", T + timedelta(minutes=20), hour) == (0, None)
    sent = store.hold_or_send("load", "failing", T + timedelta(minutes=70), hour)
    assert sent == (2, T + timedelta(minutes=10))


def test_clear_holds_returns_what_was_held_and_forgets_it(store):
    hour = timedelta(hours=1)
    assert store.clear_holds("load", "failing") == (0, None)
    store.hold_or_send("load", "failing", T, hour)
    store.hold_or_send("load", "failing", T + timedelta(minutes=5), hour)
    assert store.clear_holds("load", "failing") == (1, T + timedelta(minutes=5))
    assert store.hold_or_send("load", "failing", T + timedelta(minutes=6), hour) == (0, None)


def test_alerts_are_recorded_and_read_newest_first(store):
    a = store.record_alert(AlertDelivery(T, "failure", "load", 7, "ntfy://host", True, None))
    b = store.record_alert(
        AlertDelivery(T, "missed", None, None, "mailto://host", False, "refused")
    )
    assert a != b
    newest, oldest = store.recent_alerts(10)
    assert (newest.id, newest.sent, newest.error, newest.job) == (b, False, "refused", None)
    assert (oldest.id, oldest.time, oldest.run_id, oldest.channel) == (a, T, 7, "ntfy://host")
    assert [r.id for r in store.recent_alerts(1)] == [b]


# -- paused jobs --------------------------------------------------------------------------


def test_pause_and_unpause(store):
    assert store.paused_jobs() == {}
    assert store.pause("load", T)
    assert not store.pause("load", T + timedelta(hours=1))  # since stays
    assert store.paused_jobs() == {"load": T}
    assert store.unpause("load")
    assert not store.unpause("load")
    assert store.paused_jobs() == {}


# -- what a daemon leaves -----------------------------------------------------------------


def test_the_daemon_alive_mark_keeps_the_latest_time(store):
    assert store.daemon_alive() is None
    store.mark_daemon_alive(T)
    store.mark_daemon_alive(T + timedelta(seconds=10))
    assert store.daemon_alive() == T + timedelta(seconds=10)


def test_the_last_daemon_started_is_remembered(store):
    assert store.last_daemon_pid() is None
    store.mark_daemon_started(1234)
    store.mark_daemon_started(5678)
    assert store.last_daemon_pid() == 5678


def test_the_config_copy_is_kept_for_read_commands(backend, store):
    assert store.config_copy() is None
    store.save_config_copy("/etc/jobs.toml", "[jobs.a]\ncommand = 'true'\n")
    store.save_config_copy("/etc/jobs.toml", "[jobs.b]\ncommand = 'true'\n")
    got = backend.open(readonly=True).config_copy()
    assert got == ConfigCopy("/etc/jobs.toml", "[jobs.b]\ncommand = 'true'\n")


# -- retention ------------------------------------------------------------------------------


def _hourly(
    store: Store, n: int, status: RunStatus = RunStatus.FAILED, trigger: Trigger = Trigger.MANUAL
) -> list[Run]:
    runs = []
    for h in range(n):
        t = T + timedelta(hours=h)
        run = claimed(store, t=t, trigger=trigger)
        store.begin_attempt(run.id, Attempt(1, t, log="/x/1.log"), owner=ME)
        store.finish_run(run.id, RunEnd(status, "why", t + timedelta(seconds=1)))
        runs.append(run)
    return runs


def test_prune_runs_deletes_a_batch_of_the_oldest_and_remembers_the_newest(backend, store):
    runs = _hourly(store, 6, trigger=Trigger.BACKFILL)
    totals = store.run_totals(["load"])
    wanted = store.prunable_runs("load", 2, None)
    assert [(r.id, r.scheduled_for, r.attempts) for r in wanted] == [
        (r.id, r.scheduled_for, (1,)) for r in runs[:4]
    ]
    assert store.pruned_through(["load"]) == {}
    assert store.prune_runs("load", 2, None, limit=3) == wanted[:3]
    assert store.pruned_through(["load", "other"]) == {"load": runs[2].scheduled_for}
    assert store.prune_runs("load", 2, None, limit=3) == wanted[3:]
    assert store.prune_runs("load", 2, None, limit=3) == []
    assert [r.id for r in store.history("load")] == [runs[5].id, runs[4].id]
    assert store.get_run(runs[0].id) is None
    assert store.run_totals(["load"]) == totals  # metrics never go down
    assert backend.open(readonly=True).pruned_through(["load"]) == {"load": runs[3].scheduled_for}


def test_prunable_runs_by_age_keep_the_latest_of_each_kind(store):
    ok = _hourly(store, 2, RunStatus.SUCCEEDED)
    bad = [claimed(store, t=T + timedelta(hours=h), trigger=Trigger.MANUAL) for h in (2, 3)]
    scheduled = claimed(store, t=T + timedelta(hours=4))
    for run in [*bad, scheduled]:
        store.finish_run(run.id, RunEnd(RunStatus.FAILED, "why", run.scheduled_for))
    going = claimed(store, t=T + timedelta(hours=9), trigger=Trigger.MANUAL)
    cut = T + timedelta(days=1)
    # all ended before the cut; kept: the latest run (going), success and scheduled run
    assert [r.id for r in store.prunable_runs("load", 0, cut)] == [ok[0].id, bad[0].id, bad[1].id]
    assert [r.attempts for r in store.prunable_runs("load", 0, cut)] == [(1,), (), ()]
    assert going.id not in {r.id for r in store.prunable_runs("load", 1, cut)}
    assert store.prunable_runs("load", 0, None) == []  # 0 and None: no limit


# -- pools ------------------------------------------------------------------------------


def waiting(run: Run, slots: int = 1, pool: str = "wh", pid: int = ME, attempt: int = 1):
    from cronplus.model import PoolEntry

    return PoolEntry(pool, run.id, run.job, slots, run.scheduled_for, attempt, "h", pid, T)


def test_pool_line_oldest_logical_time_first_then_claim_order(store):
    late = claimed(store, "a", T + timedelta(hours=1))
    early = claimed(store, "b", T)
    same = claimed(store, "c", T)  # claimed after b: behind it
    for run in (late, same, early):
        store.pool_wait(waiting(run))
    holders, line = store.pool_entries()
    assert holders == [] and [e.run_id for e in line] == [early.id, same.id, late.id]
    assert store.pool_take(late.id, 3, T) == (False, 0)  # not first in line
    assert store.pool_take(same.id, 3, T) == (False, 0)
    assert store.pool_take(early.id, 3, T) == (True, 1)
    assert store.pool_take(same.id, 3, T) == (True, 2)
    assert store.pool_take(early.id, 3, T) == (True, 2)  # already holding
    holders, line = store.pool_entries(["wh"])
    assert [(e.run_id, e.job, e.slots) for e in holders] == [(early.id, "b", 1), (same.id, "c", 1)]
    assert [e.run_id for e in line] == [late.id]
    assert store.pool_entries(["other"]) == ([], []) and store.pool_entries([]) == ([], [])


def test_pool_a_big_run_first_in_line_is_not_overtaken(store):
    holder, big, small = (claimed(store, j, T + timedelta(minutes=i)) for i, j in enumerate("abc"))
    store.pool_wait(waiting(holder))
    assert store.pool_take(holder.id, 2, T)[0]
    store.pool_wait(waiting(big, slots=2))
    store.pool_wait(waiting(small))
    # One slot is free: the 1-slot run behind the 2-slot one still waits its turn.
    assert store.pool_take(small.id, 2, T) == (False, 1)
    assert store.pool_take(big.id, 2, T) == (False, 1)
    store.pool_release(holder.id)
    assert store.pool_take(big.id, 2, T + timedelta(seconds=1)) == (True, 2)
    holders, _ = store.pool_entries()
    assert holders[0].since == T + timedelta(seconds=1) and holders[0].slots == 2
    assert store.pool_take(small.id, 2, T) == (False, 2)
    assert store.pool_take(claimed(store, "d").id, 2, T) == (False, 0)  # not waiting


def test_pool_drop_only_the_named_holder_and_adopt(store):
    run, other = claimed(store, "a"), claimed(store, "b")
    store.pool_wait(waiting(run, pid=OTHER))
    assert store.pool_take(run.id, 5, T)[0]
    store.pool_wait(waiting(other, pid=OTHER))
    assert not store.pool_drop(run.id, ME)  # someone else holds them now
    assert store.pool_adopt(run.id, "h2", ME)
    assert not store.pool_adopt(other.id, "h2", ME)  # waiting, not holding
    holders, line = store.pool_entries()
    assert (holders[0].host, holders[0].pid) == ("h2", ME)
    assert store.pool_drop(run.id, ME) and store.pool_drop(other.id, OTHER)
    assert store.pool_entries() == ([], [])
    store.pool_release(run.id)  # nothing left: nothing happens


def test_pool_wait_shows_its_reason_until_the_attempt_begins(store):
    run = claimed(store, "a")
    store.pool_wait(waiting(run), reason='waiting for pool "wh" (2 of 2 slots in use)')
    assert store.get_run(run.id).reason == 'waiting for pool "wh" (2 of 2 slots in use)'
    store.pool_wait(waiting(run))  # no reason: the one shown stays
    assert store.get_run(run.id).reason == 'waiting for pool "wh" (2 of 2 slots in use)'
    store.begin_attempt(run.id, Attempt(1, T, log="/x.log"), owner=ME)
    assert store.get_run(run.id).reason is None


# -- deadlines (issue 15) -------------------------------------------------------------------


def test_deadline_alerted_once_per_logical_time_and_never_for_an_older_one(backend):
    store, other = backend.open(), backend.open()
    assert store.deadline_alerted("a", T)
    assert not other.deadline_alerted("a", T)  # another process on the state: once
    assert not store.deadline_alerted("a", T - timedelta(minutes=1))  # checked in order
    assert store.deadline_alerted("b", T)  # per job
    assert store.deadline_alerted("a", T + timedelta(seconds=1))
    assert not store.deadline_alerted("a", T + timedelta(seconds=1))


def test_pool_rows_keep_their_process_identity_and_drop_matches_it_whole(store):
    """A row names its process by pid, boot id and start ticks (pids are reused):
    waiting, taking, adopting carry them, and a drop for the same pid of another
    boot or start frees nothing (a later process given that pid holds them now)."""
    from dataclasses import replace

    run, other = claimed(store, "a"), claimed(store, "b")
    store.pool_wait(replace(waiting(run), boot_id="boot-1", start_ticks=700))
    store.pool_wait(replace(waiting(other), boot_id="boot-1", start_ticks=700))
    store.pool_wait(replace(waiting(other), boot_id="boot-2", start_ticks=9))  # asked again
    assert store.pool_take(run.id, 5, T)[0]
    holders, line = store.pool_entries()
    assert [(e.boot_id, e.start_ticks) for e in holders + line] == [("boot-1", 700), ("boot-2", 9)]
    assert not store.pool_drop(run.id, ME, "boot-2", 700)
    assert not store.pool_drop(run.id, ME, "boot-1", 701)
    assert not store.pool_drop(run.id, ME)  # unknown matches unknown only
    assert store.pool_adopt(run.id, "h2", OTHER, "boot-3", 42)
    holders, _ = store.pool_entries()
    assert (holders[0].pid, holders[0].boot_id, holders[0].start_ticks) == (OTHER, "boot-3", 42)
    assert not store.pool_drop(run.id, OTHER, "boot-1", 700)
    assert store.pool_drop(run.id, OTHER, "boot-3", 42)
    assert store.pool_drop(other.id, ME, "boot-2", 9)
    assert store.pool_entries() == ([], [])


# -- items of a for_each run (issue 16) -------------------------------------------------


def test_an_item_list_is_fixed_when_first_set_and_keeps_the_runs_attempts(store):
    run = claimed(store)
    assert store.items_of([run.id]) == {}
    got = store.set_items(run.id, ["a.csv", "b.csv"], owner=ME, now=T)
    assert [(i.index, i.item, i.status) for i in got] == [
        (0, "a.csv", RunStatus.QUEUED),
        (1, "b.csv", RunStatus.QUEUED),
    ]
    again = store.set_items(run.id, ["other"], owner=ME, now=T + timedelta(seconds=5))
    assert [i.item for i in again] == ["a.csv", "b.csv"]  # the first list stays
    read = store.get_run(run.id)
    assert (read.status, read.started_at, read.attempts) == (RunStatus.RUNNING, T, ())
    empty = claimed(store, "other")
    assert store.set_items(empty.id, [], owner=ME, now=T) == []
    assert store.items_of([empty.id, run.id, 999]).keys() == {empty.id, run.id}


def test_an_items_attempts_are_recorded_under_it(store):
    run = claimed(store)
    store.set_items(run.id, ["a", "b"], owner=ME, now=T)
    store.begin_item_attempt(run.id, 1, Attempt(1, T, log="/x/1-item1-1.log"), owner=OTHER)
    assert store.owner_of(run.id) == OTHER
    [_, b] = store.items_of([run.id])[run.id]
    assert (b.status, len(b.attempts)) == (RunStatus.RUNNING, 1)
    store.finish_item_attempt(
        run.id, 1, 1, ended(RunStatus.FAILED, T, exit_code=2, reason="exit code 2")
    )
    store.begin_item_attempt(run.id, 1, Attempt(2, T + timedelta(seconds=2)), owner=OTHER)
    store.finish_item_attempt(run.id, 1, 2, ended(RunStatus.SUCCEEDED, T + timedelta(seconds=2)))
    [a, b] = store.items_of([run.id])[run.id]
    assert (a.status, a.attempts) == (RunStatus.QUEUED, ())
    assert (b.status, b.exit_code, b.reason) == (RunStatus.SUCCEEDED, None, None)
    assert [(x.number, x.exit_code, x.log) for x in b.attempts] == [
        (1, 2, "/x/1-item1-1.log"),
        (2, None, None),
    ]
    assert b.attempts[0].finished_at == T + timedelta(seconds=1)
    assert store.get_run(run.id).attempts == ()  # the run's own attempts are not items'


# -- files of watch runs (issue 16) -------------------------------------------------------


def test_a_file_version_runs_at_most_once_whoever_claims_it(backend):
    from cronplus.model import RunFile

    one, two = backend.open(), backend.open()
    v1 = RunFile("/in/a.csv", 10, 1_700_000_000_123_456_789, 42)
    run = one.claim_file_run("load", T, Trigger.FILE, Claim(owner=ME, now=T), v1)
    assert run is not None and run.file == v1 and run.scheduled_for == T
    assert two.claim_file_run("load", T, Trigger.FILE, Claim(owner=OTHER, now=T), v1) is None
    assert one.get_run(run.id).file == v1 and one.get_run(run.id).trigger is Trigger.FILE
    # Another version of the path (replaced: a new inode) at the same instant: the next
    # microsecond; another job may run the same version.
    v2 = RunFile("/in/a.csv", 10, v1.mtime_ns, 43)
    again = two.claim_file_run("load", T, Trigger.FILE, Claim(owner=ME, now=T), v2)
    assert again is not None and again.scheduled_for == T + timedelta(microseconds=1)
    other = one.claim_file_run("copy", T, Trigger.MANUAL, Claim(owner=ME, now=T), v1)
    assert other is not None
    assert one.file_versions("load") == {v1, v2} and one.file_versions("none") == set()
    assert claimed(one, "plain").file is None and one.get_run(other.id).file == v1
    # A version recorded skipped is seen too.
    v3 = RunFile("/in/b.csv", 1, 1, 1)
    skip = Claim(owner=None, now=T, status=RunStatus.SKIPPED, reason="catchup")
    assert one.claim_file_run("load", T, Trigger.FILE, skip, v3).status is RunStatus.SKIPPED
    assert v3 in two.file_versions("load")


def test_pool_rows_of_a_for_each_runs_items_are_each_their_own(store):
    from dataclasses import replace

    run, other = claimed(store), claimed(store, "other")
    for item in (0, 1):
        store.pool_wait(replace(waiting(run), item=item))
    store.pool_wait(waiting(other))
    assert store.pool_take(run.id, 3, T, 1) == (False, 0)  # item 0 is first in line
    assert store.pool_take(run.id, 3, T, 0) == (True, 1)
    assert store.pool_take(run.id, 3, T, 1) == (True, 2)
    assert store.pool_take(run.id, 3, T) == (False, 0)  # the run's own row: none
    holders, line = store.pool_entries()
    assert [(e.run_id, e.item) for e in holders] == [(run.id, 0), (run.id, 1)]
    assert [(e.run_id, e.item) for e in line] == [(other.id, -1)]
    store.pool_release(run.id, 0)
    assert [e.item for e in store.pool_entries()[0]] == [1]
    store.pool_wait(replace(waiting(run), item=1, attempt=2))  # a dead process's row stays
    assert store.pool_take(run.id, 2, T, 1) == (True, 1)  # replaced, not added
    assert not store.pool_drop(run.id, ME + 1, item=1) and store.pool_drop(run.id, ME, item=1)
    store.pool_wait(replace(waiting(run), item=2))
    store.pool_release(run.id)  # all its items'
    assert [e.run_id for e in store.pool_entries()[1]] == [other.id]


def test_file_versions_settled_at_one_instant_each_get_a_run_however_many(backend):
    # A folder of 1,500 files found at once: none is refused for want of a logical time
    # (a bounded search of the next free microsecond once dropped those past it).
    from cronplus.model import RunFile

    store = backend.open()
    claim = Claim(owner=ME, now=T)
    runs = [
        store.claim_file_run("load", T, Trigger.FILE, claim, RunFile(f"/in/{i}", 1, 1, i))
        for i in range(1500)
    ]
    assert all(run is not None for run in runs)
    assert [r.scheduled_for for r in runs] == [T + timedelta(microseconds=i) for i in range(1500)]


# -- several processes and hosts on one state (issue 17) ----------------------------------


def test_db_now_is_the_databases_clock_in_utc(store):
    before = datetime.now(UTC)
    now = store.db_now()
    assert now.utcoffset() == timedelta(0)
    assert abs((now - before).total_seconds()) < 5  # the test server runs on this host


def test_attempts_and_run_owners_record_the_store_host(store):
    run = claimed(store)
    assert store.run_owner(run.id) == (store.host, ME)
    store.begin_attempt(run.id, Attempt(1, T, log="/x/1.log"), owner=ME)
    assert store.get_run(run.id).attempts[0].host == store.host
    store.finish_run(
        run.id,
        RunEnd(RunStatus.SUCCEEDED, None, T, last_attempt=(1, ended(RunStatus.SUCCEEDED))),
    )
    assert store.run_owner(run.id) == (None, None)  # ended: owned by nobody
    assert store.get_run(run.id).attempts[0].host == store.host


def test_an_attempts_tail_is_kept_with_its_end_and_not_lost_by_a_later_write(store):
    run = started_run(store)
    assert store.attempt_tail(run.id, 1) is None
    result = replace(ended(RunStatus.FAILED), tail="last lines\n\u00e9\n")
    store.finish_attempt(run.id, 1, result)
    assert store.attempt_tail(run.id, 1) == "last lines\n\u00e9\n"
    store.finish_run(run.id, RunEnd(RunStatus.FAILED, "exit 1", T, last_attempt=(1, result)))
    settled = replace(result, tail=None)  # a later write without one keeps it
    store.finish_run(run.id, RunEnd(RunStatus.FAILED, "exit 1", T, last_attempt=(1, settled)))
    assert store.attempt_tail(run.id, 1) == "last lines\n\u00e9\n"
    assert store.attempt_tail(run.id, 2) is None and store.attempt_tail(999, 1) is None


def test_a_registered_process_heartbeats_and_is_listed(store):
    lease = timedelta(seconds=30)
    assert store.register_process("daemon", 100, lease, "boot", 42) is None
    assert store.register_process("backfill", 200, lease) is None
    listed = store.processes()
    assert [(p.host, p.pid, p.kind, p.lease) for p in listed] == [
        (store.host, 100, "daemon", lease),
        (store.host, 200, "backfill", lease),
    ]
    first = listed[0]
    assert (first.boot_id, first.start_ticks, first.running) == ("boot", 42, 0)
    assert first.started_at == first.heartbeat_at
    beat = store.heartbeat(100, 3)
    assert beat is not None and beat >= first.heartbeat_at
    again = store.processes()[0]
    assert (again.heartbeat_at, again.running, again.started_at) == (beat, 3, first.started_at)


def test_a_daemon_name_is_held_by_one_daemon_until_it_is_forgotten(store):
    lease = timedelta(seconds=30)
    assert store.register_process("daemon", 100, lease) is None
    holder = store.register_process("daemon", 101, lease)
    assert holder is not None and (holder.host, holder.pid) == (store.host, 100)
    assert [p.pid for p in store.processes()] == [100]  # nothing written
    assert store.register_process("trigger", 101, lease) is None  # not a daemon: listed
    # Judged dead as read: forgotten only if its heartbeat is still the one read.
    assert not store.forget_process(store.host, 100, holder.heartbeat_at + timedelta(seconds=1))
    assert store.forget_process(store.host, 100, holder.heartbeat_at)
    assert store.heartbeat(100, 0) is None  # its row is gone: it was declared dead
    assert store.register_process("daemon", 102, lease) is None
    assert store.register_process("daemon", 102, lease) is None  # the same one again
    assert [(p.pid, p.kind) for p in store.processes()] == [(101, "trigger"), (102, "daemon")]
    assert store.forget_process(store.host, 102) and not store.forget_process(store.host, 102)


def test_jobs_are_owned_by_one_daemon_and_handed_over_with_their_through(store):
    t1, t2 = T + timedelta(minutes=1), T + timedelta(minutes=2)
    assert store.job_owners() == {}
    assert store.own_jobs(100, ["a", "b"], [], T) == {"a": None, "b": None}  # never owned
    assert store.own_jobs(200, ["a", "c"], [], T) == {"c": None}  # a is 100's
    owners = store.job_owners()
    assert {j: (o.host, o.pid) for j, o in owners.items()} == {
        "a": (store.host, 100),
        "b": (store.host, 100),
        "c": (store.host, 200),
    }
    assert owners["a"].since is not None and owners["a"].through == T
    store.mark_owned_through(100, t1)
    store.mark_owned_through(100, T)  # never back
    assert store.job_owners()["b"].through == t1 and store.job_owners()["c"].through == T
    assert store.own_jobs(100, [], ["b", "c"], t2) == {}  # c is not 100's to give
    assert sorted(store.job_owners()) == ["a", "c"]
    assert store.own_jobs(200, ["b"], [], T) == {"b": t2}  # from where 100 left it
    assert store.drop_job_owners(store.host, 200) == ["b", "c"]
    assert sorted(store.job_owners()) == ["a"]
    assert store.own_jobs(100, ["b", "c"], [], t2) == {"b": t2, "c": T}
    assert store.own_jobs(100, [], [], t2, forget=["b", "x"]) == {}
    assert sorted(store.job_owners()) == ["a", "c"]
    assert store.own_jobs(200, ["b"], [], t2) == {"b": None}  # as if new
    many = [f"j{i}" for i in range(250)]  # in chunks
    assert store.own_jobs(300, many, [], T) == dict.fromkeys(many)
    assert store.own_jobs(300, [], many[:120], t1) == {}
    assert store.own_jobs(400, many, [], T) == dict.fromkeys(many[:120], t1)
    assert store.job_owners()["b"].through == t2  # taking keeps it: marked after


def test_a_run_another_host_owns_is_not_finished_over(backend, store):
    run = started_run(store)
    elsewhere = backend.open()
    elsewhere.host = "elsewhere"  # a daemon cut off past its lease: its run was taken over
    assert elsewhere.reopen_run(run.id, [RunStatus.RUNNING], Claim(owner=OTHER, now=T))
    end = RunEnd(RunStatus.FAILED, "exit 1", T, last_attempt=(1, ended(RunStatus.FAILED)))
    assert store.finish_run(run.id, end, release=True) is False
    again = store.get_run(run.id)
    assert (again.status, again.attempts[0].finished_at) == (RunStatus.QUEUED, None)
    assert store.unreleased() == [] and store.run_owner(run.id) == ("elsewhere", OTHER)
    assert elsewhere.finish_run(run.id, end) is True
    assert store.get_run(run.id).status is RunStatus.FAILED


def test_a_run_settled_as_its_owners_death_is_not_finished_by_that_owner(store):
    run = started_run(store)
    end = RunEnd(RunStatus.INTERRUPTED, "its daemon died", T, resume_spent=1)
    assert store.settle_run(run.id, SeenRun(ME, 1), end)
    late = RunEnd(RunStatus.SUCCEEDED, None, T, last_attempt=(1, ended(RunStatus.SUCCEEDED)))
    assert store.finish_run(run.id, late, release=True, owner=ME) is False
    assert store.get_run(run.id).status is RunStatus.INTERRUPTED and store.unreleased() == []
    again = claimed(store, "other")
    assert store.finish_run(again.id, late, owner=OTHER) is False  # not OTHER's
    assert store.finish_run(again.id, late, owner=ME) is True
