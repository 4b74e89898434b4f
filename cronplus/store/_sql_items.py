"""The queries on a `for_each` run's items (issue 16): the list fixed once, each
item's attempts. Part of `SqlStore`; see `_sql.py`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cronplus.model import Attempt, AttemptResult, Item, RunStatus
from cronplus.store._db import Db, from_db, marks, to_db

_CHUNK = 500  # run ids per query, under SQLite's bound-parameter limit


class ItemsSql:
    """The methods of `SqlStore` on items."""

    _db: Db
    host: str

    def set_items(
        self, run_id: int, items: Sequence[str], *, owner: int, now: datetime
    ) -> list[Item]:
        with self._db.tx() as tx:
            fresh = tx.run(
                "INSERT INTO item_lists (run_id, count) VALUES (?, ?)"
                " ON CONFLICT (run_id) DO NOTHING",
                (run_id, len(items)),
            )
            if fresh:
                for index, item in enumerate(items):
                    tx.run(
                        "INSERT INTO items (run_id, item_index, item, status) VALUES (?, ?, ?, ?)",
                        (run_id, index, item, str(RunStatus.QUEUED)),
                    )
            tx.run(
                "UPDATE runs SET status = 'running', reason = NULL,"
                " started_at = COALESCE(started_at, ?), owner_pid = ?, owner_host = ?"
                " WHERE id = ?",
                (to_db(now), owner, self.host, run_id),
            )
        return self.items_of([run_id])[run_id]

    def items_of(self, run_ids: Sequence[int]) -> dict[int, list[Item]]:
        ids = list(dict.fromkeys(run_ids))
        out: dict[int, list[Item]] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            where = f"run_id IN ({marks(len(chunk))})"
            for r in self._db.rows(f"SELECT run_id FROM item_lists WHERE {where}", chunk):
                out[r["run_id"]] = []
            tries: dict[tuple[int, int], list[Attempt]] = {}
            for a in self._db.rows(
                f"SELECT * FROM item_attempts WHERE {where} ORDER BY run_id, item_index, number",
                chunk,
            ):
                tries.setdefault((a["run_id"], a["item_index"]), []).append(
                    Attempt(
                        number=a["number"],
                        started_at=from_db(a["started_at"]),  # type: ignore[arg-type]
                        finished_at=from_db(a["finished_at"]),
                        exit_code=a["exit_code"],
                        signal=a["signal"],
                        log=a["log"],
                        host=a["host"],
                    )
                )
            for r in self._db.rows(
                f"SELECT * FROM items WHERE {where} ORDER BY run_id, item_index", chunk
            ):
                out[r["run_id"]].append(
                    Item(
                        index=r["item_index"],
                        item=r["item"],
                        status=RunStatus(r["status"]),
                        reason=r["reason"],
                        exit_code=r["exit_code"],
                        attempts=tuple(tries.get((r["run_id"], r["item_index"]), ())),
                    )
                )
        return out

    def begin_item_attempt(self, run_id: int, index: int, attempt: Attempt, *, owner: int) -> None:
        with self._db.tx() as tx:
            tx.run(
                "INSERT INTO item_attempts (run_id, item_index, number, started_at, log, host)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, index, attempt.number, to_db(attempt.started_at), attempt.log, self.host),
            )
            tx.run(
                "UPDATE items SET status = 'running', attempts = ?, reason = NULL"
                " WHERE run_id = ? AND item_index = ?",
                (attempt.number, run_id, index),
            )
            tx.run(
                "UPDATE runs SET status = 'running', reason = NULL,"
                " started_at = COALESCE(started_at, ?), owner_pid = ?, owner_host = ?"
                " WHERE id = ?",
                (to_db(attempt.started_at), owner, self.host, run_id),
            )

    def finish_item_attempt(
        self, run_id: int, index: int, number: int, result: AttemptResult
    ) -> None:
        reason = None if result.status is RunStatus.SUCCEEDED else result.reason
        with self._db.tx() as tx:
            tx.run(
                "UPDATE item_attempts SET started_at = ?, finished_at = ?, exit_code = ?,"
                " signal = ? WHERE run_id = ? AND item_index = ? AND number = ?",
                (
                    to_db(result.started_at),
                    to_db(result.finished_at),
                    result.exit_code,
                    result.signal,
                    run_id,
                    index,
                    number,
                ),
            )
            tx.run(
                "UPDATE items SET status = ?, reason = ?, exit_code = ?"
                " WHERE run_id = ? AND item_index = ?",
                (str(result.status), reason, result.exit_code, run_id, index),
            )
