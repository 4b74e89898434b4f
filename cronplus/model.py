"""The model: plain frozen dataclasses and the status words that are stored and printed.

Every datetime here is aware; instants are UTC. Imports nothing from cronplus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
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
    FILE = "file"  # a file landed under the job's `watch`


# The reason of a fire time recorded skipped while its job (or its pipeline's first
# job) was paused: no `missed` alert, no deadline alert, not caught up.
PAUSED_REASON = "paused"

# The longest delay before a retry a jobs file may ask for (`validate` rejects more); a
# timedelta holds less than a day more.
MAX_RETRY_DELAY = timedelta(days=999_999_999)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A job's retries: how many, and the delay before each."""

    retries: int = 0
    delay: timedelta = timedelta(seconds=30)
    backoff: float = 2.0
    max_delay: timedelta | None = None

    def delay_before_retry(self, n: int) -> timedelta:
        """Delay between the end of attempt n and the start of retry n (n from 1).

        At most MAX_RETRY_DELAY, and never an OverflowError, whatever the policy.
        """
        try:
            delay = min(self.delay * (self.backoff ** (n - 1)), MAX_RETRY_DELAY)
        except OverflowError:  # beyond float or timedelta: as long as a delay may be
            delay = MAX_RETRY_DELAY if self.delay else self.delay
        if self.max_delay is not None and delay > self.max_delay:
            return self.max_delay
        return delay

    def longest_delay_s(self) -> float:
        """Seconds before the last retry, the longest delay (inf past float's range)."""
        if self.retries < 1 or not self.delay:
            return 0.0
        try:
            longest = self.delay.total_seconds() * self.backoff ** (self.retries - 1)
        except OverflowError:
            longest = float("inf")
        if self.max_delay is not None:
            longest = min(longest, self.max_delay.total_seconds())
        return longest


class Overlap(StrEnum):
    """What a fire time due while the job's previous run still runs does (`overlap`)."""

    SKIP = "skip"  # it is recorded skipped
    QUEUE = "queue"  # it starts when the previous run ends; at most one waits
    REPLACE = "replace"  # the previous run is stopped (interrupted) and this one starts


class Catchup(StrEnum):
    """Which fire times that passed while no daemon ran are run at its start (`catchup`)."""

    LATEST = "latest"  # the newest; the others are recorded skipped
    ALL = "all"  # each of them, at most catchup_limit (the newest)
    NONE = "none"  # none: all are recorded skipped


class AlertEvent(StrEnum):
    """What an alert is about: the words of a jobs file's `on`, of the alerts table and
    of the `alert=` log field, one vocabulary for all three."""

    FAILURE = "failure"  # a run failed
    TIMEOUT = "timeout"  # a run timed out
    MISSED = "missed"  # a fire time passed without a run
    RECOVERY = "recovery"  # a run succeeded after its job's failure
    RETRY = "retry"  # an attempt failed and the run will try again
    SUCCESS = "success"  # a run succeeded
    LATE = "late"  # a run still going past its expected_duration
    DEADLINE = "deadline"  # a fire time's run had not succeeded by its deadline
    CONFIG = "config"  # the daemon refused a changed jobs file (always [alerts]')
    TEST = "test"  # `alert-test`


# The events `on` may list, in the order messages list them (config and test are sent
# whatever `on` says).
ON_EVENTS = tuple(e for e in AlertEvent if e not in (AlertEvent.CONFIG, AlertEvent.TEST))


