"""What the read commands print: `status`, `status --on`, `history`, `next`, `alerts`.

Each shape is a function of the library's answer (report's `JobStatus` and
`DayReport`, the store's runs and alerts), so a web view can serve the same JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronplus.model import AlertRecord, Job, ProcessRecord, Run, RunStatus
from cronplus.render._base import (
    duration,
    going_run_json,
    going_word,
    human_time,
    is_terminal,
    iso,
    print_lines,
    print_table,
    short_time,
)
from cronplus.render.daemons import EPOCH, daemon_lines

if TYPE_CHECKING:
    from cronplus.deadline_report import Verdict
    from cronplus.intervals import Intervals
    from cronplus.report import DayReport, Going, JobStatus

# -- status -------------------------------------------------------------------------------------


def status_json(
    rows: Sequence[JobStatus], intervals: Intervals | None = None
) -> list[dict[str, Any]]:
    """`intervals`: the runs' data intervals, else their fields are null."""
    return [_job_status_json(r, intervals) for r in rows]


def _job_status_json(row: JobStatus, intervals: Intervals | None) -> dict[str, Any]:
    tz = row.job.timezone
    last = row.last_run
    runs = ([last] if last else []) + [r for r, _ in row.going]
    spans = intervals.of_runs(runs) if intervals else {}
    return {
        "job": row.job.name,
        "description": row.job.description,
        "schedule": row.schedule,
        "timezone": tz,
        "enabled": row.job.enabled,
        "paused_since": iso(row.paused_since, tz),
        "last_run": (
            going_run_json(last, tz, row.state_of(last), spans.get(last.id), row.job)
            if last
            else None
        ),
        "running": [going_run_json(r, tz, g, spans.get(r.id), row.job) for r, g in row.going],
        "overdue": iso(row.overdue, tz),
        "next_run": iso(row.next_run, tz),
        "deadline": _latest_deadline_json(row.deadline, tz),
    }


def _latest_deadline_json(v: Verdict | None, tz: str) -> dict[str, Any] | None:
    """The job's latest deadline that passed: its fire time, `at` and `met`; null for a
    job without a deadline, not on the schedule, or none of whose deadlines passed."""
    if v is None:
        return None
    return {"fire_time": iso(v.fire_time, tz), "at": iso(v.at, tz), "met": v.met}


_STATUS_HEADERS_TERMINAL = ["JOB", "SCHEDULE, ZONE", "LAST RUN", "STATUS", "TOOK", "NEXT"]
_STATUS_HEADERS = [
    "JOB",
    "SCHEDULE",
    "TIMEZONE",
    "LAST RUN",
    "STATUS",
    "ATTEMPTS",
    "DURATION",
    "FINISHED",
    "NEXT",
]


def print_status(
    rows: Sequence[JobStatus],
    daemon_pid: int | None,
    state: Path | str,
    now: datetime,
    chosen: bool,
    *,
    daemons: tuple[Sequence[ProcessRecord], datetime] = ((), EPOCH),
) -> None:
    """One row per job. Piped: full ISO times with offsets, every column. On a
    terminal: local times (no date when today's), the zone under the schedule, and no
    ATTEMPTS or FINISHED column, so that a 100-column terminal shows it without
    cutting a status word or a time in two (else it falls back to plain columns)."""
    terminal = is_terminal()
    headers, table = status_table(rows, now, terminal)
    if terminal:
        print_table(headers, table, status_column=3, whole=[2, 3, 5])
    else:
        print_table(headers, table, status_column=4)
    print_lines([note for r in rows for note in status_notes(r, chosen)])
    print_lines(daemon_lines(daemon_pid, state, *daemons))


def status_table(
    rows: Sequence[JobStatus], now: datetime, terminal: bool
) -> tuple[list[str], list[list[str]]]:
    """The status table's headers and cells, laid out for a terminal or for a pipe."""
    when = _once_each(lambda t, tz: short_time(t, tz, now) if terminal else human_time(t, tz))
    table = [_status_cells(r, when, terminal) for r in rows]
    return (_STATUS_HEADERS_TERMINAL if terminal else _STATUS_HEADERS), table


