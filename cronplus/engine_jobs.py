"""The engine's view of a job: which jobs it fires, what counts as a change of one at
a reload, and the copy of the jobs file read commands fall back on. Apart from
engine.py so that the loop stays one thing (issue 17 made it grow)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

from cronplus.alerts import Alerter
from cronplus.config import check_alert_env, reading_view
from cronplus.deadline_watch import DeadlineWatch
from cronplus.dispatch import Dispatcher
from cronplus.errors import ConfigError, StateError
from cronplus.file_watch import FileWatch
from cronplus.model import Config, Job
from cronplus.schedule import is_reboot
from cronplus.store import Store

log = logging.getLogger("cronplus")


class Reloads:
    """The engine's reload of the jobs file (a mixin of `Engine`, whose attributes it
    uses: the engine's loop calls `reload` when asked to)."""

    config: Config
    store: Store
    dispatcher: Dispatcher
    _load: Callable[[], Config] | None
    _deadlines: DeadlineWatch
    _files: FileWatch
    _iters: dict[str, Iterator[datetime]]
    _next: dict[str, datetime]

    def _follow(self, job: Job, now: datetime) -> None: ...

    def _owns(self, name: str) -> bool: ...

    def reload(self, now: datetime) -> bool:
        """Read the jobs file again. A valid one takes effect from `now` without touching
        running jobs; an invalid one is logged with its FILE:LINE problems, alerted as
        `config`, and the running configuration stays. True if it took effect."""
        assert self._load is not None
        try:
            new = self._load()
            check_alert_env(new, new.path.name)
        except ConfigError as e:
            problems = [str(p) for p in e.problems]
            for p in problems:
                log.error("event=reload-rejected detail=%r", p)
            self.dispatcher.alert(Alerter.config_rejected, e.file, problems)
            return False
        self.apply(new, now)
        record_config(self.store, new)
        return True

    def apply(self, new: Config, now: datetime) -> None:
        """Switch to `new`: jobs whose timing is unchanged keep their next fire time,
        new or changed ones fire from their first fire time after `now`, removed ones
        stop (their history stays). Runs going on finish as they were configured."""
        old = self.config
        self.config = new
        self.dispatcher.config = new
        alerter = self.dispatcher.alerter
        if alerter is not None:
            alerter.reconfigure(new)
        self._deadlines.reconfigure(new, now)
        self._files.reconfigure(new, now)
        for name in list(self._iters):
            job = new.jobs.get(name)
            if job is None or not scheduled(job) or timing(job) != timing(old.jobs[name]):
                self._iters.pop(name)
                self._next.pop(name, None)
        for job in new.jobs.values():
            if scheduled(job) and job.name not in self._iters and self._owns(job.name):
                self._follow(job, now)
        # Every job whose definition changed, not only its timing: a new command too.
        added = [n for n in new.jobs if n not in old.jobs]
        changed = [
            n for n, j in new.jobs.items() if n in old.jobs and defined(j) != defined(old.jobs[n])
        ]
        removed = [n for n in old.jobs if n not in new.jobs]
        log.info(
            "event=reloaded jobs=%d added=%s changed=%s removed=%s",
            len(new.jobs),
            ",".join(added) or "-",
            ",".join(changed) or "-",
            ",".join(removed) or "-",
        )


def fired(job: Job) -> bool:
    """Fired by the engine itself (a job with `after` is started by its upstream)."""
    return job.schedule is not None and not job.after and job.enabled


def scheduled(job: Job) -> bool:
    """Fired by the engine at its fire times (`@reboot` has none: see `_reboot`)."""
    return fired(job) and not is_reboot(job.schedule)


def timing(job: Job) -> tuple[object, ...]:
    return (job.schedule, job.timezone, job.after, job.enabled)


def record_config(store: Store, config: Config) -> None:
    """Keep what read commands need of the jobs file the daemon runs in the state:
    while the file on disk has problems, they show what is actually running."""
    if config.source is None:
        return
    view = reading_view(config.source)  # no secrets: the file's URLs, env and commands
    try:
        store.save_config_copy(str(config.path), view)
    except StateError as e:  # only a convenience for read commands: never stop for it
        log.warning("event=state-error detail=%r", str(e))


def defined(job: Job) -> Job:
    """The job as defined: where it sits in the file is no part of it."""
    return replace(job, line=None)
