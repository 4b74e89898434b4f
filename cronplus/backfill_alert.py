"""The backfill summary alert: one message for a whole backfill, sent through the
alert policy's `Alerter.summary`. It lives beside backfill, not in alerts, because
it reads backfill's result types and alerts sits below backfill."""

from __future__ import annotations

import socket

from cronplus.alerts import Alerter
from cronplus.backfill import BackfillResult, Outcome
from cronplus.zones import human_time

_LISTED = 10  # runs that did not succeed named in the message


def backfill_summary_alert(alerter: Alerter, result: BackfillResult) -> None:
    """One alert for the whole backfill, not one per failed run; sent before exiting."""
    plan = result.plan
    counts = {o: result.count(o) for o in Outcome}
    bad = [s for s in result.settled if s.outcome not in (Outcome.SUCCEEDED, Outcome.SKIPPED)]
    word = "interrupted" if result.interrupted else ("failed" if bad else "succeeded")
    title = f"cronplus: backfill of {plan.job} {word}"
    zone = plan.timezone
    lines = [
        f"Backfill of {', '.join(plan.jobs)} for {len(plan.times)} fire times, "
        f"{human_time(plan.times[0], zone)} to {human_time(plan.times[-1], zone)}",
        f"Planned {len(plan.items)}: {counts[Outcome.SUCCEEDED]} succeeded, "
        f"{counts[Outcome.FAILED]} failed, {counts[Outcome.INTERRUPTED]} interrupted, "
        f"{counts[Outcome.SKIPPED]} already succeeded, "
        f"{counts[Outcome.UPSTREAM_FAILED]} upstream_failed, {result.not_run} not run"
        + (f", {counts[Outcome.PRUNED]} pruned" if counts[Outcome.PRUNED] else ""),
        f"Host: {socket.gethostname()}",
    ]
    if bad:
        lines += ["", "Runs that did not succeed:"]
        for s in bad[:_LISTED]:
            when = human_time(s.scheduled_for, zone)
            why = f" ({s.run.reason})" if s.run.reason else ""
            lines.append(f"- {s.job} {when}: run {s.run.id} {s.run.status}{why}")
        if len(bad) > _LISTED:
            lines.append(f"- and {len(bad) - _LISTED} more")
        lines += ["", f"See more: cronplus history {plan.job}"]
    failed = bool(bad) or result.interrupted
    alerter.summary(plan.job, title, "\n".join(lines), failed=failed)
    alerter.flush()
