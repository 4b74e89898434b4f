"""Deadlines in the daemon (issue 15): each fire time's deadline checked once as it
passes, a `deadline` alert when its run had not succeeded by then.

First `DeadlineWatch` on chosen instants (quick), then real daemons alerting a real
HTTP receiver on loopback.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from cronplus.alerts import Alerter
from cronplus.deadline_watch import DeadlineWatch
from cronplus.dispatch import Dispatcher
from cronplus.engine import Engine
from cronplus.model import RunStatus, Trigger
from cronplus.paths import StatePaths
from tests.conftest import FakeClock, record, wait_until
from tests.test_alerts import Http

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HALF = timedelta(minutes=30)

HOURLY = """
[jobs.load]
schedule = "0 * * * *"
timezone = "UTC"
command = "true"
deadline = "30m"
{extra}
[jobs.report]
after = ["load"]
command = "true"
deadline = "45m"
"""


class Alerts:
    """Stands in for `Dispatcher.alert`: what the watch asked the alerter to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, datetime, str | None, bool]] = []
        self.folds: list[tuple[str, int, datetime]] = []  # (job, more, since) of a fold

    def __call__(self, event, name, t, run, *, down=False, more=0, since=None) -> None:
        assert event is Alerter.deadline
        self.sent.append((name, t, None if run is None else str(run.status), down))
        if more:
            self.folds.append((name, more, since))


def watch(project, extra: str = "", **kw) -> tuple[DeadlineWatch, Alerts]:
    project.write(HOURLY.format(extra=extra), **kw)
    alerts = Alerts()
    return DeadlineWatch(project.config(), project.store(), alerts), alerts


def engine_with_alerts(project, clock: FakeClock) -> tuple[Engine, Dispatcher, Alerts]:
    """An engine on `project` whose deadline alerts land in the returned `Alerts`."""
    config, store = project.config(), project.store()
    dispatcher = Dispatcher(config, store, StatePaths(project.state), clock=clock)
    alerts = Alerts()
    dispatcher.alert = lambda event, *a, **kw: (  # type: ignore[method-assign]
        alerts(event, *a, **kw) if event is Alerter.deadline else None
    )
    return Engine(config, store, dispatcher, clock=clock), dispatcher, alerts


def test_the_next_deadline_is_due_and_checked_once_whatever_the_run_does(project):
    w, alerts = watch(project)
    store = project.store()
    w.start(None, T0 - timedelta(minutes=5))
    assert w.first() == T0 + HALF  # load's; report's (T0 + 45m) after it
    record(store, "load", T0, "running")
    w.check(T0 + HALF - timedelta(microseconds=1))
    assert alerts.sent == []
    w.check(T0 + HALF)
    assert alerts.sent == [("load", T0, "running", False)]
    assert w.first() == T0 + timedelta(minutes=45)
    w.check(T0 + timedelta(minutes=45))  # report: no run, its upstream still runs
    assert alerts.sent[1:] == [("report", T0, None, False)]
    assert w.first() == T0 + HOUR + HALF
    record(store, "load", T0 + HOUR, "succeeded")  # done by 11:00:10, due by 11:30
    record(store, "report", T0 + HOUR, "upstream_failed")
    w.check(T0 + 2 * HOUR)
    assert alerts.sent[2:] == [("report", T0 + HOUR, "upstream_failed", False)]


def test_a_new_watch_on_the_same_state_never_alerts_a_deadline_again(project):
    """A restart, or a crash after the alert but before the alive mark."""
    w, alerts = watch(project)
    w.start(None, T0 - timedelta(minutes=5))
    record(project.store(), "load", T0, "running")
    w.check(T0 + HALF)
    assert alerts.sent == [("load", T0, "running", False)]
    again, alerts2 = watch(project)
    again.start(T0 + HALF - timedelta(seconds=9), T0 + timedelta(minutes=50))
    assert alerts2.sent == [("report", T0, None, True)]  # load's was sent already


