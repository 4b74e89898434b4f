"""The [pools] table and the checks of pools and deadlines across a job's table and
[defaults] (issue 15), kept apart from `_loader`. Private to the package."""

from __future__ import annotations

import re
from typing import Any

from cronplus.config._checks import BAD, Checks, Where
from cronplus.config._values import show_value
from cronplus.errors import did_you_mean

# ASCII only; no leading "-", which the command line would read as an option; at most
# 100 characters, so logs/NAME/ stays a usable file name on every filesystem.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,99}")


def parse_pools(loader: Checks, table: dict[str, Any]) -> dict[str, int]:
    """[pools]: each pool's size, its name one a job's could be."""
    where = Where(("pools",), label="[pools] ")
    sizes = {}
    for name, size in table.items():
        if not NAME_RE.fullmatch(name):
            loader.report(
                where,
                name,
                f'pool name {show_value(name)} must be 1 to 100 ASCII letters, digits, "_"'
                ' and "-", not starting with "-" (rename it)',
            )
        elif (parsed := loader._int(where, name, size, minimum=1)) is not BAD:
            sizes[name] = parsed
    return sizes


def check_pools(
    loader: Checks,
    tables: dict[str, dict[str, Any]],
    values: dict[str, dict[str, Any]],
    defaults: dict[str, Any],
    pools: dict[str, int],
) -> None:
    """Each job's pool exists and holds its pool_slots; a deadline needs fire times."""
    reported_default = False
    reboot = "@reboot"  # schedule.REBOOT, without importing it for a file with none
    for name, job in values.items():
        where = Where(("jobs", name), job=name)
        table = tables[name]
        pool = job.get("pool", defaults.get("pool"))
        if pool is not None and pool not in pools:
            if "pool" in job or not reported_default:
                place = where if "pool" in job else Where(("defaults",), label="[defaults] ")
                reported_default = reported_default or "pool" not in job
                hint = did_you_mean(pool, pools) or (
                    f" (add it to [pools]: {pool} = 2)"
                    if not pools
                    else f" (pools: {', '.join(pools)})"
                )
                loader.report(place, "pool", f'pool "{pool}": no such pool{hint}')
        elif pool is None and "pool_slots" in job:
            loader.report(where, "pool_slots", 'pool_slots without a pool (add pool = "NAME")')
        elif pool is not None and job.get("pool_slots", 1) > pools[pool]:
            loader.report(
                where,
                "pool_slots",
                f'pool_slots = {job["pool_slots"]} is more than pool "{pool}" has'
                f" ({pools[pool]}): it could never start (lower it, or grow the pool)",
            )
        if "deadline" in table and "schedule" not in table and "after" not in table:
            loader.report(
                where,
                "deadline",
                "deadline without a schedule or after: only fire times have deadlines"
                " (remove deadline, or add a schedule)",
            )
        elif "deadline" in table and job.get("schedule") == reboot:
            loader.report(
                where,
                "deadline",
                "deadline with @reboot: only fire times have deadlines (remove deadline)",
            )
