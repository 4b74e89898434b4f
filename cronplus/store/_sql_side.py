"""The queries on the tables beside the runs: alerts and their holds, the deadlines
alerted, paused jobs, and what a daemon leaves for the next one and for read commands
(`meta`, whose keys no caller sees). Part of `SqlStore`; see `_sql.py`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from cronplus.model import AlertDelivery, AlertRecord
from cronplus.store._db import Db, Row, from_db, to_db


class ConfigCopy(NamedTuple):
    """The jobs file a daemon runs, as read commands may show it (no secrets)."""

    path: str
    text: str


# The `meta` table's keys; only the methods below know them.
_ALIVE = "daemon_alive"  # when a daemon last looked at the clock
_PID = "daemon_pid"  # the last daemon started: whose runs the next one resumes
# ... per host name (issue 17: one state, daemons on several hosts), "daemon_pid@web1";
# a state from before reads the one key there was.
_CONFIG = "config"  # the jobs file it runs, for read commands while the file is broken


class SideTablesSql:
    """The methods of `SqlStore` on these tables."""

    _db: Db
    host: str

    # -- alerts -------------------------------------------------------------------------

    def hold_or_send(
        self, job: str, kind: str, now: datetime, repeat_after: timedelta
    ) -> tuple[int, datetime | None] | None:
        with self._db.tx() as tx:
            row = tx.one(
                "SELECT last_sent, held, held_since FROM alert_holds WHERE job = ? AND kind = ?",
                (job, kind),
            )
            last = from_db(row["last_sent"]) if row else None
            if last is not None and now - last < repeat_after:
                tx.run(
                    "UPDATE alert_holds SET held = held + 1,"
                    " held_since = COALESCE(held_since, ?) WHERE job = ? AND kind = ?",
                    (to_db(now), job, kind),
                )
                return None
            tx.run(
                "INSERT INTO alert_holds (job, kind, last_sent, held, held_since)"
                " VALUES (?, ?, ?, 0, NULL) ON CONFLICT (job, kind) DO UPDATE SET"
                " last_sent = excluded.last_sent, held = 0, held_since = NULL",
                (job, kind, to_db(now)),
            )
            return (row["held"], from_db(row["held_since"])) if row else (0, None)

    def clear_holds(self, job: str, kind: str) -> tuple[int, datetime | None]:
        with self._db.tx() as tx:
            row = tx.one(
                "SELECT held, held_since FROM alert_holds WHERE job = ? AND kind = ?", (job, kind)
            )
            tx.run("DELETE FROM alert_holds WHERE job = ? AND kind = ?", (job, kind))
        return (row["held"], from_db(row["held_since"])) if row else (0, None)

    def record_alert(self, alert: AlertDelivery) -> int:
        a = alert
        with self._db.tx() as tx:
            alert_id = tx.insert(
                "INSERT INTO alerts (time, event, job, run_id, channel, sent, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (to_db(a.time), a.event, a.job, a.run_id, a.channel, int(a.sent), a.error),
            )
        return alert_id or 0

    def recent_alerts(self, limit: int) -> list[AlertRecord]:
        rows = self._db.rows(
            "SELECT id, time, event, job, run_id, channel, sent, error FROM alerts"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_alert(r) for r in rows]

    # -- deadlines (schema 10) -------------------------------------------------------------

    def deadline_alerted(self, job: str, t: datetime) -> bool:
        with self._db.tx() as tx:
            return (
                tx.run(
                    "INSERT INTO deadline_alerted (job, through) VALUES (?, ?)"
                    " ON CONFLICT (job) DO UPDATE SET through = excluded.through"
                    " WHERE deadline_alerted.through < excluded.through",
                    (job, to_db(t)),
                )
                == 1
            )

    # -- paused jobs --------------------------------------------------------------------

    def pause(self, job: str, now: datetime) -> bool:
        with self._db.tx() as tx:
            return (
                tx.run(
                    "INSERT INTO paused (job, since) VALUES (?, ?) ON CONFLICT (job) DO NOTHING",
                    (job, to_db(now)),
                )
                == 1
            )

    def unpause(self, job: str) -> bool:
        with self._db.tx() as tx:
            return tx.run("DELETE FROM paused WHERE job = ?", (job,)) == 1

    def paused_jobs(self) -> dict[str, datetime]:
        rows = self._db.rows("SELECT job, since FROM paused")
        return {r["job"]: from_db(r["since"]) for r in rows}

    # -- what a daemon leaves for the next one and for read commands ---------------------

    def mark_daemon_alive(self, at: datetime) -> None:
        self._set_meta(_ALIVE, to_db(at))

    def daemon_alive(self) -> datetime | None:
        return from_db(self._meta(_ALIVE))

    def mark_daemon_started(self, pid: int) -> None:
        self._set_meta(f"{_PID}@{self.host}", str(pid))

    def last_daemon_pid(self) -> int | None:
        value = self._meta(f"{_PID}@{self.host}") or self._meta(_PID)
        return int(value) if value and value.isdigit() else None

    def save_config_copy(self, path: str, text: str) -> None:
        import json  # the daemon's and a broken file's only: not on a read's path

        self._set_meta(_CONFIG, json.dumps({"path": path, "text": text}))

    def config_copy(self) -> ConfigCopy | None:
        import json

        try:
            saved = json.loads(self._meta(_CONFIG) or "null")
        except ValueError:
            return None
        if not isinstance(saved, dict):
            return None
        path, text = saved.get("path"), saved.get("text")
        if not isinstance(path, str) or not isinstance(text, str):
            return None
        return ConfigCopy(path, text)

    def _meta(self, key: str) -> str | None:
        rows = self._db.rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        with self._db.tx() as tx:
            tx.run(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _alert(r: Row) -> AlertRecord:
    return AlertRecord(
        id=r["id"],
        time=from_db(r["time"]),
        event=r["event"],
        job=r["job"],
        run_id=r["run_id"],
        channel=r["channel"],
        sent=bool(r["sent"]),
        error=r["error"],
    )
