"""The store's retention queries (issue 14): which of a job's runs a `keep_runs` /
`keep_days` policy lets go, deleting them a bounded batch per transaction, and each
job's newest pruned logical time. Written once for any SQL backend, as `_sql.py` is.

Nothing here touches `run_totals` or `run_recent`: their triggers fire on INSERT and
UPDATE of runs only, so `cronplus metrics` never goes down after a prune."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from cronplus.store._db import Db, Row, from_db, marks, to_db
from cronplus.store._sql_read import _CHUNK, _FINISHED, _OWN_OUTCOMES, _UNFINISHED
from cronplus.store.schema import FINAL


class PrunedRun(NamedTuple):
    """A run retention deletes (or, in a dry run, would): what its logs are found by."""

    id: int
    scheduled_for: datetime
    attempts: tuple[int, ...]  # the numbers of its recorded attempts


def _newest(where: str) -> str:
    return f"(SELECT id FROM runs WHERE job = ?{where} ORDER BY scheduled_for DESC LIMIT 1)"


# A job's runs a policy lets go: final, beyond its `keep_runs` newest or ended before the
# cut-off, and none of those always kept: the job's latest run, latest succeeded,
# latest finished (what `status` and metrics judge it by), latest own outcome (what the
# "recovered" alert compares with) and latest schedule/catchup run, runs a daemon still
# has to resume or release, and the run with the highest id of all: SQLite hands
# MAX(id) + 1 to the next run, so deleting it would give its id, and its log file's
# name, to a new run. A success stays while a job of its fan-in (`watch`: its direct
# dependents and their other upstreams) has a run for that logical time not over: the
# dependent's release looks for it when that run succeeds.
_PRUNABLE = f"""
    SELECT id, scheduled_for FROM runs
    WHERE {{among}}job = ? AND status IN {FINAL} AND (scheduled_for < ? OR finished_at < ?)
      AND id IS NOT {_newest("")}
      AND id IS NOT {_newest(" AND status = 'succeeded'")}
      AND id IS NOT {_newest(" AND status IN " + _FINISHED)}
      AND id IS NOT {_newest(" AND status IN " + _OWN_OUTCOMES)}
      AND id IS NOT {_newest(" AND trigger IN ('schedule', 'catchup')")}
      AND id NOT IN (SELECT run_id FROM resume) AND id NOT IN (SELECT run_id FROM release)
      AND id <> (SELECT MAX(id) FROM runs)
