"""Pools (`[pools]`, issue 15): the slots runs hold and the line of runs waiting for
them, shared by every process on the state. Part of `SqlStore`; see `_sql.py`.

A run waits (`pool_wait`), then takes its slots in one transaction only when it is
first in its pool's line and they fit (`pool_take`), so a run needing many slots is
never overtaken for ever by runs needing fewer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cronplus.model import PoolEntry
from cronplus.store._db import Db, Row, Tx, from_db, marks, to_db

_COLUMNS = (
    "pool, run_id, job, slots, logical_time, attempt, host, pid, since, boot_id, start_ticks, item"
)
_KEY = "run_id = ? AND item = ?"  # a run's row, or one item's of a for_each run (issue 16)


class PoolsSql:
    """The methods of `SqlStore` on the pool tables."""

    _db: Db

    def pool_wait(self, entry: PoolEntry, reason: str | None = None) -> None:
        e = entry
        with self._db.tx() as tx:
            if reason is not None:
                tx.run(
                    "UPDATE runs SET reason = ? WHERE id = ? AND status IN ('queued', 'running')",
                    (reason, e.run_id),
                )
            tx.run(
                f"INSERT INTO pool_waiting ({_COLUMNS}) VALUES ({marks(12)})"
                " ON CONFLICT (run_id, item) DO UPDATE SET pool = excluded.pool,"
                " slots = excluded.slots, attempt = excluded.attempt, host = excluded.host,"
                " pid = excluded.pid, boot_id = excluded.boot_id,"
                " start_ticks = excluded.start_ticks",
                (e.pool, e.run_id, e.job, e.slots, to_db(e.logical_time), e.attempt,
                 e.host, e.pid, to_db(e.since), e.boot_id, e.start_ticks, e.item),
            )  # fmt: skip

    def pool_take(self, run_id: int, size: int, now: datetime, item: int = -1) -> tuple[bool, int]:
        key = (run_id, item)
        with self._db.tx() as tx:
            me = tx.one(f"SELECT pool, slots FROM pool_waiting WHERE {_KEY}", key)
            if me is None:
                held = tx.one(f"SELECT pool FROM pool_slots WHERE {_KEY}", key)
                in_use = _in_use(tx, held["pool"]) if held else 0
                return held is not None, in_use
            # Slots this key still holds are a dead process's for an attempt now over
            # (one attempt of a run, or of an item, goes at once): the new take replaces them.
            tx.run(f"DELETE FROM pool_slots WHERE {_KEY}", key)
            in_use = _in_use(tx, me["pool"])
            first = tx.one(
                "SELECT run_id, item FROM pool_waiting WHERE pool = ?"
                " ORDER BY logical_time, run_id, item LIMIT 1",
                (me["pool"],),
            )
            if (
                first is None
                or (first["run_id"], first["item"]) != key
                or in_use + me["slots"] > size
            ):
                return False, in_use
            tx.run(
                f"INSERT INTO pool_slots ({_COLUMNS}) SELECT pool, run_id, job, slots,"
                " logical_time, attempt, host, pid, ?, boot_id, start_ticks, item"
                f" FROM pool_waiting WHERE {_KEY}",
                (to_db(now), *key),
            )
            tx.run(f"DELETE FROM pool_waiting WHERE {_KEY}", key)
            return True, in_use + me["slots"]

    def pool_release(self, run_id: int, item: int | None = None) -> None:
        where, args = ("run_id = ?", (run_id,)) if item is None else (_KEY, (run_id, item))
        with self._db.tx() as tx:
            tx.run(f"DELETE FROM pool_slots WHERE {where}", args)
            tx.run(f"DELETE FROM pool_waiting WHERE {where}", args)

    def pool_drop(
        self,
        run_id: int,
        pid: int,
        boot_id: str | None = None,
        start_ticks: int | None = None,
        item: int | None = None,
    ) -> bool:
        args: tuple[object, ...] = (run_id, pid, boot_id, start_ticks)
        same = "run_id = ? AND pid = ? AND boot_id IS ? AND start_ticks IS ?"
        if item is not None:
            same, args = f"{same} AND item = ?", (*args, item)
        with self._db.tx() as tx:
            dropped = tx.run(f"DELETE FROM pool_slots WHERE {same}", args)
            dropped += tx.run(f"DELETE FROM pool_waiting WHERE {same}", args)
        return dropped > 0

    def pool_adopt(
        self,
        run_id: int,
        host: str,
        pid: int,
        boot_id: str | None = None,
        start_ticks: int | None = None,
    ) -> bool:
        with self._db.tx() as tx:
            return (
                tx.run(
                    "UPDATE pool_slots SET host = ?, pid = ?, boot_id = ?, start_ticks = ?"
                    " WHERE run_id = ?",
                    (host, pid, boot_id, start_ticks, run_id),
                )
                > 0
            )

    def pool_entries(
        self, pools: Iterable[str] | None = None
    ) -> tuple[list[PoolEntry], list[PoolEntry]]:
        where, args = "", ()
        if pools is not None:
            args = tuple(pools)
            if not args:
                return [], []
            where = f" WHERE pool IN ({marks(len(args))})"
        holders = self._db.rows(
            f"SELECT {_COLUMNS} FROM pool_slots{where} ORDER BY pool, since, run_id, item", args
        )
        waiting = self._db.rows(
            f"SELECT {_COLUMNS} FROM pool_waiting{where} ORDER BY pool, logical_time, run_id, item",
            args,
        )
        return [_entry(r) for r in holders], [_entry(r) for r in waiting]


def _in_use(tx: Tx, pool: str) -> int:
    row = tx.one("SELECT COALESCE(SUM(slots), 0) AS n FROM pool_slots WHERE pool = ?", (pool,))
    return int(row["n"]) if row else 0


def _entry(r: Row) -> PoolEntry:
    return PoolEntry(
        pool=r["pool"],
        run_id=r["run_id"],
        job=r["job"],
        slots=r["slots"],
        logical_time=from_db(r["logical_time"]),  # type: ignore[arg-type]
        attempt=r["attempt"],
        host=r["host"],
        pid=r["pid"],
        since=from_db(r["since"]),  # type: ignore[arg-type]
        boot_id=r["boot_id"],
        start_ticks=r["start_ticks"],
        item=r["item"],
    )