@dataclass(frozen=True, slots=True)
class Job:
    """One `[jobs.NAME]` table, checked, with [defaults] applied."""

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
    overlap: Overlap = Overlap.SKIP  # a fire time due while the job's previous run still runs
    catchup: Catchup = Catchup.LATEST  # fire times that passed while no daemon ran
    catchup_limit: int = 100  # catchup = "all" runs at most this many, the newest
    env: dict[str, str] = field(default_factory=dict)  # [defaults].env merged under the job's
    cwd: Path = Path(".")  # absolute once loaded
    enabled: bool = True
    description: str | None = None
    line: int | None = None  # line of the [jobs.NAME] header, for messages
    alerts: AlertsConfig | None = None  # the job's own alerts table, over [alerts]
    alerts_enabled: bool = True  # false for `alerts = false`
    stdin: str | None = None  # fed to the process instead of /dev/null (crontab's `%` text)
    jitter: timedelta | None = None  # a scheduled run starts up to this much after its time
    user: str | None = None  # run as this user (name or uid) when cronplus is root
    max_log_bytes: int = 10 * 1024 * 1024  # an attempt's log keeps head and tail; 0: no cap
    keep_runs: int = 1000  # retention: runs kept beyond the always-kept ones; 0 no limit
    keep_days: int = 90  # retention: runs that ended longer ago go; 0 no limit
    pool: str | None = None  # a [pools] name: its attempts hold pool_slots of it
    pool_slots: int = 1  # slots of `pool` each attempt holds, at most the pool's size
    deadline: timedelta | None = None  # the run for T must have succeeded by T + deadline
    for_each: str | None = None  # a command whose stdout lines are the run's items (issue 16)
    for_each_max: int = 1000  # more items than this fails the run
    item_parallel: int = 1  # items whose attempts go at once
    watch: str | None = None  # an absolute glob: one run per file landing under it
    settle: timedelta = timedelta(seconds=5)  # a file unchanged this long is taken
    watch_rescan: timedelta = timedelta(seconds=60)  # a full rescan of the glob this often
    max_queued: int = 1000  # overlap = "queue": files waiting at most; beyond, skipped
    max_active: int | None = None  # attempts of the job at once, in every process (issue 17)


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """An `[alerts]` table: where alerts go, which events, how often."""

    urls: tuple[str, ...] = ()
    on: tuple[AlertEvent, ...] = (
        AlertEvent.FAILURE,
        AlertEvent.TIMEOUT,
        AlertEvent.MISSED,
        AlertEvent.DEADLINE,
    )
    repeat_after: timedelta = timedelta(hours=1)
    timeout: timedelta = timedelta(seconds=10)  # one delivery try through one channel
    heartbeat: str | None = None  # a URL the daemon requests every heartbeat_every
    heartbeat_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AlertEnv:
    """What `${NAME}` in alert and heartbeat URLs expands with: the environment over
    [defaults].env_file's variables, and what is wrong with them, found once per load."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    env_file_error: str | None = None  # why env_file could not be read (values lack it)
    unset: tuple[tuple[str | None, str], ...] = ()  # (job, problem) per ${NAME} values lack


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded jobs file."""

    path: Path  # absolute path of the jobs file
    jobs: dict[str, Job]  # in file order
    state: str | None = None  # [defaults].state, resolved against the file's folder
    max_parallel: int | None = None
    alerts: AlertsConfig | None = None
    env_file: str | None = None  # [defaults].env_file, absolute: variables for ${NAME} in URLs
    pools: dict[str, int] = field(default_factory=dict)  # [pools]: name -> slots
    source: str | None = field(default=None, repr=False, compare=False)  # the file's text
    # Read once per load of the file (config.load_config); None for a Config built otherwise.
    alert_env: AlertEnv | None = field(default=None, repr=False, compare=False)
    lease: timedelta = field(default_factory=lambda: DEFAULT_LEASE)  # [defaults].lease (issue 17)

    @property
    def folder(self) -> Path:
        return self.path.parent


@dataclass(frozen=True, slots=True)
class Attempt:
    """One execution of a run's job."""

    number: int  # from 1
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None  # None while running, when killed by a signal, or never started
    signal: str | None = None  # e.g. "SIGKILL"
    log: str | None = None  # path of the attempt's output
    pid: int | None = None  # process group leader, so a later daemon can find it
    trigger: Trigger | None = None  # who executed it: the run's trigger, or `backfill`
    host: str | None = None  # CRONPLUS_HOST of the process that executed it (issue 17)


@dataclass(frozen=True, slots=True)
class RunFile:
    """The file version a `watch` run (or a `trigger --file` run) was made for."""

    path: str  # absolute
    size: int
    mtime_ns: int  # st_mtime_ns: with inode and size, what makes a version
    inode: int

    @property
    def mtime(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)