def test_a_start_alerts_only_deadlines_passed_since_a_daemon_was_alive_bounded(project):
    w, alerts = watch(project, "catchup_limit = 3")
    store = project.store()
    record(store, "load", T0 + 2 * HOUR, "succeeded")
    down_since, now = T0 + timedelta(minutes=20), T0 + 6 * HOUR + timedelta(minutes=5)
    w.start(down_since, now)
    # load's deadlines 10:30 .. 15:30 passed; the newest 3 (13:00, 14:00, 15:00) looked
    # at; report's (limit 100) 10:45 .. 15:45. One message per job: the newest's,
    # folding the others.
    got = [(name, t.hour, status) for name, t, status, down in alerts.sent if down]
    assert got == [("load", 15, None), ("report", 15, None)]
    assert len(got) == len(alerts.sent)
    assert alerts.folds == [("load", 2, T0 + 3 * HOUR), ("report", 5, T0)]
    assert w.first() == T0 + 6 * HOUR + HALF  # 16:00's, still ahead


def test_a_state_where_no_daemon_ran_and_a_met_deadline_send_nothing(project):
    w, alerts = watch(project)
    w.start(None, T0 + 5 * HOUR)
    assert alerts.sent == [] and w.first() == T0 + 5 * HOUR + HOUR + HALF
    store = project.store()
    record(store, "load", T0 + 6 * HOUR, "succeeded")
    record(store, "report", T0 + 6 * HOUR, "succeeded")
    w.check(T0 + 7 * HOUR)
    assert alerts.sent == []


def test_a_success_after_the_deadline_is_a_miss(project):
    w, alerts = watch(project)
    project.write(HOURLY.format(extra="").replace('"30m"', '"30s"'))
    w.reconfigure(project.config(), T0 - timedelta(minutes=1))
    store = project.store()
    record(store, "load", T0, "succeeded", exits=(1, 1, 0))  # ends at T0 + 30s: met
    record(store, "load", T0 + HOUR, "succeeded", exits=(1, 1, 1, 0))  # T0 + 1h 40s
    w.check(T0 + HOUR + HALF)
    assert [(n, t, status) for n, t, status, _ in alerts.sent if n == "load"] == [
        ("load", T0 + HOUR, "succeeded")
    ]


def test_a_reload_takes_effect_for_the_next_deadline(project):
    w, alerts = watch(project)
    w.start(None, T0 - timedelta(minutes=5))
    assert w.first() == T0 + HALF
    project.write(HOURLY.format(extra="").replace('"30m"', '"10m"'))
    w.reconfigure(project.config(), T0 - timedelta(minutes=4))
    assert w.first() == T0 + timedelta(minutes=10)  # same fire time, its new deadline
    project.write(HOURLY.format(extra="").replace("0 * * * *", "15 * * * *"))
    w.reconfigure(project.config(), T0 + timedelta(minutes=5))
    # Its fire times changed: 10:00 fired under the old schedule and is still checked,
    # then those of the new one after the reload; report follows load's.
    assert w.first() == T0 + HALF
    w.check(T0 + timedelta(hours=3))  # a clock jumped forward: one message per job
    sent = [(n, f"{t:%H:%M}") for n, t, *_ in alerts.sent]
    assert sent == [("load", "12:15"), ("report", "12:15")]  # 10:00, 10:15, 11:15 folded
    assert alerts.folds == [("load", 3, T0), ("report", 3, T0)]
    project.write(
        HOURLY.format(extra="").replace('deadline = "45m"', "").replace("0 * *", "15 * *")
    )
    w.reconfigure(project.config(), T0 + timedelta(hours=3))
    assert w.first() == T0 + timedelta(hours=3, minutes=45)  # report has none now


