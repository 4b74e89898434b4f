"""`cronplus pools`: each pool, its slots in use and by whom, and its line of waiting
runs; as a table (rich on a terminal, plain columns piped) or as JSON. Times are in
the zone of the entry's job (UTC for a job the file no longer names), as elsewhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cronplus.model import Job, PoolEntry
from cronplus.render._base import human_time, iso, print_line, print_table

if TYPE_CHECKING:
    from cronplus.pool_report import PoolState

HEADERS = ["POOL", "SIZE", "IN USE", "STATE", "RUN", "JOB", "SLOTS", "HOST", "PID", "SINCE"]


def zone_of(jobs: Mapping[str, Job], job: str) -> str:
    return jobs[job].timezone if job in jobs else "UTC"


def pools_json(pools: Sequence[PoolState], jobs: Mapping[str, Job]) -> list[dict[str, Any]]:
    """`[{"pool", "size", "in_use", "holders", "waiting"}]`: the file's pools in its
    order, then those only the state names (size null)."""
    return [
        {
            "pool": p.pool,
            "size": p.size,
            "in_use": p.in_use,
            "holders": [
                {
                    "run_id": h.run_id,
                    "job": h.job,
                    "slots": h.slots,
                    "host": h.host,
                    "pid": h.pid,
                    "since": iso(h.since, zone_of(jobs, h.job)),
                }
                for h in p.holders
            ],
            "waiting": [
                {
                    "run_id": w.run_id,
                    "job": w.job,
                    "slots": w.slots,
                    "since": iso(w.since, zone_of(jobs, w.job)),
                }
                for w in p.waiting
            ],
        }
        for p in pools
    ]


def print_pools(pools: Sequence[PoolState], jobs: Mapping[str, Job], config_path: str) -> None:
    """One row per holder, then one per waiting run (`waiting 1` is served first), the
    pool's name on each; a pool nobody uses gets one row. No pools: a plain line. Times
    with their offset on a terminal too: the rows' jobs may each have their own zone."""
    if not pools:
        print_line(f"no pools: {config_path} has no [pools] table")
        return
    rows = []
    for p in pools:
        head = [p.pool, "removed" if p.size is None else str(p.size), str(p.in_use)]
        if not p.holders and not p.waiting:
            rows.append([*head, "idle", "-", "-", "-", "-", "-", "-"])
        entries = [("holding", e) for e in p.holders]
        entries += [(f"waiting {n}", e) for n, e in enumerate(p.waiting, 1)]
        rows += [
            [*head, _said(state, e, p), *_cells(e), human_time(e.since, zone_of(jobs, e.job))]
            for state, e in entries
        ]
    print_table(HEADERS, rows, whole=[9])


def _said(state: str, e: PoolEntry, p: PoolState) -> str:
    """The STATE cell: a row whose process of this host is gone says so."""
    return f"{state} (process gone)" if e.run_id in p.gone else state


def _cells(e: PoolEntry) -> list[str]:
    return [str(e.run_id), e.job, str(e.slots), e.host, str(e.pid)]
