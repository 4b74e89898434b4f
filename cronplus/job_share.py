"""Which scheduled jobs this daemon fires, when several daemons share one PostgreSQL
state (issue 17).

Every scheduled job has at most one owner, a live daemon, recorded in the state
(`job_owners`); only its owner fires its fire times, so everything that is about one
job (overlap, its lane of runs, catch-up, retries) keeps its single-host meaning: a
job never has two scheduled attempts at once, anywhere. Each daemon owns about its
share of the jobs: at each check (every third of the lease) it counts the live
daemons, hands over idle jobs it holds beyond ceil(jobs / daemons), and takes free
ones up to that share, preferring, by rendezvous hashing of (job, host), the jobs
that prefer it, so a daemon joining or leaving moves few jobs. A job taken over is
taken up from where its last owner consumed its fire times (`through`): those that
passed meanwhile without a run go through its catch-up policy, or run late within
its start_grace (`Engine._take_up`).

A daemon whose heartbeat is older than its lease is dead, judged only by a daemon
that has itself been connected for a whole lease: `sweep.py` interrupts its runs
(resumed here while retries last) and frees its jobs for the others to take.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronplus.errors import StateError
from cronplus.model import ProcessRecord
from cronplus.procs import live
from cronplus.store import Store

log = logging.getLogger("cronplus")


@dataclass
class ShareChange:
    """What a check changed: jobs taken (each with the time its fire times were
    consumed up to) and jobs given up or lost."""

    gained: dict[str, datetime | None] = field(default_factory=dict)  # None: never owned
    lost: list[str] = field(default_factory=list)


def preference(job: str, host: str) -> bytes:
    """Rendezvous hashing: the daemon whose name scores highest for a job is where
    it is best kept, the same answer on every host."""
    return hashlib.blake2b(f"{job}\0{host}".encode(), digest_size=8).digest()


class JobShare:
    """This daemon's share of the scheduled jobs; the engine asks `owns` and calls
    `check` after each step."""

    def __init__(
        self,
        store: Store,
        pid: int,
        lease: timedelta,
        sweep: Callable[[ProcessRecord, datetime], None],
        resume: Callable[[datetime, Callable[[str], bool]], None],
    ) -> None:
        self.store = store
        self.pid = pid
        self.lease = lease
        self._sweep = sweep  # a dead daemon's runs and jobs (sweep.py)
        self._resume = resume  # runs waiting to be resumed: taken up here
        self._mine: set[str] = set()
        self._scheduled: set[str] = set()  # as of the last check
        self._next: datetime | None = None  # the next check; None: at the first step
        self._connected_since: datetime | None = None  # the database's clock

    def owns(self, name: str) -> bool:
        return name in self._mine

    def first(self) -> datetime | None:
        return self._next

    def check(
        self, now: datetime, scheduled: Sequence[str], idle: Callable[[str], bool]
    ) -> ShareChange:
        """At most every third of the lease: sweep dead daemons, then hand over and
        take jobs toward this daemon's share. A state that cannot be read or written
        changes nothing (the jobs stay as they were) and ends the connected streak."""
        if self._next is not None and now < self._next:
            return ShareChange()
        self._next = now + self.lease / 3
        try:
            return self._check(now, scheduled, idle)
        except StateError as e:
            self._connected_since = None
            log.warning("event=share-check-failed detail=%r", str(e))
            return ShareChange()

    def _check(
        self, now: datetime, scheduled: Sequence[str], idle: Callable[[str], bool]
    ) -> ShareChange:
        db_now = self.store.db_now()
        if self._connected_since is None:
            self._connected_since = db_now
        daemons = [p for p in self.store.processes() if p.kind == "daemon"]
        me = (self.store.host, self.pid)
        judge = db_now - self._connected_since >= self.lease  # only then judge others dead
        if judge:
            for p in daemons:
                if (p.host, p.pid) != me and db_now - p.heartbeat_at > p.lease:
                    self._sweep(p, now)
        alive = [p for p in live(daemons, db_now) if (p.host, p.pid) != me]
        owners = self.store.job_owners()
        listed = {(p.host, p.pid) for p in daemons} | {me}
        stale = {(o.host, o.pid) for o in owners.values()} - listed
        if judge and stale:  # owners the state no longer lists (forgotten as dead)
            for host, pid in stale:
                self.store.drop_job_owners(host, pid)  # type: ignore[arg-type]
            owners = self.store.job_owners()
        # Jobs this daemon held that another took: it was judged dead meanwhile.
        change = ShareChange(
            lost=sorted(
                j for j in self._mine if j not in owners or (owners[j].host, owners[j].pid) != me
            )
        )
        self._mine -= set(change.lost)
        self._mine |= {j for j, o in owners.items() if (o.host, o.pid) == me}
        wanted = self._scheduled = set(scheduled)
        share = math.ceil(len(wanted) / (len(alive) + 1)) if wanted else 0
        host = self.store.host
        by_pref = sorted(self._mine, key=lambda j: preference(j, host))  # least wanted first
        give = [j for j in by_pref if j not in wanted]  # gone from the jobs file
        surplus = len(self._mine) - len(give) - share
        give += [j for j in by_pref if j in wanted and idle(j)][: max(surplus, 0)]
        room = share - (len(self._mine) - len(give))
        free = [j for j in scheduled if j not in owners and j not in self._mine]
        free.sort(key=lambda j: preference(j, host), reverse=True)
        taken = self.store.own_jobs(self.pid, free[: max(room, 0)], give, now)
        self._mine = (self._mine - set(give)) | set(taken)
        self.store.mark_owned_through(self.pid, now)
        change.lost += [j for j in give if j in wanted]
        change.gained = taken
        if taken or give:
            log.info(
                "event=jobs-shared took=%s gave=%s daemons=%d",
                ",".join(sorted(taken)) or "-",
                ",".join(give) or "-",
                len(alive) + 1,
            )
        self._resume(now, self._may_resume)
        return change

    def _may_resume(self, name: str) -> bool:
        return name in self._mine or name not in self._scheduled

    def give_all(self, through: datetime) -> None:
        """A stop: every job handed over, its fire times consumed up to `through`."""
        try:
            self.store.own_jobs(self.pid, [], sorted(self._mine), through)
        except StateError as e:
            log.warning("event=share-give-failed detail=%r", str(e))
        self._mine = set()