def test_a_new_job_added_while_down_has_no_deadline_for_fire_times_it_never_ran(project):
    """The engine catches up nothing for a job with no scheduled run yet (README:
    "a job with no scheduled run in the state yet does not catch up"), so a restart
    after adding one must not alert "no run" for its fire times before the start."""
    w, alerts = watch(project)
    now = T0 + timedelta(minutes=40)  # 10:00 (due 10:30, passed) and none ran: new
    w.start(T0 - timedelta(minutes=5), now)
    assert alerts.sent == []
    assert w.first() == T0 + HOUR + HALF  # 11:00's, the first it fires
    w.check(T0 + HOUR + timedelta(minutes=50))
    assert [(n, t) for n, t, *_ in alerts.sent] == [("load", T0 + HOUR), ("report", T0 + HOUR)]


def test_a_clock_correction_checks_the_deadlines_of_the_new_time(project):
    """The clock ran 5 h ahead and was set back (a correction: engine.jumped): the
    jobs fire at the new time, and so their deadlines must be checked at it, not only
    once the clock is back where it was."""
    project.write(HOURLY.format(extra="").replace('command = "true"', 'command = "exit 3"', 1))
    ahead = T0 + 5 * HOUR + HALF
    clock = FakeClock(ahead)
    engine, dispatcher, alerts = engine_with_alerts(project, clock)
    engine.start(ahead)
    clock.set(T0 + timedelta(minutes=5))
    engine.jumped(ahead, clock.now())  # back 5 h 25 min: the truth is 10:05
    for at in (T0 + HOUR, T0 + HOUR + HALF):
        clock.set(at)
        engine.step(at)
        dispatcher.wait_all()
    dispatcher.shutdown()
    assert alerts.sent == [("load", T0 + HOUR, "failed", False)]


@pytest.mark.parametrize("on", ['["deadline", "recovery"]', '["deadline"]'])
def test_a_success_after_its_deadline_is_a_recovery_only_with_recovery_in_on(project, on):
    project.write(f"""
        [alerts]
        urls = ["json://127.0.0.1:9/hook"]
        on = {on}
        [jobs.load]
        schedule = "0 * * * *"
        command = "true"
        deadline = "30s"
    """)
    store = project.store()
    alerter = Alerter(project.config(), store, env={})
    sent: list[str] = []
    alerter._emit = lambda message, job: sent.append(message.title)
    for t, trigger in ((T0, Trigger.SCHEDULE), (T0 + HOUR, Trigger.BACKFILL)):
        late = record(store, "load", t, "succeeded", exits=(1, 1, 1, 0), trigger=trigger)
        alerter.run_ended(store.get_run(late.id))  # ended at t + 40s
    met = record(store, "load", T0 + 2 * HOUR, "succeeded", exits=(1, 0))
    alerter.run_ended(store.get_run(met.id))
    # A backfill's run fills a range later: no recovery (its summary tells).
    assert sent == (["cronplus: load recovered"] if "recovery" in on else [])


# -- real daemons, a real receiver --------------------------------------------------------------


@pytest.fixture
def http():
    h = Http()
    yield h
    h.close()


def at_second(seconds: float) -> tuple[str, datetime]:
    """A six-field schedule firing once a day, at a whole second `seconds` from now."""
    t = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return f"{t.second} {t.minute} {t.hour} * * *", t


def jobs_with(http: Http, body: str, on: str = "") -> str:
    return f"""
        [alerts]
        urls = ["json://127.0.0.1:{http.port}/hook"]
        {on}
        {body}
    """


def scheduled_once_started(project, daemon, text: str, seconds: float = 2.5):
    """A daemon started on `text` with its SCHEDULE far away, given a fire time
    `seconds` ahead by a reload once it runs (a start under load can take longer)."""
    project.write(text.replace("SCHEDULE", "0 0 1 1 *"))
    d = daemon()
    d.wait_started()
    schedule, t = at_second(seconds)
    project.write(text.replace("SCHEDULE", schedule))
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=reloaded" in d.stderr)
    return d, t


def deadline_posts(http: Http) -> list[dict]:
    return [p for p in http.posts("/hook") if "deadline" in p["title"]]


