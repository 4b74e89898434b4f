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
from datetime import datetime, timedelta

from cronplus.clock import Clock
from cronplus.errors import StateError
from cronplus.model import ProcessRecord
from cronplus.procs import live
from cronplus.store import Store

log = logging.getLogger("cronplus")

MAX_SKEW = timedelta(seconds=1)  # between this host's clock and the database's


def preference(job: str, host: str) -> bytes:
    """Rendezvous hashing: the daemon whose name scores highest for a job is where
    it is best kept, the same answer on every host."""
    return hashlib.blake2b(f"{job}\0{host}".encode(), digest_size=8).digest()


class JobShare:
    """This daemon's share of the scheduled jobs; the engine asks `owns`, and at each
    `due` check follows the jobs taken (`pending`, then `taken_up`) and drops those
    given or lost, then `mark_through`."""

    def __init__(
        self,
        store: Store,
        pid: int,
        lease: timedelta,
        idle: Callable[[str], bool],
        sweep: Callable[[ProcessRecord, datetime], None],
        resume: Callable[[datetime, Callable[[str], bool]], None],
        clock: Clock,
    ) -> None:
        self.store = store
        self.pid = pid
        self.lease = lease
        self._idle = idle  # no run of the job going here: it may be handed over
        self._sweep = sweep  # a dead daemon's runs and jobs (sweep.py)
        self._resume = resume  # runs waiting to be resumed: taken up here
        self._mine: set[str] = set()
        self._pending: dict[str, datetime | None] = {}  # taken, not yet followed
        self._scheduled: set[str] = set()  # as of the last check
        self._next: datetime | None = None  # the next check; None: at the first step
        self._connected_since: datetime | None = None  # the database's clock
        self._clock = clock
        self._off = False  # this host's clock too far from the database's

    def owns(self, name: str) -> bool:
        return name in self._mine

    def first(self) -> datetime | None:
        return self._next

    def due(self, now: datetime) -> bool:
        return self._next is None or now >= self._next

    def pending(self) -> dict[str, datetime | None]:
        """The jobs taken and not yet followed, each with the time its fire times were
        consumed up to (None: never owned)."""
        return {j: t for j, t in self._pending.items() if j in self._mine}

    def taken_up(self, name: str) -> None:
        self._pending.pop(name, None)

    def disconnected(self) -> None:
        """The state failed this process: no other daemon is judged dead until it has
        been connected for a whole lease again (a database restart is no takeover)."""
        self._connected_since = None

    def check(self, now: datetime, scheduled: Sequence[str]) -> None:
        """Sweep dead daemons, then hand over and take jobs toward this daemon's share.
        What the state took is kept in `_mine` whatever fails after; a failure ends the
        connected streak and the rest waits for the next check."""
        self._next = now + self.lease / 3
        try:
            self._check(now, scheduled)
        except StateError as e:
            if self._connected_since is not None:  # once an outage, not at each check
                log.warning("event=share-check-failed detail=%r", str(e))
            self.disconnected()

    def mark_through(self, now: datetime) -> None:
        """Every job owned is followed, its fire times consumed up to `now`."""
        if self._pending or not self._mine or self._connected_since is None:
            return  # a job not followed yet, or the check failed: not up to now
        try:
            self.store.mark_owned_through(self.pid, now)
        except StateError as e:
            log.warning("event=share-mark-failed detail=%r", str(e))
            self.disconnected()

    def _check(self, now: datetime, scheduled: Sequence[str]) -> None:
        db_now = self.store.db_now()
        off = self._clock_off(db_now)
        if self._connected_since is None:
            self._connected_since = db_now
        daemons = [p for p in self.store.processes() if p.kind == "daemon"]
        me = (self.store.host, self.pid)
        judge = db_now - self._connected_since >= self.lease  # only then judge others dead
        if judge:
            for p in daemons:
                if (p.host, p.pid) != me and db_now - p.heartbeat_at > p.lease:
                    self._sweep(p, now)
        owners = self.store.job_owners()
        listed = {(p.host, p.pid) for p in daemons} | {me}
        stale = {(o.host, o.pid) for o in owners.values()} - listed
        if judge and stale:  # owners the state no longer lists (forgotten as dead)
            for host, pid in stale:
                self.store.drop_job_owners(host, pid)  # type: ignore[arg-type]
            owners = self.store.job_owners()
        # Those another daemon took are lost: this one was judged dead meanwhile.
        self._mine = {j for j, o in owners.items() if (o.host, o.pid) == me}
        self._share(now, scheduled, owners, 0 if off else len(live(daemons, db_now)) or 1)
        self._resume(now, self._may_resume)

    def _share(self, now: datetime, scheduled: Sequence[str], owners: dict, daemons: int) -> None:
        """Toward ceil(jobs / daemons) jobs; none with `daemons` 0 (a clock off)."""
        wanted = self._scheduled = set(scheduled)
        share = math.ceil(len(wanted) / daemons) if wanted and daemons else 0
        host = self.store.host
        by_pref = sorted(self._mine, key=lambda j: preference(j, host))  # least wanted first
        gone = [j for j in by_pref if j not in wanted]  # gone from the jobs file, or disabled
        surplus = len(self._mine) - len(gone) - share
        give = [j for j in by_pref if j in wanted and self._idle(j)][: max(surplus, 0)]
        room = share - (len(self._mine) - len(gone) - len(give))
        free = [j for j in scheduled if j not in owners]
        free.sort(key=lambda j: preference(j, host), reverse=True)
        taken = self.store.own_jobs(self.pid, free[: max(room, 0)], give, now, forget=gone)
        self._mine = (self._mine - set(give) - set(gone)) | set(taken)
        self._pending.update(taken)
        if taken or give:
            log.info(
                "event=jobs-shared took=%s gave=%s daemons=%d",
                ",".join(sorted(taken)) or "-",
                ",".join(give) or "-",
                daemons,
            )

    def _clock_off(self, db_now: datetime) -> bool:
        """This host's clock more than MAX_SKEW off the database's: fire times would
        come at the wrong instants, so it hands its idle jobs over and takes none (said
        once, and once when it is back)."""
        off = abs(self._clock.now() - db_now) > MAX_SKEW
        if off != self._off:
            log.log(
                logging.ERROR if off else logging.INFO,
                "event=clock-%s detail='this host's clock is %.3fs from the database's%s'",
                "off" if off else "ok",
                (self._clock.now() - db_now).total_seconds(),
                ": it takes no jobs until it is within 1s (keep hosts in sync with NTP)"
                if off
                else "",
            )
        self._off = off
        return off

    def _may_resume(self, name: str) -> bool:
        return name in self._mine or name not in self._scheduled

    def give_all(self, through: datetime) -> None:
        """A stop: every job handed over, its fire times consumed up to `through`."""
        try:
            self.store.own_jobs(self.pid, [], sorted(self._mine), through)
        except StateError as e:
            log.warning("event=share-give-failed detail=%r", str(e))
        self._mine = set()
