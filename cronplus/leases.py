"""Is a cronplus process alive, when it may run on another host (issue 17)? A process
listed in the state (`processes`) is alive while its heartbeat, on the database's
clock, is within its lease. This host's processes are asked directly (`procs`)."""

from __future__ import annotations

from cronplus.procs import alive, host, live
from cronplus.store import Store


def here(store: Store, owner_host: str | None) -> bool:
    """Whether a run owned by `owner_host` is this host's to judge by its pid: every
    run of a state only one host uses (SQLite: a renamed host's too), and a run written
    before hosts were recorded (None)."""
    return not store.shared or owner_host is None or owner_host == host()


def owner_live(store: Store, owner_host: str | None, pid: int | None) -> bool:
    """Whether the process executing a run is alive: by its pid on this host, by its
    heartbeat on another (a process the state does not list is not)."""
    if pid is None:
        return False
    if here(store, owner_host):
        return alive(pid)
    now = store.db_now()
    return any((p.host, p.pid) == (owner_host, pid) for p in live(store.processes(), now))