@pytest.mark.slow
def test_a_daemon_alerts_a_run_still_going_and_one_blocked_upstream_once(project, daemon, http):
    text = jobs_with(
        http,
        """
        [jobs.load]
        schedule = "SCHEDULE"
        timezone = "UTC"
        command = "sleep 4"
        deadline = "2s"
        [jobs.report]
        after = ["load"]
        command = "true"
        deadline = "3s"
        [jobs.fine]
        schedule = "SCHEDULE"
        timezone = "UTC"
        command = "true"
        deadline = "2s"
        """,
        'on = ["deadline", "recovery"]',
    )
    d, t = scheduled_once_started(project, daemon, text)
    wait_until(lambda: len(deadline_posts(http)) == 2, timeout=15)
    load, report = deadline_posts(http)
    assert load["title"] == "cronplus: load missed its deadline"
    assert f"Logical time: {t.isoformat(sep=' ')}" in load["message"]
    assert f"Deadline: {(t + timedelta(seconds=2)).isoformat(sep=' ')}" in load["message"]
    assert "Now: running" in load["message"]
    assert report["title"] == "cronplus: report missed its deadline"
    assert "Now: no run" in report["message"]
    # load then succeeds (4 s, after its deadline), then report: each a recovery,
    # `recovery` being in `on`.
    recovered = lambda: [p for p in http.posts("/hook") if "recovered" in p["title"]]  # noqa: E731
    wait_until(lambda: len(recovered()) == 2, timeout=15)
    d.terminate()
    d2 = daemon()  # the deadlines passed while the first was alive: none again
    d2.wait_started()
    time.sleep(0.5)
    d2.terminate()
    posts = http.posts("/hook")
    assert [p["title"] for p in posts if "deadline" in p["title"]] == [
        load["title"],
        report["title"],
    ]
    assert {p["title"] for p in recovered()} == {
        "cronplus: load recovered",
        "cronplus: report recovered",
    }
    assert all("succeeded after its deadline" in p["message"] for p in recovered())
    print(load["title"], load["message"], sep="\n")


@pytest.mark.slow
def test_a_deadline_passed_while_no_daemon_ran_is_alerted_at_the_start(project, daemon, http):
    """Its upstream failed first; no recovery without `recovery` in `on`."""
    body = """
        [jobs.extract]
        schedule = "SCHEDULE"
        timezone = "UTC"
        command = "exit 3"
        [jobs.load]
        after = ["extract"]
        command = "true"
        deadline = "3s"
        [jobs.nightly]
        schedule = "SCHEDULE"
        timezone = "UTC"
        command = "true"
        deadline = "1h"
    """
    d, t = scheduled_once_started(project, daemon, jobs_with(http, body, 'on = ["deadline"]'))
    store = project.store()
    wait_until(lambda: store.find_run("load", t) is not None, timeout=10)
    d.terminate()  # before load's deadline: this daemon never checked it
    assert store.find_run("load", t).status is RunStatus.UPSTREAM_FAILED
    assert deadline_posts(http) == []
    wait_until(lambda: datetime.now(UTC) > t + timedelta(seconds=3.2))
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: len(deadline_posts(http)) == 1)
    d2.terminate()
    d3 = daemon()  # once: not again at the next start
    d3.wait_started()
    time.sleep(0.5)
    d3.terminate()
    (post,) = deadline_posts(http)
    assert post["title"] == "cronplus: load missed its deadline"
    assert "Now: upstream_failed" in post["message"]
    assert "the daemon was down at the deadline" in post["message"]
    assert [json.dumps(p) for p in http.posts("/hook") if "deadline" in p["title"]] == [
        json.dumps(post)
    ]


