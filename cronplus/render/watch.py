"""`status --watch`: one look (`report.Watch`) as a rich view for `Live` on a terminal,
or as a plain snapshot, each under a header line with the time and the daemon."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronplus.render._base import STATUS_STYLE, duration, going_word, human_time, print_lines
from cronplus.render.reports import print_status, status_table

if TYPE_CHECKING:
    from cronplus.report import Watch


def header(w: Watch) -> str:
    """`cronplus status --watch | 14:03:07 | daemon pid 4121` (the host's local time)."""
    if w.daemon_pid is None:
        daemon = "no daemon"
    else:
        daemon = f"daemon pid {w.daemon_pid}" if w.daemon_pid else "daemon (pid unknown)"
    return f"cronplus status --watch | {w.now.astimezone():%H:%M:%S} | {daemon}"


def _running(w: Watch) -> list[list[str]]:
    return [
        [
            r.job.name,
            str(run.id),
            str(run.trigger),
            human_time(run.scheduled_for, r.job.timezone),
            going_word(run, g),
            "queued" if g.elapsed_s is None else duration(g.elapsed_s),
        ]
        for r in w.rows
        for run, g in r.going
    ]


def _failures(w: Watch) -> list[list[str]]:
    zones = {r.job.name: r.job.timezone for r in w.rows}
    return [
        [
            run.job,
            str(run.id),
            str(run.status),
            human_time(run.scheduled_for, zones.get(run.job, "UTC")),
            human_time(run.finished_at, zones.get(run.job, "UTC")),
            run.reason or "",
        ]
        for run in w.failures
    ]


_RUNNING = ["JOB", "RUN", "TRIGGER", "LOGICAL TIME", "STATUS", "ELAPSED"]
_FAILED = ["JOB", "RUN", "STATUS", "LOGICAL TIME", "ENDED", "REASON"]


def print_snapshot(w: Watch, state: Path) -> None:
    """A plain snapshot for a pipe: the header, `status` as piped, the runs going and
    the failures of the last 24 hours as `key: value` lines, then a blank line."""
    print_lines([f"=== {header(w)} ==="])
    print_status(w.rows, w.daemon_pid, state, w.now, False)
    running = [f"running: {' '.join(c)}" for c in _running(w)]
    failed = [f"failed in 24h: {' '.join(c)}".rstrip() for c in _failures(w)]
    print_lines([*running, *failed, ""])
    sys.stdout.flush()


def live_view(w: Watch) -> Any:
    """The rich renderable `Live` shows: header, status table, running, failures."""
    from rich.console import Group
    from rich.text import Text

    headers, cells = status_table(w.rows, w.now, terminal=True)
    parts: list[Any] = [
        Text(header(w), style="bold"),
        _table(None, headers, cells, status_column=3),
        _table("Running", _RUNNING, _running(w), status_column=4)
        if w.rows and any(r.going for r in w.rows)
        else Text("Running: none", style="dim"),
    ]
    failed = _failures(w)
    parts.append(
        _table("Failed in the last 24 hours", _FAILED, failed, status_column=2)
        if failed
        else Text("Failed in the last 24 hours: none", style="dim")
    )
    return Group(*parts)


def _table(
    title: str | None, headers: Sequence[str], rows: list[list[str]], status_column: int
) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        word = row[status_column]
        style = STATUS_STYLE.get(word.split()[0] if word.strip() else "", "")
        cells = [Text(cell) for cell in row]  # not markup: see _base.print_table
        cells[status_column] = Text(word, style=style)
        table.add_row(*cells)
    return table
