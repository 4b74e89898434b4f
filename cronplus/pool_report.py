"""`cronplus pools` and `/pools`: each pool of `[pools]`, its size, the slots in use and
by which runs, and the runs waiting for it in line order, as the state has them now.

Read-only, two reads of the state whatever the number of pools (`Store.pool_entries`:
the holders, then the line). A pool the file no longer names, while a run still holds
or waits for it, is listed after the file's pools with no size. A row whose cronplus
process of this host is gone (`procs.gone`) says so: a reader is not shown a holder
that looks alive (another host's process: unknown, not said)."""

from __future__ import annotations

from dataclasses import dataclass

from cronplus.model import Config, PoolEntry
from cronplus.procs import gone
from cronplus.store import Store


@dataclass(frozen=True, slots=True)
class PoolState:
    """One pool now: `size` None when the jobs file no longer names it; `holders` by
    when they took their slots, `waiting` in the order they will be served (oldest
    logical time first, then claim order); `gone` the run ids of those whose process
    is gone."""

    pool: str
    size: int | None
    holders: tuple[PoolEntry, ...] = ()
    waiting: tuple[PoolEntry, ...] = ()
    gone: frozenset[int] = frozenset()

    @property
    def in_use(self) -> int:
        return sum(h.slots for h in self.holders)


def pool_states(config: Config, store: Store) -> list[PoolState]:
    """Every pool of the jobs file in its order, then those only the state still names
    (by name)."""
    holders, waiting = store.pool_entries()
    held: dict[str, list[PoolEntry]] = {}
    for e in holders:
        held.setdefault(e.pool, []).append(e)
    line: dict[str, list[PoolEntry]] = {}
    for e in waiting:
        line.setdefault(e.pool, []).append(e)
    # A name with ":" is a job's max_active (issue 17), no [pools] name: not listed.
    left = sorted(n for n in (held.keys() | line.keys()) - config.pools.keys() if ":" not in n)
    dead = frozenset(
        e.run_id for e in [*holders, *waiting] if gone(e.host, e.pid, e.boot_id, e.start_ticks)
    )
    return [
        PoolState(
            name,
            config.pools.get(name),
            tuple(held.get(name, ())),
            tuple(line.get(name, ())),
            dead,
        )
        for name in [*config.pools, *left]
    ]