def test_a_correction_past_pruned_runs_watches_no_fire_time_the_engine_skips(project):
    """After a correction the engine follows a job from after its newest pruned run
    (made while the clock was ahead): the fire times before that run nowhere, so
    their deadlines are not watched either ("no run" would be a false alarm)."""
    from cronplus.retention import prune

    project.write("""
        [jobs.m]
        schedule = "* * * * *"
        timezone = "UTC"
        keep_runs = 1
        deadline = "30s"
        command = "true"
    """)
    ahead = T0 + 6 * HOUR
    clock = FakeClock(ahead)
    engine, dispatcher, alerts = engine_with_alerts(project, clock)
    engine.start(ahead)
    for i in (1, 2, 3):  # 16:01 .. 16:03 run while the clock is 6 h ahead
        clock.set(ahead + timedelta(minutes=i))
        engine.step(clock.now())
        dispatcher.wait_all()
    prune(engine.config, engine.store, StatePaths(project.state), clock.now())  # 16:01, :02 go
    before = clock.now()
    clock.set(T0)
    engine.jumped(before, T0)  # corrected: the truth is 10:00; m follows from 16:03
    for at in (T0 + timedelta(minutes=1, seconds=30), T0 + timedelta(minutes=2, seconds=30)):
        clock.set(at)
        engine.step(at)
    dispatcher.shutdown()
    assert alerts.sent == []


def test_a_deadline_in_a_pipeline_that_starts_at_reboot_is_refused(project):
    """Only fire times have deadlines: a job after an `@reboot` job has none to keep,
    as an `@reboot` job itself (the daemon never checked it, yet a run later than
    boot + deadline sent `recovery` for a deadline nobody was told was missed)."""
    from cronplus.errors import ConfigError

    project.write("""
        [jobs.boot]
        schedule = "@reboot"
        command = "true"
        [jobs.warm]
        after = ["boot"]
        command = "true"
        deadline = "1m"
    """)
    with pytest.raises(ConfigError) as info:
        project.config()
    (problem,) = [str(p) for p in info.value.problems]
    assert "warm" in problem and "deadline" in problem and "@reboot" in problem


def test_a_fire_time_skipped_while_paused_alerts_no_deadline(project):
    """A pause is the user's own "not now": its fire times alert neither `missed` nor
    `deadline`, nor do those of the jobs after a paused first job."""
    w, alerts = watch(project)
    store = project.store()
    w.start(None, T0 - timedelta(minutes=5))
    record(store, "load", T0, "skipped", reason="paused")
    w.check(T0 + timedelta(minutes=45))
    assert alerts.sent == []
    record(store, "load", T0 + HOUR, "skipped", reason="previous run 3 was still running")
    w.check(T0 + HOUR + timedelta(minutes=45))
    assert alerts.sent == [
        ("load", T0 + HOUR, "skipped", False),
        ("report", T0 + HOUR, None, False),
    ]


# -- no storm: the misses one check finds, one message per job ----------------------------------

MINUTELY = """
[jobs.m]
schedule = "* * * * *"
deadline = "30s"  # due 30 s after each minute
timezone = "Europe/Berlin"
command = "true"

[alerts]
on = ["deadline"]
urls = ["json://127.0.0.1:9/hook"]
"""


def real_texts(project) -> tuple[DeadlineWatch, list[str]]:
    """A watch alerting through a real `Alerter` (its texts), the bodies it sends."""
    project.write(MINUTELY)
    config, store = project.config(), project.store()
    alerter = Alerter(config, store, env={})
    bodies: list[str] = []
    alerter._emit = lambda message, job: bodies.append(f"{message.title}\n{message.body}")
    watch = DeadlineWatch(config, store, lambda event, *a, **kw: event(alerter, *a, **kw))
    return watch, bodies