@dataclass(frozen=True, slots=True)
class Run:
    """One logical run of a job: a (job, logical time) and its attempts."""

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
    items: tuple[Item, ...] | None = None  # a for_each run's (issue 16), if its reader read them
    file: RunFile | None = None  # the file a `watch` run was made for

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
    tail: str | None = None  # the last TAIL_BYTES of its output, kept in the state


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One alert through one channel, as it is recorded: was anyone told?"""

    time: datetime
    event: str  # an AlertEvent
    job: str | None
    run_id: int | None
    channel: str  # redacted: scheme://host
    sent: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class AlertRecord(AlertDelivery):
    """An alert delivery as read back, with the id the store gave it."""

    id: int


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """A run's place in a pool (`[pools]`): holding slots for an attempt, or waiting in
    the pool's line for them. `host` and `pid` are the cronplus process that waits or
    took them (the daemon, `trigger` or `backfill`), not the job's; `boot_id` and
    `start_ticks` tell that process from a later one given its pid (None: unknown)."""

    pool: str
    run_id: int
    job: str
    slots: int
    logical_time: datetime  # the run's: the line is oldest first, then by run_id
    attempt: int  # the attempt the slots are (to be) taken for
    host: str
    pid: int
    since: datetime  # when it began waiting, or took the slots
    boot_id: str | None = None  # the kernel's boot id when the process ran
    start_ticks: int | None = None  # its start, in clock ticks since that boot
    item: int = -1  # a for_each run's item (its index) the slots are for; -1: none


# -- what a caller writes on a run in one store call -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """What taking a run (claiming or reopening it) makes of it: QUEUED to run, owned
    by `owner` (the pid of the cronplus process that executes it); or a final `status`
    with its `reason` (skipped, upstream_failed, a `mark`) for a run that will not
    execute: finished `now`, owned by nobody whatever `owner` says."""

    owner: int | None
    now: datetime
    status: RunStatus = RunStatus.QUEUED
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RunEnd:
    """A run's end as recorded: its final status, why (a success keeps no reason) and
    when; `last_attempt`, the end (number, result) of its last attempt, written with
    it; `resume_spent`, to make it resumable with that many attempts counted against
    its retries (a stop cut it short)."""

    status: RunStatus
    reason: str | None
    finished_at: datetime
    _: KW_ONLY
    last_attempt: tuple[int, AttemptResult] | None = None
    resume_spent: int | None = None


@dataclass(frozen=True, slots=True)
class SeenRun:
    """An unfinished run as a caller read it: its owner (None: nobody) and how many
    attempts it had. A write conditional on it does nothing when the run changed."""

    owner: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Item:
    """One item of a `for_each` run (issue 16): a line of its for_each command's
    output, run as the job's command with its own attempts (numbered from 1)."""

    index: int  # from 0, in the order of the lines
    item: str  # the line
    status: RunStatus = RunStatus.QUEUED  # queued until its first attempt
    reason: str | None = None  # its last attempt's, when that did not succeed
    exit_code: int | None = None  # its last attempt's
    attempts: tuple[Attempt, ...] = ()


DEFAULT_LEASE = timedelta(seconds=30)  # [defaults].lease: a process is dead past it (issue 17)
MIN_LEASE = timedelta(seconds=3)  # a heartbeat every third of it: at least each second
TAIL_BYTES = 64 * 1024  # of each attempt's output, kept in the state (issue 17)


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A cronplus process executing runs, as the state lists it (issue 17): a daemon,
    or a `trigger` or `backfill`. Its heartbeat is on the database's clock; it is dead
    once that is older than its `lease`."""

    host: str  # CRONPLUS_HOST: one live daemon per name
    pid: int
    kind: str  # daemon, trigger, backfill
    started_at: datetime
    heartbeat_at: datetime
    lease: timedelta
    running: int = 0  # attempts it is executing
    boot_id: str | None = None
    start_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class JobOwner:
    """The daemon that fires a scheduled job's fire times (issue 17), and up to when it
    has consumed them (claimed or recorded)."""

    job: str
    host: str | None  # None: no daemon owns it now
    pid: int | None
    since: datetime | None
    through: datetime