"""


def _fan_in(watch: int) -> str:
    """The `_PRUNABLE` test for a fan-in of `watch` jobs (their names its parameters)."""
    if not watch:
        return ""
    return f"""
      AND NOT (status = 'succeeded' AND EXISTS (SELECT 1 FROM runs AS w
        WHERE w.job IN ({marks(watch)}) AND w.scheduled_for = runs.scheduled_for
          AND w.status IN {_UNFINISHED}))"""


_ORDER = " ORDER BY scheduled_for"
# Runs whose logical time is a fire time's slot: a manual run's is only when it was
# triggered, so it never makes a missed fire time read as pruned.
_SLOT = "('schedule', 'catchup', 'backfill')"
_BOUNDARY = (
    "SELECT scheduled_for FROM runs WHERE job = ? ORDER BY scheduled_for DESC LIMIT 1 OFFSET ?"
)


class PruneSql:
    """The retention part of the `Store` contract (docstrings in `store/__init__.py`)."""

    _db: Db

    def prunable_runs(
        self,
        job: str,
        keep_runs: int,
        ended_before: datetime | None,
        watch: Sequence[str] = (),
    ) -> list[PrunedRun]:
        return _prunable(self._db.rows, _Ask(job, keep_runs, ended_before, watch))

    def prune_runs(
        self,
        job: str,
        keep_runs: int,
        ended_before: datetime | None,
        watch: Sequence[str] = (),
        *,
        limit: int,
    ) -> list[PrunedRun]:
        ask = _Ask(job, keep_runs, ended_before, watch)
        # Chosen by a read first, outside the write lock: with no index to find the
        # runs that ended before the cut-off it reads all the job's runs, and the
        # scheduler's claims wait for the lock. The transaction then re-asks every
        # condition of those runs only (one may have changed meanwhile).
        sql, args = _query(self._db.rows, ask)
        ids = [r["id"] for r in self._db.rows(f"{sql} LIMIT {int(limit)}", args)]
        if not ids:
            return []
        with self._db.tx() as tx:
            gone = _prunable(tx.all, ask, ids)
            ids = [r.id for r in gone]
            if not ids:
                return []
            slot = tx.all(
                f"SELECT MAX(scheduled_for) AS t FROM runs WHERE id IN ({marks(len(ids))})"
                f" AND trigger IN {_SLOT}",
                ids,
            )[0]["t"]
            tx.run(f"DELETE FROM attempts WHERE run_id IN ({marks(len(ids))})", ids)
            tx.run(f"DELETE FROM runs WHERE id IN ({marks(len(ids))})", ids)
            if slot is not None:
                tx.run(
                    "INSERT INTO pruned (job, through) VALUES (?, ?) ON CONFLICT (job) DO UPDATE"
                    " SET through = excluded.through WHERE pruned.through < excluded.through",
                    (job, slot),
                )
        return gone

    def pruned_through(self, jobs: Iterable[str]) -> dict[str, datetime]:
        names = list(dict.fromkeys(jobs))
        out: dict[str, datetime] = {}
        for i in range(0, len(names), _CHUNK):
            chunk = names[i : i + _CHUNK]
            for r in self._db.rows(
                f"SELECT job, through FROM pruned WHERE job IN ({marks(len(chunk))})", chunk
            ):
                out[r["job"]] = from_db(r["through"])  # type: ignore[assignment]
        return out


Read = Callable[[str, Sequence[object]], list[Row]]


class _Ask(NamedTuple):
    job: str
    keep_runs: int
    ended_before: datetime | None
    watch: Sequence[str]


def _query(read: Read, ask: _Ask, only: Sequence[int] = ()) -> tuple[str, list[object]]:
    """`_PRUNABLE` for `ask` (and, given `only`, among those ids) and its parameters."""
    edge = read(_BOUNDARY, (ask.job, ask.keep_runs - 1)) if ask.keep_runs else []
    boundary = edge[0]["scheduled_for"] if edge else ""  # "": no run is beyond it
    cut = to_db(ask.ended_before) if ask.ended_before else ""  # "": no run ended before it
    # Among `only`: looked up by id, and `+job` keeps SQLite from walking the job's
    # runs by its index instead (the write transaction's re-check reads 500 rows).
    among = f"id IN ({marks(len(only))}) AND +" if only else ""
    sql = _PRUNABLE.format(among=among) + _fan_in(len(ask.watch)) + _ORDER
    return sql, [*only, ask.job, boundary, cut, *[ask.job] * 5, *ask.watch]


def _prunable(read: Read, ask: _Ask, only: Sequence[int] = ()) -> list[PrunedRun]:
    """The runs `_PRUNABLE` finds, oldest first, with their attempts; given `only`, of
    those ids. `read`: a transaction's (to delete them in it) or the store's."""
    sql, args = _query(read, ask, only)
    found = read(sql, args)
    if not found:
        return []
    ids = [r["id"] for r in found]
    numbers: dict[int, list[int]] = {i: [] for i in ids}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for a in read(
            f"SELECT run_id, number FROM attempts WHERE run_id IN ({marks(len(chunk))})"
            " ORDER BY run_id, number",
            chunk,
        ):
            numbers[a["run_id"]].append(a["number"])
    return [
        PrunedRun(r["id"], from_db(r["scheduled_for"]), tuple(numbers[r["id"]]))  # type: ignore[arg-type]
        for r in found
    ]