def test_a_downtime_s_missed_deadlines_are_one_message_and_each_once(project):
    """A minutely job, the daemon down an hour: one `deadline` message, the newest
    fire time's, counting the 59 others from the oldest, not 60 messages."""
    w, bodies = real_texts(project)
    record(project.store(), "m", T0 - HOUR, "succeeded")  # it ran before: caught up
    now = T0 + HOUR  # down from 10:00:10 to 11:00:40 UTC: 10:00 .. 10:59 passed
    w.start(T0 + timedelta(seconds=10), now + timedelta(seconds=10))
    (body,) = bodies
    assert "Logical time: 2026-11-23 11:59:00+01:00" in body
    assert "Now: no run" in body
    assert (
        "Sent as the daemon started: the daemon was down at the deadline.\n"
        "And 59 more fire times since 2026-11-23 11:00:00+01:00 missed their deadline.\n" in body
    )
    assert body.endswith("See: cronplus status --on 2026-11-23 m --problems")
    # Each (job, T) once: a start again (a crash before the alive mark) tells none.
    again, bodies2 = real_texts(project)
    again.start(T0 + timedelta(seconds=10), now + timedelta(seconds=20))
    assert bodies2 == []


def test_a_forward_jump_s_missed_deadlines_are_one_message(project):
    """In the live loop: the clock stepped 10 minutes ahead, 9 deadlines passed."""
    w, bodies = real_texts(project)
    w.start(None, T0)
    w.check(T0 + timedelta(minutes=10))  # 10:01 .. 10:09 missed; 10:10's still ahead
    (body,) = bodies
    assert "Logical time: 2026-11-23 11:09:00+01:00" in body
    assert "And 8 more fire times since 2026-11-23 11:01:00+01:00 missed their deadline." in body
    assert "daemon" not in body
    w.check(T0 + timedelta(minutes=11))  # 10:10's alone: as a single miss always was
    assert "And " not in bodies[1] and "--problems" not in bodies[1]


def test_a_single_missed_deadline_is_told_as_it_always_was(project):
    w, bodies = real_texts(project)
    run = record(project.store(), "m", T0 + timedelta(minutes=1), "running")
    w.start(None, T0)
    w.check(T0 + timedelta(minutes=1, seconds=30))
    w.check(T0 + timedelta(minutes=2, seconds=30))
    host = socket.gethostname()
    assert bodies == [
        "cronplus: m missed its deadline\nJob: m\nLogical time: 2026-11-23 11:01:00+01:00\n"
        "Deadline: 2026-11-23 11:01:30+01:00, and no run for it had succeeded by then.\n"
        f"Now: running\nHost: {host}\n\nSee more: cronplus logs m --run {run.id}",
        "cronplus: m missed its deadline\nJob: m\nLogical time: 2026-11-23 11:02:00+01:00\n"
        "Deadline: 2026-11-23 11:02:30+01:00, and no run for it had succeeded by then.\n"
        f"Now: no run\nHost: {host}\n\nSee: cronplus status --on 2026-11-23 m",
    ]


@pytest.mark.slow
def test_a_downtime_s_missed_deadlines_reach_the_receiver_as_one_post_per_job(
    project, daemon, http
):
    """Three fire times pass while no daemon runs: the next start POSTs one `deadline`
    message per job (load, and report after it), each folding the two older ones."""
    body = """
        [jobs.load]
        schedule = "SCHEDULE"
        timezone = "UTC"
        command = "true"
        deadline = "1s"
        [jobs.report]
        after = ["load"]
        command = "true"
        deadline = "1s"
    """
    text = jobs_with(http, body, 'on = ["deadline"]')
    project.write(text.replace("SCHEDULE", "0 0 1 1 *"))
    record(project.store(), "load", T0, "succeeded")  # it ran before: it catches up
    d = daemon()
    d.wait_started()
    d.terminate()
    down = datetime.now(UTC).replace(microsecond=0)
    times = [down + timedelta(seconds=s) for s in (1, 2, 3)]  # every minute at these
    seconds = ",".join(str(t.second) for t in times)
    project.write(text.replace("SCHEDULE", f"{seconds} * * * * *"))
    wait_until(lambda: datetime.now(UTC) > times[-1] + timedelta(seconds=1.3), timeout=10)
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: len(deadline_posts(http)) == 2, timeout=10)
    time.sleep(0.5)
    d2.terminate()
    posts = sorted(deadline_posts(http), key=lambda p: p["title"])  # each sent on its own
    assert [p["title"] for p in posts] == [
        "cronplus: load missed its deadline",
        "cronplus: report missed its deadline",
    ]
    for post in posts:
        assert f"Logical time: {times[-1].isoformat(sep=' ')}" in post["message"]
        assert (
            f"And 2 more fire times since {times[0].isoformat(sep=' ')} missed their "
            "deadline." in post["message"]
        )
        assert f"--on {times[0].date()}" in post["message"]
    print(posts[0]["title"], posts[0]["message"], sep="\n")


