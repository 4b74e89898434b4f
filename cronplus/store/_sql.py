"""Every query of the store that writes runs and attempts, written once: their claims,
their life and recovery; `_sql_read.py` reads them, `_sql_side.py` the tables beside.

`SqlStore` implements the `Store` contract (its docstrings are in `store/__init__.py`)
over a connection layer (`Db`) that owns connecting, PRAGMAs, transactions and the
mapping of driver errors to `StateError`; `store/sqlite.py` is the SQLite one. The
SQL here is what SQLite and PostgreSQL share: `ON CONFLICT` rather than `INSERT OR`,
no `LIMIT -1`, rows read by column name. Parameters are written `?`; a driver that
wants `%s` translates them (no statement here holds a literal `?` or `%`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cronplus.model import Attempt, AttemptResult, Claim, Run, RunEnd, RunStatus, SeenRun, Trigger
from cronplus.store._db import Db, Tx, marks, to_db
from cronplus.store._sql_claim import claim_rows, claimed_run
from cronplus.store._sql_cluster import ClusterSql
from cronplus.store._sql_files import FilesSql
from cronplus.store._sql_items import ItemsSql
from cronplus.store._sql_pools import PoolsSql
from cronplus.store._sql_prune import PruneSql
from cronplus.store._sql_read import (
    _CHUNK,
    _UNFINISHED,
    RunReads,
)

# A run's end, as `finish_run` and `settle_run` write it (values: `_end_values`).
_END = "status = ?, reason = ?, finished_at = ?, owner_pid = NULL, owner_host = NULL"


class SqlStore(RunReads, PruneSql, PoolsSql, ItemsSql, FilesSql, ClusterSql):
    """The `Store` over any `Db`. Each public method is one transaction (or one read)."""

    shared = False  # one host's (SQLite): a run's owner is judged by its pid here

    def __init__(self, db: Db, host: str = "") -> None:
        self._db = db
        self.host = host  # CRONPLUS_HOST of this process: runs it owns, attempts it makes

    def close(self) -> None:
        self._db.close()

    # -- claims and the life of a run ---------------------------------------------------

    def claim_run(
        self, job: str, scheduled_for: datetime, trigger: Trigger, claim: Claim
    ) -> Run | None:
        return self.claim_many([(job, scheduled_for, trigger)], claim)[0]

    def claim_many(
        self, wanted: Sequence[tuple[str, datetime, Trigger]], claim: Claim
    ) -> list[Run | None]:
        with self._db.tx(locked=False) as tx:
            ids = claim_rows(tx, wanted, claim, self.host)
        return [
            None if run_id is None else claimed_run(run_id, job, t, trigger, claim)
            for run_id, (job, t, trigger) in zip(ids, wanted, strict=True)
        ]

    def unclaim_runs(self, run_ids: Sequence[int], *, owner: int) -> int:
        gone = 0
        with self._db.tx() as tx:
            for i in range(0, len(run_ids), _CHUNK):
                chunk = run_ids[i : i + _CHUNK]
                gone += tx.run(
                    f"DELETE FROM runs WHERE id IN ({marks(len(chunk))}) AND status = 'queued'"
                    " AND attempts = 0 AND owner_pid = ?",
                    (*chunk, owner),
                )
        return gone

    def reopen_run(self, run_id: int, allowed: Iterable[RunStatus], claim: Claim) -> Run | None:
        names = [str(s) for s in allowed]
        if not names:
            return None
        final = claim.status.is_final
        with self._db.tx() as tx:
            changed = tx.run(
                # started_at restarts with the next attempt: a run's duration is that of
                # its latest execution, not the week since its first one.
                "UPDATE runs SET status = ?, reason = ?, started_at = NULL, finished_at = ?,"
                f" owner_pid = ?, owner_host = ? WHERE id = ? AND status IN ({marks(len(names))})",
                (
                    str(claim.status),
                    claim.reason,
                    to_db(claim.now) if final else None,
                    None if final else claim.owner,
                    None if final else self.host,
                    run_id,
                    *names,
                ),
            )
            if changed != 1:
                return None
            # Taken to run again (or settled): no longer waiting to be resumed.
            tx.run("DELETE FROM resume WHERE run_id = ?", (run_id,))
        return self.get_run(run_id)

    def begin_attempt(self, run_id: int, attempt: Attempt, *, owner: int) -> None:
        self.begin_attempts([(run_id, attempt)], owner=owner)

    def begin_attempts(self, begun: Sequence[tuple[int, Attempt]], *, owner: int) -> None:
        with self._db.tx(locked=False) as tx:
            for i in range(0, len(begun), _CHUNK // 8):
                _begin_attempts(tx, begun[i : i + _CHUNK // 8], owner, self.host)

    def set_attempt_pid(self, run_id: int, number: int, pid: int) -> None:
        with self._db.tx(locked=False) as tx:
            tx.run(
                "UPDATE attempts SET pid = ? WHERE run_id = ? AND number = ?",
                (pid, run_id, number),
            )

    def finish_attempt(
        self, run_id: int, number: int, result: AttemptResult, *, waiting: str | None = None
    ) -> None:
        with self._db.tx(locked=False) as tx:
            _finish_attempt(tx, run_id, number, result)
            if waiting is not None:
                tx.run("UPDATE runs SET reason = ? WHERE id = ?", (waiting, run_id))

    def finish_run(
        self, run_id: int, end: RunEnd, *, release: bool = False, owner: int | None = None
    ) -> bool:
        # Never over another host's, and with `owner` only while it owns the run: a
        # daemon cut off from the state past its lease lost its runs to another, which
        # settled them and may run them again (issue 17); it records nothing over them.
        # (A host NULL: written before hosts were recorded.)
        where, args = "(owner_host IS NULL OR owner_host = ?)", [self.host]
        if owner is not None:
            where, args = f"owner_pid = ? AND {where}", [owner, *args]
        with self._db.tx(locked=False) as tx:
            sql = f"UPDATE runs SET {_END} WHERE id = ? AND {where}"
            if tx.run(sql, (*_end_values(end), run_id, *args)) != 1:
                return False
            if release:
                tx.run(
                    "INSERT INTO release (run_id) VALUES (?) ON CONFLICT (run_id) DO NOTHING",
                    (run_id,),
                )
            _end_markers(tx, run_id, end)
        return True

    # -- recovery -----------------------------------------------------------------------

    def owner_of(self, run_id: int) -> int | None:
        rows = self._db.rows("SELECT owner_pid FROM runs WHERE id = ?", (run_id,))
        return rows[0]["owner_pid"] if rows else None

    def adopt_run(self, run_id: int, seen: SeenRun, *, owner: int) -> bool:
        with self._db.tx() as tx:
            where, args = _as_seen(run_id, seen)
            sql = f"UPDATE runs SET owner_pid = ?, owner_host = ? WHERE {where}"
            return tx.run(sql, (owner, self.host, *args)) == 1

    def settle_run(
        self, run_id: int, seen: SeenRun, end: RunEnd, *, drop_last_attempt: bool = False
    ) -> bool:
        with self._db.tx() as tx:
            where, args = _as_seen(run_id, seen)
            if tx.run(f"UPDATE runs SET {_END} WHERE {where}", (*_end_values(end), *args)) != 1:
                return False
            _end_markers(tx, run_id, end)
            if drop_last_attempt:
                number = seen.attempts
                tx.run("DELETE FROM attempts WHERE run_id = ? AND number = ?", (run_id, number))
                tx.run("UPDATE runs SET attempts = ? WHERE id = ?", (number - 1, run_id))
        return True

    def spent_attempts(self, run_id: int) -> int:
        rows = self._db.rows(
            "SELECT count(*) AS spent FROM attempts WHERE run_id = ?"
            " AND finished_at IS NOT NULL AND counted = 1",
            (run_id,),
        )
        return int(rows[0]["spent"])

    def resumable(self) -> list[tuple[int, int]]:
        rows = self._db.rows("SELECT run_id, spent FROM resume ORDER BY run_id")
        return [(r["run_id"], r["spent"]) for r in rows]

    def drop_resume(self, run_id: int) -> None:
        with self._db.tx() as tx:
            tx.run("DELETE FROM resume WHERE run_id = ?", (run_id,))

    def unreleased(self) -> list[int]:
        return [r["run_id"] for r in self._db.rows("SELECT run_id FROM release ORDER BY run_id")]

    def mark_released(self, run_id: int) -> None:
        with self._db.tx() as tx:
            tx.run("DELETE FROM release WHERE run_id = ?", (run_id,))


def _begin_attempts(tx: Tx, begun: Sequence[tuple[int, Attempt]], owner: int, host: str) -> None:
    """The attempts begun, and their runs running: two statements for them all."""
    tx.run(
        "INSERT INTO attempts (run_id, number, started_at, log, trigger, host) VALUES "
        + ", ".join(
            ["(?, ?, ?, ?, COALESCE(?, (SELECT trigger FROM runs WHERE id = ?)), ?)"] * len(begun)
        ),
        [
            v
            for run_id, a in begun
            for v in (
                run_id,
                a.number,
                to_db(a.started_at),
                a.log,
                a.trigger and str(a.trigger),
                run_id,
                host,
            )
        ],
    )
    # Each run's attempt number and start, as VALUES rows (column1, …: their names in
    # SQLite and PostgreSQL alike), typed so that PostgreSQL compares them.
    rows = "(CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS TEXT))"
    tx.run(
        "UPDATE runs SET status = 'running', attempts = v.column2, reason = NULL,"
        " started_at = COALESCE(runs.started_at, v.column3), owner_pid = ?, owner_host = ?"
        f" FROM (VALUES {', '.join([rows] * len(begun))}) AS v WHERE runs.id = v.column1",
        [owner, host, *(v for run_id, a in begun for v in (run_id, a.number, to_db(a.started_at)))],
    )


def _as_seen(run_id: int, seen: SeenRun) -> tuple[str, tuple[object, ...]]:
    """The condition "the run is unfinished, as the caller saw it"."""
    owner = seen.owner
    owned = "owner_pid IS NULL" if owner is None else "owner_pid = ?"
    where = f"id = ? AND status IN {_UNFINISHED} AND {owned} AND attempts = ?"
    return where, (run_id, *(() if owner is None else (owner,)), seen.attempts)


def _end_values(end: RunEnd) -> tuple[object, ...]:
    """The values of `_END`, in its order."""
    reason = None if end.status is RunStatus.SUCCEEDED else end.reason
    return (str(end.status), reason, to_db(end.finished_at))


def _end_markers(tx: Tx, run_id: int, end: RunEnd) -> None:
    """What a run's end writes beside the run's row: its last attempt's end, and the
    mark to resume it."""
    if end.last_attempt is not None:
        _finish_attempt(tx, run_id, *end.last_attempt)
    if end.resume_spent is not None:
        _to_resume(tx, run_id, end.resume_spent)


def _finish_attempt(tx: Tx, run_id: int, number: int, result: AttemptResult) -> None:
    tx.run(
        "UPDATE attempts SET started_at = ?, finished_at = ?, exit_code = ?, signal = ?,"
        " counted = ?, tail = COALESCE(?, tail) WHERE run_id = ? AND number = ?",
        (
            to_db(result.started_at),
            to_db(result.finished_at),
            result.exit_code,
            result.signal,
            0 if result.status is RunStatus.INTERRUPTED else 1,
            result.tail,
            run_id,
            number,
        ),
    )


def _to_resume(tx: Tx, run_id: int, spent: int) -> None:
    tx.run(
        "INSERT INTO resume (run_id, spent) VALUES (?, ?)"
        " ON CONFLICT (run_id) DO UPDATE SET spent = excluded.spent",
        (run_id, spent),
    )