def _once_each(
    show: Callable[[datetime | None, str], str],
) -> Callable[[datetime | None, str], str]:
    """`show`, worked out once per time and zone: jobs that share a schedule share their
    fire times, and a table of 10,000 jobs repeats them (issue 12)."""
    shown: dict[tuple[datetime | None, int, str], str] = {}

    def once(t: datetime | None, tz: str) -> str:
        key = (t, t.fold if t else 0, tz)  # fold: equal times of one zone, two instants
        if key not in shown:
            shown[key] = show(t, tz)
        return shown[key]

    return once


def _status_cells(
    r: JobStatus, when: Callable[[datetime | None, str], str], terminal: bool
) -> list[str]:
    tz = r.job.timezone
    last = r.last_run
    schedule = r.schedule or "(triggered only)"
    if r.job.watch is not None:
        schedule = f"on file: {r.job.watch}"
    if r.job.after:
        schedule = f"after {', '.join(r.job.after)}"
    word = going_word(last, r.state_of(last)) if last else "never run"
    name = (
        r.job.name
        + ("" if r.job.enabled else " (disabled)")
        + (" (paused)" if r.paused_since else "")
        + (" (deadline missed)" if _missed(r) else "")
    )
    nxt = when(r.next_run, tz)
    if r.paused_since:
        nxt = f"paused since{chr(10) if terminal else ' '}{when(r.paused_since, tz)}"
    took = duration(last.duration_s) if last else "-"
    if terminal:
        # The zone under the schedule, and what follows a status word on a line of
        # its own: nothing a reader scans for is ever cut in two.
        word = word.replace(" (", "\n(", 1).replace(" for ", "\nfor ", 1)
        return [name, f"{schedule}\n{tz}", when(last and last.scheduled_for, tz), word, took, nxt]
    return [
        name,
        schedule,
        tz,
        when(last.scheduled_for, tz) if last else "-",
        word,
        str(len(last.attempts)) if last else "-",
        took,
        when(last.finished_at, tz) if last else "-",
        nxt,
    ]


def status_notes(r: JobStatus, chosen: bool) -> list[str]:
    """The lines under the table: a chosen job's description, an overdue fire time,
    and runs going that are not the job's last run."""
    name, tz, last = r.job.name, r.job.timezone, r.last_run
    notes = []
    if chosen and r.job.description:
        notes.append(f"{name}: {r.job.description}")
    if last is not None and last.file is not None:  # issue 16: a watch job's last file
        notes.append(f"{name}: last file: {last.file.path} ({last.status})")
    if r.overdue is not None:
        notes.append(f"{name}: overdue: {human_time(r.overdue, tz)} has no run")
    if r.deadline is not None and r.deadline.met is False:
        notes.append(f"{name}: deadline missed: {_missed_text(r.deadline, tz)}")
    for run, g in r.going:
        waits = run.status is RunStatus.QUEUED and run.reason  # e.g. for a pool (issue 15)
        word = f"{going_word(run, g)}, {run.reason}" if waits else going_word(run, g)
        if last is not None and run.id == last.id:
            notes += [f"{name}: {word}"] if waits else []
            continue
        notes.append(
            f"{name}: {word}: run {run.id} ({run.trigger}), logical time "
            f"{human_time(run.scheduled_for, tz)}"
        )
    return notes


def _missed(r: JobStatus) -> bool:
    """Its latest deadline that passed was missed: `status` marks the job."""
    return r.deadline is not None and r.deadline.met is False


def _missed_text(v: Verdict, tz: str) -> str:
    """`the run for T had not succeeded by AT (its run is failed)`: what its run did."""
    run = v.run
    if run is None:
        doing = "no run"
    elif str(run.status) == "succeeded":
        doing = f"it succeeded late, at {human_time(run.finished_at, tz)}"
    else:
        doing = f"its run is {run.status}"
    when, at = human_time(v.fire_time, tz), human_time(v.at, tz)
    return f"the run for {when} had not succeeded by {at} ({doing})"


