"""The daemons on the state (issue 17): `status`'s daemon lines under its table, and
`status --daemons` as a table or as JSON. Times are UTC: the daemons may run in
several zones, and their heartbeats are on the database's clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cronplus.model import ProcessRecord
from cronplus.render._base import human_time, print_table

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # no daemon listed: no clock needed
HEADERS = ["HOST", "PID", "STARTED", "HEARTBEAT", "RUNNING"]


def daemon_lines(
    daemon_pid: int | None,
    state: Path | str,
    daemons: Sequence[ProcessRecord] = (),
    db_now: datetime = EPOCH,
) -> list[str]:
    """A line per live daemon the state lists, its heartbeat's age by the database's
    clock `db_now`; else this host's daemon as its lock file tells."""
    if daemons:
        return [
            f"daemon: {d.host} pid {d.pid}, last heartbeat {_ago(db_now - d.heartbeat_at)}"
            f" (state {state})"
            for d in daemons
        ]
    if daemon_pid is None:
        return [f"daemon: not running (state {state})"]
    pid = f"pid {daemon_pid}" if daemon_pid else "pid unknown"
    return [f"daemon: running, {pid} (state {state})"]


def daemons_json(daemons: Sequence[ProcessRecord]) -> list[dict[str, Any]]:
    """`[{"host", "pid", "started_at", "heartbeat_at", "running"}]`, times ISO 8601 UTC."""
    return [
        {
            "host": d.host,
            "pid": d.pid,
            "started_at": d.started_at.astimezone(UTC).isoformat(),
            "heartbeat_at": d.heartbeat_at.astimezone(UTC).isoformat(),
            "running": d.running,
        }
        for d in daemons
    ]


def print_daemons(daemons: Sequence[ProcessRecord], db_now: datetime) -> None:
    rows = [
        [
            d.host,
            str(d.pid),
            human_time(d.started_at, "UTC"),
            _ago(db_now - d.heartbeat_at),
            str(d.running),
        ]
        for d in daemons
    ]
    print_table(HEADERS, rows, whole=[2])


def _ago(age: timedelta) -> str:
    return f"{max(0, int(age.total_seconds()))}s ago"