def test_a_state_refusing_midway_loses_no_missed_deadline_and_tells_none_twice(project):
    """The misses noted before the state refused are told (one message); the one
    refused and those after it are checked at the next check."""
    from cronplus.errors import StateError

    w, bodies = real_texts(project)
    store = w.store
    noted, calls = store.deadline_alerted, []

    def refusing_the_fourth(job, t):
        calls.append(t)
        if len(calls) == 4:
            raise StateError("database is locked")
        return noted(job, t)

    store.deadline_alerted = refusing_the_fourth  # type: ignore[method-assign]
    w.start(None, T0)
    with pytest.raises(StateError):
        w.check(T0 + timedelta(minutes=10))  # 10:01 .. 10:03 noted, 10:04 refused
    assert len(bodies) == 1
    assert "Logical time: 2026-11-23 11:03:00+01:00" in bodies[0]
    assert "And 2 more fire times since 2026-11-23 11:01:00+01:00" in bodies[0]
    assert w.first() == T0 + timedelta(minutes=4, seconds=30)  # 10:04's, waiting
    w.check(T0 + timedelta(minutes=10))
    assert "Logical time: 2026-11-23 11:09:00+01:00" in bodies[1]
    assert "And 5 more fire times since 2026-11-23 11:04:00+01:00" in bodies[1]
    assert len(bodies) == 2


def test_only_jobs_whose_pipeline_has_fire_times_get_a_deadline(project):
    """[defaults].deadline reaches the jobs that have fire times (their own schedule or
    their pipeline's), not those after an @reboot or triggered-only job; set on such a
    job itself, it is refused."""
    from cronplus.errors import ConfigError

    project.write("""
        [defaults]
        deadline = "1h"
        [jobs.boot]
        schedule = "@reboot"
        command = "true"
        [jobs.warm]
        after = ["boot"]
        command = "true"
        [jobs.by_hand]
        command = "true"
        [jobs.after_hand]
        after = ["by_hand"]
        command = "true"
        [jobs.nightly]
        schedule = "0 3 * * *"
        command = "true"
        [jobs.report]
        after = ["nightly"]
        command = "true"
    """)
    got = {name: job.deadline for name, job in project.config().jobs.items()}
    hour = timedelta(hours=1)
    assert got == {
        "boot": None, "warm": None, "by_hand": None, "after_hand": None,
        "nightly": hour, "report": hour,
    }  # fmt: skip
    project.write("""
        [jobs.by_hand]
        command = "true"
        [jobs.after_hand]
        after = ["by_hand"]
        command = "true"
        deadline = "1h"
    """)
    with pytest.raises(ConfigError) as info:
        project.config()
    (problem,) = [str(p) for p in info.value.problems]
    assert "after_hand" in problem and "pipeline that has no schedule" in problem


def test_one_more_fire_time_is_told_in_the_singular(project):
    from cronplus.alert_texts import deadline_message

    project.write(HOURLY.format(extra=""))
    job = project.config().jobs["load"]
    one = deadline_message(job, T0 + HOUR, None, down=True, more=1, since=T0)
    two = deadline_message(job, T0 + HOUR, None, down=True, more=2, since=T0 - HOUR)
    assert "And 1 more fire time since 2026-11-23 10:00:00+00:00 missed its deadline." in str(one)
    assert "And 2 more fire times since 2026-11-23 09:00:00+00:00 missed their deadline." in str(
        two
    )