# -- status --on --------------------------------------------------------------------------------


def day_json(
    reports: Sequence[DayReport], intervals: Intervals | None = None
) -> list[dict[str, Any]]:
    spans = intervals.of_runs(run for r in reports for run in r.runs) if intervals else {}
    return [
        {
            "job": r.job.name,
            "date": r.day.isoformat(),
            "fire_times": [iso(s.fire_time, r.job.timezone) for s in r.slots],
            "runs": [
                going_run_json(run, r.job.timezone, r.state_of(run), spans.get(run.id), r.job)
                for run in r.runs
            ],
            "no_run": [iso(t, r.job.timezone) for t in r.no_run],
            "pruned": [iso(t, r.job.timezone) for t in r.pruned],
            "by_fire_time": [_fire_time_json(r.verdict(s), r.job.timezone) for s in r.slots],
        }
        for r in reports
    ]


def _fire_time_json(v: Verdict, tz: str) -> dict[str, Any]:
    """One fire time of `fire_times`: its run's id (null: none) and its deadline."""
    return {
        "fire_time": iso(v.fire_time, tz),
        "run_id": v.run.id if v.run else None,
        "deadline": {"at": iso(v.at, tz), "met": v.met},
    }


def print_day(reports: Sequence[DayReport], problems: bool = False) -> None:
    """Each fire time of the day beside its run, then the runs of other times, in time
    order; `problems`: a job with nothing to show gets no "no fire times" row. When a
    job shown has a `deadline`, a DEADLINE column says of each: met, missed or ahead;
    when a run shown was made for a file (`watch`), a FILE column names it."""
    timed = any(r.job.deadline is not None for r in reports)
    files = any(run.file is not None for r in reports for run in r.runs)
    rows = []
    for r in reports:
        tz = r.job.timezone
        lines: list[tuple[datetime, list[str]]] = []
        for s in r.slots:
            if s.run is None:
                word = "pruned" if r.is_pruned(s) else "no run" if s.due else "not yet due"
                cells = [r.job.name, human_time(s.fire_time, tz), word, "-", "-", "-", "-"]
            else:
                cells = _day_row(r, s.run)
            lines.append((s.fire_time, _with_deadline(cells, r.verdict(s).word, timed)))
        for run in r.other_runs:
            cells = _with_deadline(_day_row(r, run), r.run_verdict(run).word, timed)
            lines.append((run.scheduled_for, cells))
        rows.extend(row for _, row in sorted(lines, key=lambda x: x[0]))
        if not lines and not problems:
            cells = [r.job.name, r.day.isoformat(), "no fire times", "-", "-", "-", "-"]
            rows.append(_with_deadline(cells, "-", timed))
    deadline, file = ["DEADLINE"] if timed else [], ["FILE"] if files else []
    print_table(
        ["JOB", "TIME", "STATUS", *deadline, "TRIGGER", "RUN", "ATTEMPTS", "REASON", *file],
        [row + [""] * (len(file) + 7 + len(deadline) - len(row)) for row in rows],
        status_column=2,
        whole=[1],
    )


def _with_deadline(cells: list[str], word: str, timed: bool) -> list[str]:
    """The row with its deadline's word after STATUS, when the table has that column."""
    return [*cells[:3], word, *cells[3:]] if timed else cells


def _day_row(r: DayReport, run: Run) -> list[str]:
    return [
        r.job.name,
        human_time(run.scheduled_for, r.job.timezone),
        going_word(run, r.state_of(run)),
        str(run.trigger),
        str(run.id),
        str(len(run.attempts)),
        run.reason or "",
        *([run.file.path] if run.file is not None else []),
    ]


# -- history ------------------------------------------------------------------------------------


