"""`deadline`: the run of a job for logical time T must have succeeded by T + deadline.

Only fire times have deadlines: those of the job's schedule, or of its pipeline's for a
job with `after` (its runs carry the pipeline's logical time). A manual run's logical
time is the instant it was asked for, not a promise anyone made: it has none. Pure
functions of the model, on the caller's `now`; the daemon's checks, `status --on`, the
run JSON and the web view all ask these.
"""

from __future__ import annotations

from datetime import datetime

from cronplus.model import Job, Run, RunStatus, Trigger


def deadline_at(job: Job, t: datetime) -> datetime | None:
    """The instant the run for fire time `t` must have succeeded by; None without a deadline."""
    return None if job.deadline is None else t + job.deadline


def run_deadline(job: Job, run: Run) -> datetime | None:
    """A run's deadline (the run JSON's `deadline_at`): None for a manual run."""
    return None if run.trigger is Trigger.MANUAL else deadline_at(job, run.scheduled_for)


def met(at: datetime | None, run: Run | None, now: datetime) -> bool | None:
    """Was the deadline `at` met by `run` (the run for its fire time, or None)?

    True once the run succeeded by `at`; False once `at` passed without that (a success
    after it is still a miss); None while `at` is ahead and no success is in, and for a
    fire time without a deadline. A run run again since (`backfill --rerun` adds
    attempts to it, reopening it) met it if one of its attempts succeeded by `at`.
    """
    if at is None:
        return None
    if run is not None and _succeeded_by(run, at):
        return True
    return False if now >= at else None


def _succeeded_by(run: Run, at: datetime) -> bool:
    end = run.finished_at if run.status is RunStatus.SUCCEEDED else None
    if end is not None and end <= at:
        return True
    # Run again since it succeeded (`backfill --rerun` reopens it with a new attempt):
    # that earlier attempt's success by `at` met the deadline. The last attempt of a
    # run that succeeded is the run's end, judged above.
    last = run.last_attempt if run.status is RunStatus.SUCCEEDED else None
    return any(
        a.exit_code == 0 and a.finished_at is not None and a.finished_at <= at
        for a in run.attempts
        if a is not last
    )
