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
from cronplus.store._sql_read import _CHUNK
from cronplus.store.schema import FINAL


class PrunedRun(NamedTuple):
    """A run retention deletes (or, in a dry run, would): what its logs are found by."""

    id: int
    scheduled_for: datetime
    attempts: tuple[int, ...]  # the numbers of its recorded attempts


def _newest(where: str) -> str:
    return f"(SELECT id FROM runs WHERE job = ?{where} ORDER BY scheduled_for DESC LIMIT 1)"


# A job's runs a policy lets go: final, beyond its `keep_runs` newest or ended before the
# cut-off, and none of those always kept: the job's latest run, latest succeeded and
# latest schedule/catchup run, and runs a daemon still has to resume or release.
_PRUNABLE = f"""
    SELECT id, scheduled_for FROM runs
    WHERE job = ? AND status IN {FINAL} AND (scheduled_for < ? OR finished_at < ?)
      AND id IS NOT {_newest("")}
      AND id IS NOT {_newest(" AND status = 'succeeded'")}
      AND id IS NOT {_newest(" AND trigger IN ('schedule', 'catchup')")}
      AND id NOT IN (SELECT run_id FROM resume) AND id NOT IN (SELECT run_id FROM release)
    ORDER BY scheduled_for
"""
_BOUNDARY = (
    "SELECT scheduled_for FROM runs WHERE job = ? ORDER BY scheduled_for DESC LIMIT 1 OFFSET ?"
)


class PruneSql:
    """The retention part of the `Store` contract (docstrings in `store/__init__.py`)."""

    _db: Db

    def prunable_runs(
        self, job: str, keep_runs: int, ended_before: datetime | None
    ) -> list[PrunedRun]:
        return _prunable(self._db.rows, job, keep_runs, ended_before, None)

    def prune_runs(
        self, job: str, keep_runs: int, ended_before: datetime | None, *, limit: int
    ) -> list[PrunedRun]:
        with self._db.tx() as tx:
            gone = _prunable(tx.all, job, keep_runs, ended_before, limit)
            ids = [r.id for r in gone]
            if not ids:
                return []
            tx.run(f"DELETE FROM attempts WHERE run_id IN ({marks(len(ids))})", ids)
            tx.run(f"DELETE FROM runs WHERE id IN ({marks(len(ids))})", ids)
            tx.run(
                "INSERT INTO pruned (job, through) VALUES (?, ?) ON CONFLICT (job)"
                " DO UPDATE SET through = MAX(through, excluded.through)",
                (job, to_db(max(r.scheduled_for for r in gone))),
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


def _prunable(
    read: Read, job: str, keep_runs: int, ended_before: datetime | None, limit: int | None
) -> list[PrunedRun]:
    """The runs `_PRUNABLE` finds, oldest first, at most `limit`, with their attempts.
    `read`: a transaction's (to delete them in it) or the store's (a dry run)."""
    edge = read(_BOUNDARY, (job, keep_runs - 1)) if keep_runs else []
    boundary = edge[0]["scheduled_for"] if edge else ""  # "": no run is beyond it
    cut = to_db(ended_before) if ended_before else ""  # "": no run ended before it
    sql = _PRUNABLE + (f" LIMIT {int(limit)}" if limit else "")
    found = read(sql, (job, boundary, cut, job, job, job))
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
