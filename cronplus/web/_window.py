"""The overview's window (`/`): each job's cells over the last N hours, one per run
whose logical time falls in them and one per fire time in them that passed with no
run (the rule of `status --on`: `pruned` at or before the job's newest pruned logical
time, `no_run` after it), and the 96 buckets they fold into when there are
more. Data only; `pages/overview.py` draws it.

Built for 1,000 jobs and a million runs (issue 13): the runs of every job shown come
from one query (`Store.runs_between_of`), and jobs that share a schedule and zone
share one walk of their fire times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronplus.config import config_dag
from cronplus.model import Config, Job, Run
from cronplus.schedule import fire_times, is_reboot, parse_schedule
from cronplus.web._layout import NO_RUN, PRUNED
from cronplus.zones import zone

MAX_CELLS = 96  # more in a row: that many buckets instead
# A bucket shows the worst status inside, worst first (issue 13).
WORST_FIRST = (
    "failed",
    "timed_out",
    "upstream_failed",
    "interrupted",
    NO_RUN,
    "skipped",
    "running",
    "queued",
    PRUNED,
    "succeeded",
)
_RANK = {s: i for i, s in enumerate(WORST_FIRST)}
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Cell:
    """A run (`run`), or a fire time that passed with no run (`run` None)."""

    time: datetime  # the logical time
    status: str
    run: Run | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """An equal span of the window: its start, how many cells it holds, the worst
    status among them (None when it holds none)."""

    time: datetime
    count: int
    status: str | None


@dataclass(frozen=True, slots=True)
class Window:
    """The last `hours` hours before `now`: logical times from `start` to `now`."""

    now: datetime
    hours: int

    @property
    def start(self) -> datetime:
        return self.now - timedelta(hours=self.hours)

    @property
    def end(self) -> datetime:
        """The first instant after the window (queries take start <= t < end)."""
        return self.now + _TICK


class FireTimes:
    """The fire times in a window of each job's pipeline schedule, worked out once per
    (schedule, zone): 1,000 jobs mostly share a handful."""

    def __init__(self, config: Config, window: Window) -> None:
        self.config = config
        self.window = window
        self._kept: dict[tuple[str, str], list[datetime]] = {}

    def of(self, job: Job) -> list[datetime]:
        root = self.config.jobs[config_dag(self.config).pipeline_roots(job.name)[0]]
        if root.schedule is None or is_reboot(root.schedule):  # @reboot: no fire times
            return []
        key = (root.schedule, job.timezone)
        if key not in self._kept:
            self._kept[key] = self._walk(root.schedule, job.timezone)
        return self._kept[key]

    def _walk(self, expr: str, tz: str) -> list[datetime]:
        out = []
        # fire_times is strictly after its start, so begin a microsecond early.
        for t in fire_times(parse_schedule(expr), zone(tz), after=self.window.start - _TICK):
            if t > self.window.now:
                break
            out.append(t)
        return out


def cells(
    times: list[datetime], runs: list[Run], pruned_through: datetime | None = None
) -> list[Cell]:
    """A job's cells, oldest first: each run, and each fire time without a run
    (`pruned` at or before `pruned_through`, the job's newest pruned logical time)."""
    # Keyed in UTC: a fall-back's second pass (fold=1) hashes like its first pass.
    taken = {r.scheduled_for.astimezone(UTC) for r in runs}
    out = [Cell(r.scheduled_for, str(r.status), r) for r in runs]
    out += [
        Cell(t, PRUNED if pruned_through is not None and t <= pruned_through else NO_RUN)
        for t in times
        if t.astimezone(UTC) not in taken
    ]
    out.sort(key=lambda c: (c.time, c.run.id if c.run else 0))
    return out


def buckets(row: list[Cell], window: Window, count: int = MAX_CELLS) -> list[Bucket]:
    """`row` folded into `count` equal spans of the window."""
    span = (window.now - window.start) / count
    held = [0] * count
    worst: list[str | None] = [None] * count
    for c in row:
        i = min(count - 1, max(0, int((c.time - window.start) / span)))
        held[i] += 1
        if worst[i] is None or _rank(c.status) < _rank(worst[i]):
            worst[i] = c.status
    return [Bucket(window.start + span * i, held[i], worst[i]) for i in range(count)]


def _rank(status: str | None) -> int:
    return _RANK.get(status or "", len(_RANK))
