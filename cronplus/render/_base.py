"""render's building blocks: times, durations, a run's word and JSON, tables, lines.

rich costs ~45 ms to import, so it is imported only when stdout is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cronplus.model import Attempt, Item, Job, Run, RunFile, RunStatus
from cronplus.zones import human_time as human_time  # commands print times through render
from cronplus.zones import zone as zone

if TYPE_CHECKING:
    from cronplus.report import Going

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "bold red",
    "timed_out": "bold red",
    "upstream_failed": "red",
    "interrupted": "yellow",
    "skipped": "dim",
    "queued": "cyan",
    "running": "cyan",
    "no run": "bold magenta",
    "not yet due": "dim",
}


def iso(t: datetime | None, tz: str) -> str | None:
    """ISO 8601 with the offset of the job's zone at that instant."""
    return None if t is None else t.astimezone(zone(tz)).isoformat()


def short_time(t: datetime | None, tz: str, now: datetime) -> str:
    """For a terminal: the job's local time without its offset, and without the date
    when it is today's there (the zone is in its own column)."""
    if t is None:
        return "-"
    local = t.astimezone(zone(tz))
    if local.date() == now.astimezone(zone(tz)).date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


# -- JSON shapes ------------------------------------------------------------------------------


def attempt_json(a: Attempt, tz: str) -> dict[str, Any]:
    return {
        "attempt": a.number,
        "trigger": None if a.trigger is None else str(a.trigger),
        "started_at": iso(a.started_at, tz),
        "finished_at": iso(a.finished_at, tz),
        "exit_code": a.exit_code,
        "signal": a.signal,
        "log": a.log,
        "host": a.host,  # issue 17: CRONPLUS_HOST of the process that executed it
    }


def run_word(
    run: Run, *, orphaned: bool = False, late: bool = False, elapsed_s: float | None = None
) -> str:
    """A run's status as `status` prints it: a run not over says how it stands; a
    for_each run whose items were read, how many of them succeeded."""
    if run.items is not None:  # issue 16
        done = sum(i.status is RunStatus.SUCCEEDED for i in run.items)
        counted = f"{done}/{len(run.items)} items" if run.items else "0 items"
        if run.status.is_final or orphaned:
            return f"{run_word(replace(run, items=None), orphaned=orphaned)} ({counted})"
        return f"{run_word(replace(run, items=None), late=late, elapsed_s=elapsed_s)}, {counted}"
    if run.status.is_final:
        return str(run.status)
    if orphaned:
        return f"{run.status} (its process is gone)"
    word = f"{run.status} (late)" if late else str(run.status)
    return word if elapsed_s is None else f"{word} for {duration(elapsed_s)}"


