"""The `Store` contract's part for several processes and hosts on one state (issue 17):
the processes executing runs and their heartbeats, each attempt's output tail, and
which daemon fires each scheduled job. `Store` (store/__init__.py) extends it; what
holds for every method is said there.

Times here are the database's clock (`db_now`): a heartbeat is judged against the
clock that wrote it, whatever each host's own clock says."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from cronplus.model import JobOwner, ProcessRecord


class ClusterStore(Protocol):
    host: str  # CRONPLUS_HOST of this process: the runs it owns, the attempts it makes
    shared: bool  # several hosts may use it (PostgreSQL): owners judged by their lease

    def db_now(self) -> datetime:
        """The database's clock (UTC); this host's own for SQLite."""
        ...

    # -- processes executing runs ---------------------------------------------------------

    def register_process(
        self,
        kind: str,
        pid: int,
        lease: timedelta,
        boot_id: str | None = None,
        start_ticks: int | None = None,
    ) -> ProcessRecord | None:
        """List this process (`self.host`, `pid`) as executing runs, its `kind` a
        daemon, `trigger` or `backfill`, started and heartbeating now. A daemon's name is
        its own: while another daemon's row holds `self.host`, nothing is written and
        that row is returned (the caller judges it live or dead, and `forget_process`es
        a dead one). None: registered (a row of the same host and pid is replaced)."""
        ...

    def heartbeat(self, pid: int, running: int) -> datetime | None:
        """This process is alive, executing `running` attempts: its heartbeat is now.
        Returns now, or None when its row is gone: another process declared it dead
        (`forget_process`), and the runs it held may be taken over."""
        ...

    def processes(self) -> list[ProcessRecord]:
        """Every listed process, by host then pid."""
        ...

    def forget_process(self, host: str, pid: int, heartbeat_at: datetime | None = None) -> bool:
        """Drop the process's row (a stop, or a dead process); with `heartbeat_at`,
        only if its heartbeat is still that one (it was judged dead as read). True
        when a row went."""
        ...

    # -- runs across hosts ---------------------------------------------------------------

    def run_owner(self, run_id: int) -> tuple[str | None, int | None]:
        """(host, pid) of the process executing the run; (None, None) for nobody."""
        ...

    def attempt_tail(self, run_id: int, number: int) -> str | None:
        """The last TAIL_BYTES of the attempt's output as its end recorded them, or None."""
        ...

    # -- which daemon fires each scheduled job ---------------------------------------------

    def job_owners(self) -> dict[str, JobOwner]:
        """Each owned job's owner, by job."""
        ...

    def own_jobs(
        self,
        pid: int,
        take: Iterable[str],
        give: Iterable[str],
        through: datetime,
        forget: Iterable[str] = (),
    ) -> dict[str, datetime | None]:
        """In one transaction: this daemon (`self.host`, `pid`) gives up the jobs of
        `give` it owns, noting their fire times consumed `through`, forgets those of
        `forget` it owns (gone from the jobs file: one back later is as if new), and
        takes each job of `take` that has no owner (a dead owner's row must be dropped
        first). Returns the jobs taken, each with the time up to which its previous
        owner consumed its fire times, None for a job never owned (its row starts at
        `through`). A few statements per hundred jobs."""
        ...

    def mark_owned_through(self, pid: int, through: datetime) -> None:
        """Every job this daemon owns has had its fire times consumed up to `through`."""
        ...

    def drop_job_owners(self, host: str, pid: int) -> list[str]:
        """Release every job the (dead or stopping) daemon owned, their `through` kept
        for the next owner; the jobs."""
        ...
