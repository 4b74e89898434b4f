"""Time zones by name, and a time as every command writes it for people.

Below render, so that library modules (report, backfill) can name times in a job's
zone without depending on the presentation layer.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def human_time(t: datetime | None, tz: str) -> str:
    """`2026-12-04 03:00:00+01:00`: the instant in the job's zone, to the second."""
    if t is None:
        return "-"
    return t.astimezone(zone(tz)).isoformat(sep=" ", timespec="seconds")
