"""What the commands that act print: `trigger`, `mark`, `pause`, `resume`, `validate`,
`alert-test`, one line each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cronplus.model import Config, Run
from cronplus.render._base import human_time

if TYPE_CHECKING:
    from cronplus.redact import Channel
    from cronplus.trigger import Triggered


def run_line(run: Run, config: Config) -> str:
    """`load  run 41  succeeded  2026-12-04 03:00:00+01:00  REASON`."""
    tz = config.jobs[run.job].timezone if run.job in config.jobs else "UTC"
    return f"{run.job}  run {run.id}  {run.status}  {human_time(run.scheduled_for, tz)}" + (
        f"  {run.reason}" if run.reason else ""
    )


def trigger_lines(triggered: Triggered, config: Config) -> list[str]:
    """Each run it recorded, then each job downstream that did not run, and why."""
    return [run_line(r, config) for r in triggered.runs] + [
        f"{name}: {why}" for name, why in triggered.not_run
    ]


def mark_lines(marked: Run, released: Sequence[Run], config: Config) -> list[str]:
    tz = config.jobs[marked.job].timezone
    first = (
        f"{marked.job}  run {marked.id}  marked {marked.status}  "
        f"{human_time(marked.scheduled_for, tz)}  {marked.reason}"
    )
    return [first, *(run_line(r, config) for r in released)]


def pause_line(name: str, paused: bool) -> str:
    return (
        f"{name}: paused (until: cronplus resume {name})"
        if paused
        else f"{name}: was paused already"
    )


def resume_line(name: str, resumed: bool) -> str:
    return f"{name}: resumed" if resumed else f"{name}: was not paused"


def validate_line(display_path: str, config: Config) -> str:
    n = len(config.jobs)
    return f"{display_path}: {n} job{'s' if n != 1 else ''}, no problems"


def alert_test_line(channel: Channel, error: str | None) -> str:
    return f"{channel.shown}  " + ("delivered" if error is None else f"failed: {error}")