def history_json(
    runs: Sequence[Run],
    tz: str | Mapping[str, str],
    states: Sequence[Going],
    intervals: Intervals | None = None,
) -> list[dict[str, Any]]:
    """`tz`: the zone of every run, or each job's (history across jobs); `intervals`:
    the runs' data intervals, and through its configuration their deadlines, else
    their fields are null."""
    zones = _zones_of(tz)
    spans = intervals.of_runs(runs) if intervals else {}
    jobs = intervals.config.jobs if intervals else {}
    return [
        going_run_json(r, zones(r.job), g, spans.get(r.id), jobs.get(r.job))
        for r, g in zip(runs, states, strict=True)
    ]


def print_history(
    runs: Sequence[Run],
    tz: str | Mapping[str, str],
    states: Sequence[Going],
    *,
    by_job: bool = False,
) -> None:
    """The runs' table; `by_job` adds a JOB column (history across jobs)."""
    zones = _zones_of(tz)
    head = ["JOB"] if by_job else []
    print_table(
        [
            *head,
            "RUN",
            "LOGICAL TIME",
            "TRIGGER",
            "STATUS",
            "ATTEMPTS",
            "DURATION",
            "EXIT",
            "REASON",
        ],
        [
            [
                *([r.job] if by_job else []),
                str(r.id),
                human_time(r.scheduled_for, zones(r.job)),
                str(r.trigger),
                going_word(r, g),
                str(len(r.attempts)),
                duration(r.duration_s),
                _exit_text(r),
                r.reason or "",
            ]
            for r, g in zip(runs, states, strict=True)
        ],
        status_column=3 + len(head),
        whole=[1 + len(head), 3 + len(head)],
    )


def _zones_of(tz: str | Mapping[str, str]) -> Callable[[str], str]:
    if isinstance(tz, str):
        return lambda _job: tz
    return lambda job: tz.get(job, "UTC")


def _exit_text(run: Run) -> str:
    last = run.last_attempt
    if last is None or (last.exit_code is None and last.signal is None):
        return "-"
    return last.signal or str(last.exit_code)


# -- next ---------------------------------------------------------------------------------------


def next_json(upcoming: Sequence[tuple[Job, Sequence[datetime]]]) -> list[dict[str, Any]]:
    return [
        {"job": j.name, "fire_times": [iso(t, j.timezone) for t in times]} for j, times in upcoming
    ]


def print_next(upcoming: Sequence[tuple[Job, Sequence[datetime]]]) -> None:
    from cronplus.schedule import is_reboot

    when = _once_each(human_time)
    rows = []
    for j, times in upcoming:
        if is_reboot(j.schedule):  # no fire times to list: say when it runs instead
            rows.append([j.name, "@reboot: at each daemon start"])
        elif j.watch is not None:
            rows.append([j.name, f"on file: {j.watch}"])
        rows += [[j.name, when(t, j.timezone)] for t in times]
    print_table(["JOB", "FIRE TIME"], rows)


# -- alerts -------------------------------------------------------------------------------------


def _alert_zone(jobs: dict[str, Job], job: str | None) -> str:
    """The job's zone, as everywhere; UTC for alerts about no job, or a removed one."""
    return jobs[job].timezone if job is not None and job in jobs else "UTC"


def alerts_json(records: Sequence[AlertRecord], jobs: dict[str, Job]) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "time": iso(a.time, _alert_zone(jobs, a.job)),
            "event": a.event,
            "job": a.job,
            "run_id": a.run_id,
            "channel": a.channel,
            "sent": a.sent,
            "error": a.error,
        }
        for a in records
    ]


def print_alerts(records: Sequence[AlertRecord], jobs: dict[str, Job]) -> None:
    print_table(
        ["ID", "TIME", "EVENT", "JOB", "RUN", "CHANNEL", "SENT", "ERROR"],
        [
            [
                str(a.id),
                human_time(a.time, _alert_zone(jobs, a.job)),
                a.event,
                a.job or "-",
                str(a.run_id) if a.run_id is not None else "-",
                a.channel,
                "yes" if a.sent else "no",
                a.error or "",
            ]
            for a in records
        ],
    )
