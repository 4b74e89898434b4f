"""The queries for several processes and hosts on one state (issue 17): the processes
executing runs and their heartbeats, each attempt's output tail, and the daemon that
fires each scheduled job. Part of `SqlStore`; see `_sql.py`. Times are the database's
clock (`Db.now`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from cronplus.model import JobOwner, ProcessRecord
from cronplus.store._db import Db, Row, from_db, marks, to_db

_PROCESS = "host, pid, kind, started_at, heartbeat_at, lease_ms, running, boot_id, start_ticks"


class ClusterSql:
    _db: Db
    host: str

    def db_now(self) -> datetime:
        return self._db.now()

    # -- processes ------------------------------------------------------------------------

    def register_process(
        self,
        kind: str,
        pid: int,
        lease: timedelta,
        boot_id: str | None = None,
        start_ticks: int | None = None,
    ) -> ProcessRecord | None:
        with self._db.tx() as tx:
            if kind == "daemon":
                row = tx.one(
                    f"SELECT {_PROCESS} FROM processes WHERE host = ? AND kind = 'daemon'"
                    " AND pid <> ?",
                    (self.host, pid),
                )
                if row is not None:
                    return _process(row)
            now = to_db(self._db.now())
            tx.run("DELETE FROM processes WHERE host = ? AND pid = ?", (self.host, pid))
            tx.run(
                f"INSERT INTO processes ({_PROCESS}) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (
                    self.host,
                    pid,
                    kind,
                    now,
                    now,
                    round(lease.total_seconds() * 1000),
                    boot_id,
                    start_ticks,
                ),
            )
        return None

    def heartbeat(self, pid: int, running: int) -> datetime | None:
        with self._db.tx() as tx:
            now = self._db.now()
            changed = tx.run(
                "UPDATE processes SET heartbeat_at = ?, running = ? WHERE host = ? AND pid = ?",
                (to_db(now), running, self.host, pid),
            )
        return now if changed == 1 else None

    def processes(self) -> list[ProcessRecord]:
        rows = self._db.rows(f"SELECT {_PROCESS} FROM processes ORDER BY host, pid")
        return [_process(r) for r in rows]

    def forget_process(self, host: str, pid: int, heartbeat_at: datetime | None = None) -> bool:
        sql, args = "DELETE FROM processes WHERE host = ? AND pid = ?", [host, pid]
        if heartbeat_at is not None:
            sql, args = sql + " AND heartbeat_at = ?", [*args, to_db(heartbeat_at)]
        with self._db.tx() as tx:
            return tx.run(sql, args) == 1

    # -- runs across hosts ------------------------------------------------------------------

    def run_owner(self, run_id: int) -> tuple[str | None, int | None]:
        rows = self._db.rows("SELECT owner_host, owner_pid FROM runs WHERE id = ?", (run_id,))
        if not rows or rows[0]["owner_pid"] is None:
            return None, None
        return rows[0]["owner_host"], rows[0]["owner_pid"]

    def attempt_tail(self, run_id: int, number: int) -> str | None:
        rows = self._db.rows(
            "SELECT tail FROM attempts WHERE run_id = ? AND number = ?", (run_id, number)
        )
        return rows[0]["tail"] if rows else None

    # -- job owners ---------------------------------------------------------------------------

    def job_owners(self) -> dict[str, JobOwner]:
        rows = self._db.rows(
            "SELECT job, host, pid, since, through FROM job_owners WHERE host IS NOT NULL"
            " ORDER BY job"
        )
        return {r["job"]: _owner(r) for r in rows}

    def own_jobs(
        self,
        pid: int,
        take: Iterable[str],
        give: Iterable[str],
        through: datetime,
        forget: Iterable[str] = (),
    ) -> dict[str, datetime | None]:
        taken: dict[str, datetime | None] = {}
        mine = (self.host, pid)
        with self._db.tx() as tx:
            now = to_db(self._db.now())
            for chunk in _chunks(give):
                tx.run(
                    "UPDATE job_owners SET host = NULL, pid = NULL, since = NULL, through = ?"
                    f" WHERE job IN ({marks(len(chunk))}) AND host = ? AND pid = ?",
                    (to_db(through), *chunk, *mine),
                )
            for chunk in _chunks(forget):
                tx.run(
                    f"DELETE FROM job_owners WHERE job IN ({marks(len(chunk))})"
                    " AND host = ? AND pid = ?",
                    (*chunk, *mine),
                )
            for chunk in _chunks(take):
                rows = tx.all(
                    f"SELECT job, host, through FROM job_owners WHERE job IN ({marks(len(chunk))})",
                    chunk,
                )
                free = {r["job"]: from_db(r["through"]) for r in rows if r["host"] is None}
                held = {r["job"] for r in rows if r["host"] is not None}
                new = [j for j in chunk if j not in free and j not in held]
                if free:
                    tx.run(
                        "UPDATE job_owners SET host = ?, pid = ?, since = ?"
                        f" WHERE job IN ({marks(len(free))}) AND host IS NULL",
                        (*mine, now, *free),
                    )
                if new:
                    tx.run(
                        "INSERT INTO job_owners (job, host, pid, since, through) VALUES "
                        + ", ".join(["(?, ?, ?, ?, ?)"] * len(new)),
                        [v for j in new for v in (j, *mine, now, to_db(through))],
                    )
                taken.update(free)
                taken.update(dict.fromkeys(new))
        return taken

    def mark_owned_through(self, pid: int, through: datetime) -> None:
        with self._db.tx() as tx:
            tx.run(
                "UPDATE job_owners SET through = ? WHERE host = ? AND pid = ? AND through < ?",
                (to_db(through), self.host, pid, to_db(through)),
            )

    def drop_job_owners(self, host: str, pid: int) -> list[str]:
        with self._db.tx() as tx:
            jobs = [
                r["job"]
                for r in tx.all(
                    "SELECT job FROM job_owners WHERE host = ? AND pid = ? ORDER BY job",
                    (host, pid),
                )
            ]
            for i in range(0, len(jobs), 500):
                chunk = jobs[i : i + 500]
                tx.run(
                    "UPDATE job_owners SET host = NULL, pid = NULL, since = NULL"
                    f" WHERE job IN ({marks(len(chunk))})",
                    chunk,
                )
        return jobs


def _chunks(names: Iterable[str], size: int = 100) -> Iterable[list[str]]:
    """Names a few hundred at a time: one statement each, within any driver's limits."""
    names = list(dict.fromkeys(names))
    return (names[i : i + size] for i in range(0, len(names), size))


def _process(r: Row) -> ProcessRecord:
    return ProcessRecord(
        host=r["host"],
        pid=r["pid"],
        kind=r["kind"],
        started_at=from_db(r["started_at"]),  # type: ignore[arg-type]
        heartbeat_at=from_db(r["heartbeat_at"]),  # type: ignore[arg-type]
        lease=timedelta(milliseconds=r["lease_ms"]),
        running=r["running"],
        boot_id=r["boot_id"],
        start_ticks=r["start_ticks"],
    )


def _owner(r: Row) -> JobOwner:
    return JobOwner(
        job=r["job"],
        host=r["host"],
        pid=r["pid"],
        since=from_db(r["since"]),
        through=from_db(r["through"]),  # type: ignore[arg-type]
    )