def run_json(
    run: Run,
    tz: str,
    *,
    orphaned: bool = False,
    late: bool = False,
    interval: tuple[datetime, datetime] | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """A run's JSON object. `orphaned`: it is not over, and no process runs it any
    more; `late`: it has run longer than its job's expected_duration; `interval`: the
    data interval it covers (`intervals.py`), else its two fields are null; `job`:
    its job, for its `deadline_at` (null without one, for a manual run, or no job)."""
    last = run.last_attempt
    deadline_at = None
    if job is not None and job.deadline is not None:
        from cronplus.deadlines import run_deadline  # a piped status without deadlines: none

        deadline_at = run_deadline(job, run)
    return {
        "id": run.id,
        "job": run.job,
        "scheduled_for": iso(run.scheduled_for, tz),
        "trigger": str(run.trigger),
        "status": str(run.status),
        "attempts": len(run.attempts),
        "started_at": iso(run.started_at, tz),
        "finished_at": iso(run.finished_at, tz),
        "duration_s": run.duration_s,
        "exit_code": last.exit_code if last else None,
        "signal": last.signal if last else None,
        "reason": run.reason,
        "attempt_details": [attempt_json(a, tz) for a in run.attempts],
        "orphaned": orphaned,
        "late": late,
        "interval_start": iso(interval[0], tz) if interval else None,
        "interval_end": iso(interval[1], tz) if interval else None,
        "deadline_at": iso(deadline_at, tz),
        "items": None if run.items is None else [item_json(i) for i in run.items],
        "file": None if run.file is None else file_json(run.file, tz),
        "host": last.host if last else None,  # issue 17: its last attempt's
    }


def item_json(item: Item) -> dict[str, Any]:
    """One item of a for_each run (issue 16); `attempts`: how many it has had."""
    return {
        "index": item.index,
        "item": item.item,
        "status": str(item.status),
        "attempts": len(item.attempts),
        "exit_code": item.exit_code,
        "reason": item.reason,
    }


def file_json(f: RunFile, tz: str) -> dict[str, Any]:
    """A run's file (issue 16): the version it was made for."""
    return {"path": f.path, "size": f.size, "mtime": iso(f.mtime, tz), "inode": f.inode}


def going_word(run: Run, going: Going) -> str:
    return run_word(run, orphaned=going.orphaned, late=going.late, elapsed_s=going.elapsed_s)


def going_run_json(
    run: Run,
    tz: str,
    going: Going,
    interval: tuple[datetime, datetime] | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    return run_json(run, tz, orphaned=going.orphaned, late=going.late, interval=interval, job=job)


def print_json(obj: Any) -> None:
    import json  # only for --json: a piped status does without it (issue 12)

    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


# -- tables ------------------------------------------------------------------------------------


def is_terminal() -> bool:
    return sys.stdout.isatty()


_RICH_MAX_ROWS = 500  # longer tables are printed plain: rich lays out every row first


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    status_column: int | None = None,
    title: str | None = None,
    whole: Sequence[int] = (),
) -> None:
    """A rich table on a terminal; plain columns separated by two spaces when piped.

    The status column and the columns in `whole` (times) are never wrapped. A table
    that cannot fit the terminal that way, or that has more than `_RICH_MAX_ROWS` rows,
    is printed plain on a terminal too: a long `status --on` prints as fast as piped."""
    if is_terminal() and len(rows) <= _RICH_MAX_ROWS:
        keep = set(whole) | ({status_column} if status_column is not None else set())
        if _rich_table(headers, rows, status_column, title, keep):
            return
    # Cells laid out for a terminal may hold line breaks: plain rows keep one line.
    # Column by column and one write, not cell by cell and row by row (issue 12).
    table = [list(headers)]
    table += ([c.replace("\n", " ") for c in r] if "\n" in "".join(r) else r for r in rows)
    widths = [max(map(len, column)) for column in zip(*table, strict=True)]
    lines = [title] if title else []
    for row in table:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


def _rich_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    status_column: int | None,
    title: str | None,
    whole: set[int],
) -> bool:
    """Print the table with rich if it fits the terminal's width; False if not."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    # Each column whole if in `whole` (a cell's lines are kept whole), else at least 8
    # characters wide (folded),
    # plus rich's borders and padding: 3 per column and 1.
    needed = 1
    for i, h in enumerate(headers):
        longest = max(len(line) for cell in [h, *(r[i] for r in rows)] for line in cell.split("\n"))
        needed += 3 + (longest if i in whole else min(longest, 8))
    if needed > console.width:
        return False
    table = Table(title=title, title_justify="left", header_style="bold")
    for i, h in enumerate(headers):
        table.add_column(h, overflow="fold", no_wrap=i in whole)
    for row in rows:
        # Text, not str: rich reads a str as markup, and a reason or a path holding
        # "[...]" would lose it (or, with a lone "[/]", fail).
        cells: list[Any] = [Text(cell) for cell in row]
        if status_column is not None:
            word = row[status_column]
            cells[status_column] = Text(
                word, style=STATUS_STYLE.get(word.split()[0] if word.strip() else "", "")
            )
        table.add_row(*cells)
    console.print(table)
    return True


def print_line(text: str) -> None:
    sys.stdout.write(text + "\n")


def print_log(path: str) -> None:
    """A log file's bytes as UTF-8, whatever the locale's encoding: a U+FFFD (or any
    non-ASCII output) must not fail on an ASCII or Latin-1 stdout. Raises
    FileNotFoundError when the file is gone."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    sys.stdout.flush()
    out = sys.stdout.buffer
    from cronplus._logcap import read_present  # a running capped log's hole: a marker

    with open(path, "rb") as f:
        while (chunk := read_present(f, 1 << 16))[1]:
            out.write(decoder.decode(chunk[0]).encode())
        out.write(decoder.decode(b"", final=True).encode())
    out.flush()


def print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print_line(line)


def count_text(count: int, noun: str) -> str:
    """`1 run`, `1,200 fire times`."""
    return f"{count:,} {noun}{'s' * (count != 1)}"
