"""The `Store` contract's side of the tables beside the runs: alerts and their holds,
paused jobs, deadlines alerted, pools, and what a daemon leaves for the next one.
`Store` (store/__init__.py) extends it; what holds for every method is said there."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from cronplus.model import AlertDelivery, AlertRecord, Attempt, AttemptResult, Item, PoolEntry
from cronplus.store._sql_side import ConfigCopy


class SideStore(Protocol):
    # -- alerts -------------------------------------------------------------------------

    def hold_or_send(
        self, job: str, kind: str, now: datetime, repeat_after: timedelta
    ) -> tuple[int, datetime | None] | None:
        """Decide, in one transaction, whether `job` alerts `now` for a `kind` of
        trouble (failing, missed). None: one went out less than `repeat_after` ago,
        so this one is held and counted. Otherwise it is sent: (how many were held,
        since when) to fold into the message, and the count starts again."""
        ...

    def clear_holds(self, job: str, kind: str) -> tuple[int, datetime | None]:
        """The job is well again: forget its held `kind`; returns (held, since), as
        `hold_or_send` would have, (0, None) when nothing was held."""
        ...

    def record_alert(self, alert: AlertDelivery) -> int:
        """Record one alert through one channel with its delivery outcome; its id.
        `alert.channel` and `alert.error` must already be redacted."""
        ...

    def recent_alerts(self, limit: int) -> list[AlertRecord]:
        """The last `limit` alerts recorded, newest first."""
        ...

    # -- paused jobs --------------------------------------------------------------------

    def pause(self, job: str, now: datetime) -> bool:
        """Pause `job` from `now`: its fire times are recorded skipped until
        `unpause`. False (since unchanged) when it was paused already."""
        ...

    def unpause(self, job: str) -> bool:
        """Let `job` run again; False when it was not paused."""
        ...

    def paused_jobs(self) -> dict[str, datetime]:
        """Paused jobs and since when; one small read."""
        ...

    def deadline_alerted(self, job: str, t: datetime) -> bool:
        """Note that `job`'s deadline for logical time `t` was missed and is alerted now:
        True the first time; False when `t` or a later one of the job was noted (its
        deadlines are checked in logical-time order, so one instant per job is kept)."""
        ...

    # -- pools ([pools], issue 15): slots held and the line waiting for them ---------------

    def pool_wait(self, entry: PoolEntry, reason: str | None = None) -> None:
        """Put run `entry.run_id` in `entry.pool`'s line for `entry.slots` slots (for its
        attempt `entry.attempt`); a run already waiting keeps its place, updated. With
        `reason`, the run (queued, or running between attempts) shows it, in the same
        transaction, until its attempt begins (`begin_attempt` clears it). Each item of a
        for_each run (`entry.item`) has a place of its own (issue 16)."""
        ...

    def pool_take(self, run_id: int, size: int, now: datetime, item: int = -1) -> tuple[bool, int]:
        """Take the waiting run's (or its `item`'s) slots, if it is first in its pool's
        line (oldest logical time, then lowest run id, then item) and they fit in `size`
        (the caller's pool size) beside those held: (taken, slots in use after). A run
        already holding its slots: (True, in use); one neither waiting nor holding:
        (False, 0). Slots the same run (item) still held are replaced, not added."""
        ...

    def pool_release(self, run_id: int, item: int | None = None) -> None:
        """The run's slots, or its place in a line, given up (none: nothing happens):
        those of all its items, or with `item` of that one (-1: the run's own)."""
        ...

    def pool_drop(
        self,
        run_id: int,
        pid: int,
        boot_id: str | None = None,
        start_ticks: int | None = None,
        item: int | None = None,
    ) -> bool:
        """Free the run's slots or place in line (with `item`, that item's only) only if
        the process `pid` (with that `boot_id` and `start_ticks`, None matching None)
        still holds them (a gone holder's, after recovery's checks); True when
        something went."""
        ...

    def pool_adopt(
        self,
        run_id: int,
        host: str,
        pid: int,
        boot_id: str | None = None,
        start_ticks: int | None = None,
    ) -> bool:
        """The process (`host`, `pid`, `boot_id`, `start_ticks`) adopting a run holds
        its slots from now on; False when the run holds none."""
        ...

    def pool_entries(
        self, pools: Iterable[str] | None = None
    ) -> tuple[list[PoolEntry], list[PoolEntry]]:
        """(holders, waiting) of the named pools (None: all): holders by pool then
        since, the waiting by pool then in line order."""
        ...

    # -- what a daemon leaves for the next one and for read commands ---------------------

    def mark_daemon_alive(self, at: datetime) -> None:
        """A daemon looked at the clock `at`: the next start tells the fire times that
        passed while none ran from those a live daemon skipped."""
        ...

    def daemon_alive(self) -> datetime | None:
        """The last `mark_daemon_alive`, or None when no daemon ever ran."""
        ...

    def mark_daemon_started(self, pid: int) -> None:
        """The daemon `pid` of this store's host name took the state over: its runs are
        the ones the next daemon of that name resumes after a crash."""
        ...

    def last_daemon_pid(self) -> int | None:
        """The pid of the last `mark_daemon_started` of this store's host name (or, on a
        state written before names, of any), or None."""
        ...

    def save_config_copy(self, path: str, text: str) -> None:
        """Keep the jobs file (`path`, and `text` with no secrets) the daemon runs, so
        read commands show it while the file on disk has problems."""
        ...

    def config_copy(self) -> ConfigCopy | None:
        """The last `save_config_copy`, or None when there is none (or it is
        unreadable)."""
        ...

    # -- items of a for_each run (issue 16) ---------------------------------------------

    def set_items(
        self, run_id: int, items: Sequence[str], *, owner: int, now: datetime
    ) -> list[Item]:
        """Fix the run's item list to `items` (index from 0, each queued) unless it has
        one already, which stays as it is (a resumed or re-run run keeps its list);
        an empty list is a list. The run is marked running since `now` (kept if it
        started before) by `owner`. Returns the run's list as recorded, with each
        item's attempts."""
        ...

    def items_of(self, run_ids: Sequence[int]) -> dict[int, list[Item]]:
        """The item lists of those of `run_ids` that have one (`set_items`), each in
        index order with its attempts in number order; a run without a list is absent."""
        ...

    def begin_item_attempt(self, run_id: int, index: int, attempt: Attempt, *, owner: int) -> None:
        """Record an item's attempt begun: the item is running with `attempt.number`
        attempts, and the run running (by `owner`). A run's own `attempts` are unchanged."""
        ...

    def finish_item_attempt(
        self, run_id: int, index: int, number: int, result: AttemptResult
    ) -> None:
        """Record the end of an item's attempt; the item takes its status, exit code and
        reason (none when it succeeded)."""
        ...
