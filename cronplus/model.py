"""The model: plain frozen dataclasses and the status words that are stored and printed.

Every datetime here is aware; instants are UTC. Imports nothing from cronplus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path


class RunStatus(StrEnum):
    QUEUED = "queued"  # due, waiting for a free slot (max_parallel) or its dependencies
    RUNNING = "running"  # an attempt is running, or the run waits for its next retry
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the last attempt exited non-zero, or could not start
    TIMED_OUT = "timed_out"  # the last attempt ran past `timeout` and was killed
    SKIPPED = "skipped"  # the fire time was not run (previous run still going, ...)
    UPSTREAM_FAILED = "upstream_failed"  # a job it is after did not succeed for this time
    INTERRUPTED = "interrupted"  # cut short by a daemon stop, or its outcome is unknown

    @property
    def is_final(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def is_bad(self) -> bool:
        """Statuses that make `status` exit 1."""
        return self in BAD_STATUSES


BAD_STATUSES = frozenset(
    {RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.UPSTREAM_FAILED, RunStatus.INTERRUPTED}
)


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"
    CATCHUP = "catchup"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 0
    delay: timedelta = timedelta(seconds=30)
    backoff: float = 2.0
    max_delay: timedelta | None = None

    def delay_before_retry(self, n: int) -> timedelta:
        """Delay between the end of attempt n and the start of retry n (n from 1).
        OverflowError if it is too large for a timedelta and no max_delay caps it."""
        try:
            delay = self.delay * (self.backoff ** (n - 1))
        except OverflowError:
            if self.max_delay is None:
                raise
            return self.max_delay
        if self.max_delay is not None and delay > self.max_delay:
            return self.max_delay
        return delay


# skip: record the fire time skipped; queue: start it when the previous run ends (at
# most one waits); replace: stop the previous run (interrupted) and start this one.
OVERLAP_MODES = ("skip", "queue", "replace")
CATCHUP_MODES = ("latest", "all", "none")


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    command: str | None = None  # exactly one of command / python
    python: str | None = None  # "package.module:function"
    schedule: str | None = None  # as declared; None for `after` jobs and triggered-only jobs
    timezone: str = "UTC"  # IANA name; an `after` job carries its pipeline's zone
    after: tuple[str, ...] = ()
    shell: str = "/bin/sh"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: timedelta | None = None
    kill_grace: timedelta = timedelta(seconds=10)
    expected_duration: timedelta | None = None  # running longer alerts as `late`
    start_grace: timedelta = timedelta(seconds=60)  # started later than this: skipped, missed
    overlap: str = "skip"  # a fire time due while the job's previous run still runs
    catchup: str = "latest"  # fire times that passed while no daemon ran: latest, all, none
    catchup_limit: int = 100  # catchup = "all" runs at most this many, the newest
    env: dict[str, str] = field(default_factory=dict)  # [defaults].env merged under the job's
    cwd: Path = Path(".")  # absolute once loaded
    enabled: bool = True
    description: str | None = None
    line: int | None = None  # line of the [jobs.NAME] header, for messages
    alerts: AlertsConfig | None = None  # the job's own alerts table, over [alerts]
    alerts_enabled: bool = True  # false for `alerts = false`


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    urls: tuple[str, ...] = ()
    on: tuple[str, ...] = ("failure", "timeout", "missed")
    repeat_after: timedelta = timedelta(hours=1)
    timeout: timedelta = timedelta(seconds=10)  # one delivery try through one channel
    heartbeat: str | None = None  # a URL the daemon requests every heartbeat_every
    heartbeat_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Config:
    path: Path  # absolute path of the jobs file
    jobs: dict[str, Job]  # in file order
    state: str | None = None  # [defaults].state, resolved against the file's folder
    max_parallel: int | None = None
    alerts: AlertsConfig | None = None
    env_file: str | None = None  # [defaults].env_file, absolute: variables for ${NAME} in URLs

    @property
    def folder(self) -> Path:
        return self.path.parent


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int  # from 1
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None  # None while running, when killed by a signal, or never started
    signal: str | None = None  # e.g. "SIGKILL"
    log: str | None = None  # path of the attempt's output
    pid: int | None = None  # process group leader, so a later daemon can find it
    trigger: Trigger | None = None  # who executed it: the run's trigger, or `backfill`


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    job: str
    scheduled_for: datetime  # the logical time: a fire time, or a manual trigger's instant
    trigger: Trigger
    status: RunStatus
    reason: str | None = None  # why, for every status but succeeded
    created_at: datetime | None = None
    started_at: datetime | None = None  # first attempt's start
    finished_at: datetime | None = None  # set once the status is final
    attempts: tuple[Attempt, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt came to, as the executor saw it (no database involved)."""

    status: RunStatus  # succeeded, failed, timed_out or interrupted
    started_at: datetime
    finished_at: datetime
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None  # e.g. 'cwd "/x" does not exist', "timed out after 5s"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert through one channel, as recorded: was anyone told?"""

    id: int
    time: datetime
    event: str  # failure, timeout, retry, recovery, missed, late, success, config, test
    job: str | None
    run_id: int | None
    channel: str  # redacted: scheme://host
    sent: bool
    error: str | None
