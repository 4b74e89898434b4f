"""`cronplus metrics` and `run --metrics-port`: the figures in Prometheus's text
format (version 0.0.4): each family's HELP and TYPE lines, then its samples, one
line each, the label values escaped. The label is `job_name`: Prometheus sets `job`
on every series it scrapes itself."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from cronplus.metrics import LAST_STATUSES, QUANTILES, RECENT_RUNS

if TYPE_CHECKING:
    from cronplus.metrics import Figures, JobFigures

_FAMILIES = (
    (
        "cronplus_job_runs_total",
        "counter",
        "Runs of the job that ended, by final status (a run that is run again counts again).",
    ),
    (
        "cronplus_job_duration_seconds",
        "summary",
        f"Run duration, first attempt's start to the end: quantiles over the last "
        f"{RECENT_RUNS} runs with an attempt, sum and count over all of them.",
    ),
    (
        "cronplus_job_last_success_timestamp_seconds",
        "gauge",
        "When the job's latest succeeded run ended (Unix time); 0 if none ever did.",
    ),
    (
        "cronplus_job_last_run_status",
        "gauge",
        "1 for the status of the job's latest finished run (skipped ones aside), else 0.",
    ),
    ("cronplus_job_running", "gauge", "Runs of the job not over yet (queued or running)."),
    (
        "cronplus_job_next_fire_timestamp_seconds",
        "gauge",
        "The job's next fire time (Unix time); 0 if it has none.",
    ),
)


def metrics_text(figures: Figures) -> str:
    """The whole exposition, ending with a newline."""
    lines: list[str] = []
    for name, kind, help_text in _FAMILIES:
        lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
        for job in figures.jobs:
            lines += _samples(name, job)
    lines += [
        "# HELP cronplus_daemon_up 1 while a cronplus daemon holds this state, else 0.",
        "# TYPE cronplus_daemon_up gauge",
        f"cronplus_daemon_up {int(figures.daemon_up)}",
    ]
    return "\n".join(lines) + "\n"


def _samples(name: str, job: JobFigures) -> list[str]:
    me = f'job_name="{_escape(job.name)}"'
    if name == "cronplus_job_runs_total":
        return [f'{name}{{{me},status="{s}"}} {n}' for s, n in job.runs.items()]
    if name == "cronplus_job_duration_seconds":
        pairs = zip(QUANTILES, job.quantiles, strict=True)
        return [
            *(f'{name}{{{me},quantile="{q}"}} {_num(v)}' for q, v in pairs),
            f"{name}_sum{{{me}}} {_num(job.duration_sum_s)}",
            f"{name}_count{{{me}}} {job.duration_count}",
        ]
    if name == "cronplus_job_last_run_status":
        return [f'{name}{{{me},status="{s}"}} {int(s is job.last_status)}' for s in LAST_STATUSES]
    value = {
        "cronplus_job_last_success_timestamp_seconds": _stamp(job.last_success_at),
        "cronplus_job_running": str(job.running),
        "cronplus_job_next_fire_timestamp_seconds": _stamp(job.next_fire_at),
    }[name]
    return [f"{name}{{{me}}} {value}"]


def _stamp(t: datetime | None) -> str:
    return "0" if t is None else _num(t.timestamp())


def _num(x: float) -> str:
    """To the microsecond, as times and durations are kept: no float noise
    (15.080513499999999) from a quantile's interpolation or a sum."""
    if math.isnan(x):
        return "NaN"
    return repr(round(float(x), 6))


def _escape(value: str) -> str:
    """A label value: backslash, double quote and newline escaped, as the format says."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
