"""Alerts: what happened to a job, said once, off the scheduling path.

The engine and the dispatcher tell the alerter what happened, one method per event
(`run_ended`, `retrying`, `late`, `missed`, `deadline`, `config_rejected`); this module decides
whether each alerts (the job's `on` list, dedupe within `repeat_after`, holds folded
into the next message), writes every message, and hands it to `delivery` for each
channel. The outcome is recorded in the state (`cronplus alerts`). The texts of the
messages are `alert_texts`.

URLs hold secrets: they are expanded from `${NAME}` with what config read at load,
and shown only as `redact` shows them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from cronplus.alert_texts import (
    alert_test_message,
    config_message,
    deadline_message,
    fold_text,
    late_message,
    missed_message,
    run_message,
)
from cronplus.clock import Clock, system_clock
from cronplus.config import alert_values, expand, unset_names
from cronplus.deadlines import run_deadline
from cronplus.delivery import RETRIES, Message, Sender
from cronplus.errors import StateError
from cronplus.model import (
    AlertDelivery,
    AlertEvent,
    AlertsConfig,
    Config,
    Job,
    Run,
    RunStatus,
    Trigger,
)
from cronplus.redact import Channel, redact
from cronplus.store import Store
from cronplus.zones import human_time

log = logging.getLogger("cronplus")

# What repeats and is held within repeat_after, by event.
_KIND = {AlertEvent.FAILURE: "failing", AlertEvent.TIMEOUT: "failing", AlertEvent.MISSED: "missed"}
_ENDED = {RunStatus.FAILED: AlertEvent.FAILURE, RunStatus.TIMED_OUT: AlertEvent.TIMEOUT}


def effective(config: Config, job: Job | None) -> AlertsConfig | None:
    """The alerts settings that apply to `job` (its own table over [alerts]); None when
    it sends none."""
    if job is None:
        return config.alerts
    if not job.alerts_enabled:
        return None
    return job.alerts or config.alerts


# -- the alerter ----------------------------------------------------------------------------


class Alerter:
    """Turns run events into messages and hands them to delivery; one per process."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        retries: int = RETRIES,
        warn_missing: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock or system_clock()
        self.sender = Sender(0.0, retries, self.record)
        self._closed = False
        self._warn_missing_vars = warn_missing  # False: the caller warned already
        self._warned: set[str] = set()
        self.reconfigure(config, env)

    def reconfigure(self, config: Config, env: Mapping[str, str] | None = None) -> None:
        """A reloaded jobs file: its channels, events, variables and timeouts from now on
        (`env` instead of the variables config read, in tests)."""
        self.config = config
        self.env = dict(alert_values(config) if env is None else env)
        self.sender.timeout = (config.alerts or AlertsConfig()).timeout.total_seconds()

    # -- who gets told --------------------------------------------------------------------

    def channels(self, job: Job | None) -> list[Channel]:
        settings = effective(self.config, job)
        if settings is None:
            return []
        found = []
        for position, template in enumerate(settings.urls, 1):
            url = expand(template, self.env)
            if url is None:
                self._warn_missing(template)
                continue
            found.append((position, url, redact(url)))
        # Channels that look the same redacted are told apart by their place in `urls`.
        same = Counter(shown for _, _, shown in found)
        return [
            Channel(url, f"{shown} #{position}" if same[shown] > 1 else shown)
            for position, url, shown in found
        ]

    def _warn_missing(self, template: str) -> None:
        key = ",".join(unset_names(template, self.env))
        if self._warn_missing_vars and key not in self._warned:
            self._warned.add(key)
            log.warning(
                "event=alert-skipped detail='variable %s not set; alerts skip that URL'", key
            )

    def wants(self, job: Job | None, event: AlertEvent) -> bool:
        settings = effective(self.config, job)
        return settings is not None and event in settings.on and bool(settings.urls)

    @property
    def repeat_after(self) -> timedelta:
        return (self.config.alerts or AlertsConfig()).repeat_after

    # -- events ---------------------------------------------------------------------------

    def run_ended(self, run: Run) -> None:
        job = self.config.jobs.get(run.job)
        if job is None:
            return
        if run.status is RunStatus.SUCCEEDED:
            self._succeeded(run, job)
            return
        event = _ENDED.get(run.status)
        if event is None or not self.wants(job, event):
            return  # upstream_failed: the root cause alerts; interrupted: a stop
        held = self.store.hold_or_send(run.job, _KIND[event], self.clock.now(), self.repeat_after)
        if held is None:
            log.info("job=%s run=%s event=alert-held detail='%s'", run.job, run.id, event)
            return
        fold = fold_text(event, *held, job.timezone)
        self._emit(run_message(event, run, job.timezone, fold=fold), job)

    def _succeeded(self, run: Run, job: Job) -> None:
        settings = effective(self.config, job)
        if settings is None or not settings.urls:
            return  # no reads or writes per run for jobs that send no alerts
        before = self.store.previous_final(run.job, run.id)
        held, since = self.store.clear_holds(run.job, "failing")
        self.store.clear_holds(run.job, "missed")
        # Its own failure, not an upstream one or a daemon stop: those never alerted.
        recovered = before is not None and before.status in _ENDED
        late = self._past_deadline(run, job)
        if (recovered or late) and self.wants(job, AlertEvent.RECOVERY):
            folds = (fold_text(AlertEvent.FAILURE, held, since, job.timezone), late)
            fold = "\n".join(f for f in folds if f) or None
            self._emit(run_message(AlertEvent.RECOVERY, run, job.timezone, fold=fold), job)
        if self.wants(job, AlertEvent.SUCCESS):
            self._emit(run_message(AlertEvent.SUCCESS, run, job.timezone), job)

    def _past_deadline(self, run: Run, job: Job) -> str | None:
        """A success after its run's missed deadline (alerted as `deadline`): its words.
        Not a backfill's run: a range filled in later is no recovery (its summary says)."""
        at = run_deadline(job, run)
        late = at is not None and run.finished_at is not None and run.finished_at > at
        if not late or run.trigger is Trigger.BACKFILL or not self.wants(job, AlertEvent.DEADLINE):
            return None
        return f"It succeeded after its deadline, {human_time(at, job.timezone)}."

    def retrying(self, run: Run, why: str) -> None:
        job = self.config.jobs.get(run.job)
        if job is None or not self.wants(job, AlertEvent.RETRY):
            return
        current = self.store.get_run(run.id) or run
        # The run's reason while it waits is `why` itself: say it once.
        status = f"retrying ({why})"
        self._emit(run_message(AlertEvent.RETRY, current, job.timezone, status=status), job)

    def late(self, run: Run) -> None:
        job = self.config.jobs.get(run.job)
        if job is None or not self.wants(job, AlertEvent.LATE) or job.expected_duration is None:
            return
        current = self.store.get_run(run.id) or run
        if current.status.is_final:
            return
        expected = job.expected_duration.total_seconds()
        self._emit(late_message(current, job.timezone, expected), job)

    def missed(self, name: str, times: Sequence[datetime], why: str) -> None:
        job = self.config.jobs.get(name)
        if job is None or not times or not self.wants(job, AlertEvent.MISSED):
            return
        held = self.store.hold_or_send(name, "missed", self.clock.now(), self.repeat_after)
        if held is None:
            log.info("job=%s event=alert-held detail='missed'", name)
            return
        fold = fold_text(AlertEvent.MISSED, *held, job.timezone)
        self._emit(missed_message(name, times, why, job.timezone, fold), job)

    def deadline(
        self,
        name: str,
        t: datetime,
        run: Run | None,
        *,
        down: bool = False,
        more: int = 0,
        since: datetime | None = None,
    ) -> None:
        """The run for `name`'s fire time `t` (`run`, or None) had not succeeded by its
        deadline; `down`: the daemon was not running then; `more`: the earlier fire
        times that missed theirs, found by the same check (a downtime, a clock jump),
        from `since`, told in this message (no storm). The caller tells each (job, t)
        once (`Store.deadline_alerted`), so repeat_after holds none back: each fire time's
        deadline is its own promise."""
        job = self.config.jobs.get(name)
        if job is None or job.deadline is None or not self.wants(job, AlertEvent.DEADLINE):
            return
        self._emit(deadline_message(job, t, run, down=down, more=more, since=since), job)

    def config_rejected(self, where: str, problems: Sequence[str]) -> None:
        """A changed jobs file the daemon refused: told through [alerts] (whatever its
        `on` says: nothing else would tell anyone the change did not take effect)."""
        self._emit(config_message(where, problems), None)

    def summary(self, job_name: str, title: str, body: str, *, failed: bool) -> None:
        """One message for a whole backfill."""
        job = self.config.jobs.get(job_name)
        event = AlertEvent.FAILURE if failed else AlertEvent.SUCCESS
        if job is None or not self.wants(job, event):
            return
        self._emit(Message(event, job_name, None, title, body), job)

    # -- delivery and its record ----------------------------------------------------------

    def _emit(self, message: Message, job: Job | None) -> None:
        for channel in self.channels(job):
            self.sender.send(message, channel)

    def record(self, message: Message, channel: Channel, error: str | None) -> None:
        if not self._closed:
            try:
                delivery = AlertDelivery(
                    self.clock.now(),
                    message.event,
                    message.job,
                    message.run_id,
                    channel.shown,
                    error is None,
                    error,
                )
                self.store.record_alert(delivery)
            except StateError as e:  # a full disk: the log line below is all there is
                log.warning("event=alert-unrecorded detail=%r", str(e))
        log.log(
            logging.INFO if error is None else logging.WARNING,
            "job=%s event=alert alert=%s channel=%s sent=%s%s",
            message.job or "-",
            message.event,
            channel.shown,
            "yes" if error is None else "no",
            f" detail={error!r}" if error else "",
        )

    def close(self) -> None:
        """The store is closing: outcomes of deliveries still going are logged only, and
        channels failing get no more tries."""
        self._closed = True
        self.sender.stop()

    def flush(self, timeout: float | None = None) -> None:
        """Wait for deliveries in flight (trigger and backfill, before they exit)."""
        self.sender.flush(timeout)

    def test(self, job: Job | None) -> list[tuple[Channel, str | None]]:
        """Send a test message through each channel now; (channel, error or None)."""
        message = alert_test_message(job.name if job else None, self.clock.now())
        results = []
        for channel in self.channels(job):
            error = self.sender.try_once(message, channel)
            self.record(message, channel, error)
            results.append((channel, error))
        return results
