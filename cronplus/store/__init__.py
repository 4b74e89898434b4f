"""Where runs are kept: the `Store` contract, and `open_store`.

All SQL lives in this package; callers speak the domain and get model objects back.
`_sql.py` and `_sql_side.py` hold every query, written once; `sqlite.py` is the
SQLite connection layer (a PostgreSQL one comes later); `schema.py` the migrations;
`_open.py` how the state is opened (`open_store`, re-exported here).

What holds for every method of a `Store` unless its docstring says otherwise:
- Each call is one transaction: it happens whole or not at all, and a concurrent
  caller (a thread, or another process on the same state) sees it whole or not yet.
- It raises `StateError` (cronplus/errors.py) when the state cannot be used: locked by
  another process past the busy timeout, a full disk, a read-only or damaged file.
  A read-only store (`open_store(create=False)` on an existing state) raises it on
  every write. Nothing else is raised for the environment's faults; a programming
  error (an unknown run id where one is required) is not guarded.
- Times are aware datetimes, returned in UTC. The store never reads the clock: every
  time it records is an argument.
- `owner` is the pid of the cronplus process that executes a run (callers pass
  `os.getpid()`); recovery compares it with the live processes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from cronplus.model import (
    AlertDelivery,
    Attempt,
    AttemptResult,
    Claim,
    PoolEntry,
    Run,
    RunEnd,
    RunFile,
    RunStatus,
    SeenRun,
    Trigger,
)
from cronplus.store._contract_cluster import ClusterStore
from cronplus.store._contract_side import SideStore
from cronplus.store._open import open_store
from cronplus.store._sql_prune import PrunedRun
from cronplus.store._sql_read import RunTotal
from cronplus.store._sql_side import ConfigCopy
from cronplus.store.schema import RECENT_KEPT
from cronplus.store.sqlite import OlderStateError

# The values the `Store` methods take (from cronplus/model.py), for callers that
# speak only to the store.
__all__ = [
    "AlertDelivery",
    "Claim",
    "ConfigCopy",
    "OlderStateError",
    "PoolEntry",
    "PrunedRun",
    "RECENT_KEPT",
    "RunEnd",
    "RunTotal",
    "SeenRun",
    "Store",
    "open_store",
]


class Store(SideStore, ClusterStore, Protocol):
    """Runs, their attempts, and what the daemon keeps beside them."""

    def close(self) -> None:
        """Release the connection; the store is not used afterwards."""
        ...

    # -- claims and the life of a run ---------------------------------------------------

    def claim_run(
        self, job: str, scheduled_for: datetime, trigger: Trigger, claim: Claim
    ) -> Run | None:
        """Record the run of `job` for the logical time `scheduled_for`, created
        `claim.now`; None when one exists already (whatever its trigger or status).

        At most once, whoever asks: of any number of threads and processes claiming
        the same (job, scheduled_for) at once, exactly one gets a Run; the database's
        unique key decides, never a read before the write. A QUEUED claim is owned
        by `claim.owner`; a final `claim.status` (skipped, upstream_failed, a `mark`)
        records a run that will not execute: finished `claim.now`, owned by nobody."""
        ...

    def claim_many(
        self, wanted: Sequence[tuple[str, datetime, Trigger]], claim: Claim
    ) -> list[Run | None]:
        """`claim_run` for each (job, scheduled_for, trigger) of `wanted`, all with
        `claim`, in ONE transaction (the runs due at one instant: one commit, not one
        each): a list in `wanted`'s order, a Run for each one claimed here, None for
        each that exists already (a pair given twice: the second is None). All of them
        are recorded or, when it raises, none. At most once as `claim_run`: of
        processes claiming overlapping batches at once, each (job, scheduled_for) is
        claimed by exactly one of them."""
        ...

    def unclaim_runs(self, run_ids: Sequence[int], *, owner: int) -> int:
        """Give back claims that never started: delete each run that is still QUEUED,
        owned by `owner` and without attempts, as if it had never been claimed (a
        backfill stopped before it reached the runs it claimed ahead). A run that
        began, ended, or someone else took (a recovery settled it) is left as it is.
        Returns how many were deleted; one transaction."""
        ...

    def reopen_run(self, run_id: int, allowed: Iterable[RunStatus], claim: Claim) -> Run | None:
        """Take a recorded run whose status is one of `allowed` to run it again
        (QUEUED, owned by `claim.owner`, its start time cleared) or to give it a final
        `claim.status` (finished `claim.now`, owned by nobody). Returns the run as it
        now is, or None when its status is not in `allowed` (someone else took it
        first; an empty `allowed` takes nothing). Its attempts are kept, and it is no
        longer `resumable`. Conditional like a claim: of two callers, one wins."""
        ...

    def begin_attempt(self, run_id: int, attempt: Attempt, *, owner: int) -> None:
        """Record `attempt` of a run (its number, start, log and trigger; the rest is
        written when it ends) before its process starts (a crash then leaves a trace
        of it): the run becomes RUNNING, owned by `owner`, with `attempt.number`
        attempts, its reason cleared and its start kept from the first attempt.
        `attempt.trigger` is who executes it when not the run's own trigger (a
        backfill re-running a scheduled run); None: the run's own."""
        ...

    def begin_attempts(self, begun: Sequence[tuple[int, Attempt]], *, owner: int) -> None:
        """`begin_attempt` for each (run id, attempt) of `begun`, in ONE transaction:
        every attempt is recorded, and every run RUNNING, or (when it raises) none.
        The caller starts no process of them before it returns."""
        ...

    def set_attempt_pid(self, run_id: int, number: int, pid: int) -> None:
        """Record the process id of an attempt's wrapper once it exists."""
        ...

    def finish_attempt(
        self, run_id: int, number: int, result: AttemptResult, *, waiting: str | None = None
    ) -> None:
        """Record an attempt's end (its start too, from `result`). An INTERRUPTED
        result does not count against the job's retries. `waiting`: the run stays
        RUNNING with that reason while it waits for its next retry."""
        ...

    def finish_run(
        self, run_id: int, end: RunEnd, *, release: bool = False, owner: int | None = None
    ) -> bool:
        """Record a run's `end`, owned by nobody afterwards; a SUCCEEDED run keeps no
        reason. In the same transaction: `end.last_attempt`'s end (number, result);
        `end.resume_spent`, to make it `resumable` with that many attempts counted
        against the retries (a stop cut it short); `release`, to make it
        `unreleased` until `mark_released`. False, writing nothing, when a process of
        another host name owns the run, or, given `owner` (the pid of the caller, which
        began its attempts), when that process of this host does not own it any more
        (it was settled as its owner's death, `settle_run`, or taken over)."""
        ...

    # -- recovery: runs a dead cronplus process left unfinished -------------------------

    def owner_of(self, run_id: int) -> int | None:
        """The owner of a run; None for a finished run, or an unknown id."""
        ...

    def adopt_run(self, run_id: int, seen: SeenRun, *, owner: int) -> bool:
        """Make `owner` the owner of an unfinished run whose attempt outlived its
        cronplus process, only if the run is as the caller saw it: unfinished, owned
        by `seen.owner`, with `seen.attempts` attempts. False (and nothing written)
        when another process adopted, settled, reopened or ran it meanwhile."""
        ...

    def settle_run(
        self, run_id: int, seen: SeenRun, end: RunEnd, *, drop_last_attempt: bool = False
    ) -> bool:
        """Record an orphaned run's `end` as `finish_run` does, under the condition of
        `adopt_run`; False (and nothing written) when it changed meanwhile, so of two
        processes settling one orphan exactly one wins. In the same transaction,
        with `drop_last_attempt`: forget its last attempt (number `seen.attempts`),
        recorded but never started."""
        ...

    def spent_attempts(self, run_id: int) -> int:
        """A run's ended attempts that count against its job's retries: all but those
        cronplus cut short (recorded INTERRUPTED)."""
        ...

    def resumable(self) -> list[tuple[int, int]]:
        """(run id, attempts spent) of the runs a stop or crash cut short, by run id:
        what `finish_run`/`settle_run` marked with a `RunEnd.resume_spent`, until
        `drop_resume` or `reopen_run`."""
        ...

    def drop_resume(self, run_id: int) -> None:
        """The run is not to be resumed (any more); nothing when it was not."""
        ...

    def unreleased(self) -> list[int]:
        """Ids of the finished runs whose dependents may not have been released yet
        (`finish_run(..., release=True)` without `mark_released`), by run id."""
        ...

    def mark_released(self, run_id: int) -> None:
        """The run's dependents are started or recorded: a crash now loses none."""
        ...

    # -- reads: model objects, attempts in number order ----------------------------------

    def get_run(self, run_id: int) -> Run | None:
        """The run with that id, or None."""
        ...

    def find_run(self, job: str, scheduled_for: datetime) -> Run | None:
        """The run of `job` for that logical time, or None."""
        ...

    def latest_run(self, job: str, *, finished_only: bool = False) -> Run | None:
        """The run of `job` with the latest logical time; with `finished_only`, the
        latest final one other than skipped (a skipped fire time must not hide the
        failure before it). None when there is none."""
        ...

    def latest_runs(self, jobs: Iterable[str]) -> dict[str, tuple[Run, Run | None]]:
        """For each of `jobs` that has a run: (its `latest_run`, its `latest_run` with
        `finished_only`), read for all the jobs at once, not a query per job (a
        `status` of 1,000 jobs). A job with no run is left out."""
        ...

    def latest_started(self, job: str) -> Run | None:
        """The run of `job` with the latest logical time (ties: latest id) that has at
        least one attempt, the one `logs` shows; None when none has. It reads the
        job's runs from the newest down to that one only, not its whole history."""
        ...

    def runs_between(self, job: str, start: datetime, end: datetime) -> list[Run]:
        """Runs of `job` with start <= logical time < end, oldest first."""
        ...

    def runs_between_of(self, jobs: Iterable[str], start: datetime, end: datetime) -> list[Run]:
        """`runs_between` for many jobs at once (the web's overview of 1,000 jobs): runs
        of any of `jobs` with start <= logical time < end, by job (in no set order),
        each job's oldest first. Without their attempts (`Run.attempts` is empty): a
        view of many jobs' statuses needs none, and reading them was half the cost.
        One query per 5,000 jobs, each job's runs read through its (job, logical time)
        key, never the whole table."""
        ...

    def ended_badly(self, since: datetime, limit: int) -> list[Run]:
        """Runs of any job that ended failed, timed_out, upstream_failed or interrupted
        at or after `since` (their `finished_at`, whatever their logical time: a
        backfill of last month that failed tonight is one), the `limit` that ended
        last, newest first. Read through an index of such runs by their end, never
        the runs that went well."""
        ...

    def history(
        self,
        job: str,
        limit: int | None = None,
        *,
        status: RunStatus | None = None,
        trigger: Trigger | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Run]:
        """Runs of `job`, latest logical time first (ties: latest id first), at most
        `limit` of them (None: all); given, only those of `status`, of `trigger`, and
        with start <= logical time < end (the web's history filter)."""
        ...

    def history_of(
        self,
        bounds: Mapping[str, tuple[datetime | None, datetime | None]],
        limit: int | None = None,
        *,
        statuses: Collection[RunStatus] = (),
        triggers: Collection[Trigger] = (),
    ) -> list[Run]:
        """`history` across jobs (`cronplus history` with several or no JOB): runs of
        each job of `bounds` with start <= logical time < end, its own (start, end)
        (a date is a day in each job's zone; None: no bound), of any of `statuses`
        and of any of `triggers` (empty: any), latest logical time first (ties:
        latest id first), at most `limit` (None: all). One query per 2,500 jobs, each
        job's range read through its (job, logical time) key."""
        ...

    def unfinished_runs(self) -> list[Run]:
        """Every QUEUED or RUNNING run, by id."""
        ...

    def succeeded_jobs(self, jobs: Iterable[str], scheduled_for: datetime) -> set[str]:
        """Which of `jobs` have a SUCCEEDED run for that logical time."""
        ...

    def previous_final(self, job: str, run_id: int) -> Run | None:
        """The job's own last outcome (succeeded, failed or timed_out; not what others
        did to it: skipped, upstream_failed, interrupted) other than `run_id`, at or
        before its logical time; None when there is none."""
        ...

    def latest_scheduled(self, job: str) -> datetime | None:
        """The latest logical time of a run of `job` the schedule (or catch-up) made."""
        ...

    def run_totals(self, jobs: Iterable[str]) -> dict[str, dict[RunStatus, RunTotal]]:
        """For each of `jobs` whose runs ever ended: per final status, how many times
        one of its runs ended with it, how many of those had an attempt, their
        durations (`Run.duration_s`) summed, and the latest end (`finished_at`). A
        status no run ended with, and a job none of whose runs ended, are left out.

        Kept in the state as runs end (every write that makes a run final, or gives a
        final run a new end, counts it: a run run again counts again), never counted
        from the runs: a few rows a job, whatever the number of runs, and they only
        grow. Deleting runs (a retention) must leave them as they are, so that no
        counter of `cronplus metrics` ever goes down."""
        ...

    def recent_durations(self, jobs: Iterable[str]) -> dict[str, list[float]]:
        """For each of `jobs`: the durations (`Run.duration_s`) of the last
        `RECENT_KEPT` (100) of its runs with an attempt to end, oldest end first; a job
        with none is left out. Kept in the state as runs end, as `run_totals` is (a
        run run again adds its new duration), one row a job: deleting runs changes
        none of them."""
        ...

    # -- retention (keep_runs, keep_days) -------------------------------------------------

    def prunable_runs(
        self, job: str, keep_runs: int, ended_before: datetime | None, watch: Sequence[str] = ()
    ) -> list[PrunedRun]:
        """The runs of `job` retention lets go, oldest logical time first, with their
        attempts' numbers: final runs not among its `keep_runs` newest (0: no limit) or
        that ended before `ended_before` (None: no limit), except its latest run, latest
        SUCCEEDED, finished and own-outcome run (`latest_runs`, `previous_final`), latest
        SCHEDULE or CATCHUP run, runs `resumable` or `unreleased`, the highest id of all
        (ids never reused), and a SUCCEEDED run while one of `watch` has an unfinished
        run for its logical time. A read: a dry run, and what `prune_runs` deletes."""
        ...

    def prune_runs(
        self, job: str, keep_runs: int, ended_before: datetime | None, watch: Sequence[str] = (),
        *, limit: int
    ) -> list[PrunedRun]:  # fmt: skip
        """Delete the oldest `limit` of `prunable_runs` (each checked again in the write
        transaction) with their attempts, and raise the job's `pruned_through` to the
        newest of them that held a fire time (SCHEDULE, CATCHUP, BACKFILL); the runs
        deleted (none: nothing is left to prune). `run_totals` and `recent_durations`
        are unchanged. Alert records keep their run ids."""
        ...

    def pruned_through(self, jobs: Iterable[str]) -> dict[str, datetime]:
        """For each of `jobs` that `prune_runs` ever deleted a run of: the newest logical
        time of such a run (it never goes down); other jobs are left out."""
        ...

    # -- files of `watch` runs (issue 16) ------------------------------------------------

    def claim_file_run(
        self, job: str, scheduled_for: datetime, trigger: Trigger, claim: Claim, file: RunFile
    ) -> Run | None:
        """`claim_run` for a run made for one file version (`file`: path, inode, size,
        mtime), recorded with it in the same transaction; None when that version of that
        path has a run of `job` already (whatever its status, also one retention pruned
        since): a version runs at most once, whoever sees it, by the unique key. The
        run's logical time is `scheduled_for`, else the microsecond after `job`'s latest
        run from it on (files seen settled at one instant get one each, however many). The Run
        returned carries `file`, as every read of it does."""
        ...

    def file_versions(self, job: str) -> set[RunFile]:
        """Every file version `claim_file_run` recorded a run of `job` for."""
        ...
