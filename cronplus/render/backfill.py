"""What `backfill` prints: the plan (`--dry-run`), the progress, and the result."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from cronplus.render._base import (
    count_text,
    human_time,
    iso,
    print_line,
    print_lines,
    print_table,
    run_json,
)
from cronplus.render.progress import Progress

if TYPE_CHECKING:
    from cronplus.backfill import BackfillResult, Outcome, Plan, PlanItem, Settled
    from cronplus.intervals import Intervals

_SHOWN_FAILURES = 20  # rows of the table of runs that did not succeed


# -- the plan -----------------------------------------------------------------------------------


def _action_counts(plan: Plan) -> dict[Any, int]:
    from cronplus.backfill import Action

    return {a: sum(i.action is a for i in plan.items) for a in Action}


def plan_json(plan: Plan) -> dict[str, Any]:
    from cronplus.backfill import Action

    counts = _action_counts(plan)
    items = [_plan_item_json(i, plan.timezone) for i in plan.items]
    return {
        "planned": len(items),
        "would_run": counts[Action.RUN],
        "already_succeeded": counts[Action.DONE],
        "blocked": counts[Action.BLOCKED],
        "pruned": counts[Action.PRUNED],
        "left_out": plan.left_out,
        "plan": items,
    }


def _plan_item_json(i: PlanItem, tz: str) -> dict[str, Any]:
    return {
        "job": i.job,
        "scheduled_for": iso(i.scheduled_for, tz),
        "plan": str(i.action),
        "run_id": i.run.id if i.run else None,
        "detail": i.detail,
    }


def print_plan(plan: Plan) -> None:
    """One line per planned (job, logical time), the detail last."""
    tz = plan.timezone
    width = max(len(j) for j in plan.jobs)
    out = sys.stdout
    for i in plan.items:
        line = f"{human_time(i.scheduled_for, tz)}  {i.job:<{width}}  {i.action}"
        out.write(line + (f"  {i.detail}" if i.detail else "") + "\n")


def plan_summary(plan: Plan) -> list[str]:
    """For stderr after a dry run: the counts, then what was left out."""
    from cronplus.backfill import Action

    counts = _action_counts(plan)
    summary = (
        f"plan: {count_text(len(plan.items), 'run')} ({count_text(len(plan.times), 'fire time')} x "
        f"{count_text(len(plan.jobs), 'job')}): {counts[Action.RUN]} would-run, "
        f"{counts[Action.DONE]} already-succeeded, {counts[Action.BLOCKED]} blocked"
        + (f", {counts[Action.PRUNED]} pruned" if counts[Action.PRUNED] else "")
        + "; nothing was run"
    )
    return [summary, *plan_notes(plan)]


def plan_notes(plan: Plan) -> list[str]:
    from cronplus.backfill import left_out_text

    notes = []
    if plan.disabled:
        notes.append(f"left out, disabled or after a disabled job: {', '.join(plan.disabled)}")
    left = left_out_text(plan)
    if left:
        notes.append(left)
    return notes


# -- progress -----------------------------------------------------------------------------------


class BackfillProgress:
    """One step of the progress per planned run that came to an end; the runs that
    did not succeed are shown above a terminal's bar too."""

    def __init__(self, plan: Plan) -> None:
        self._tz = plan.timezone
        from cronplus.backfill import Action

        going = [i for i in plan.items if i.action is not Action.PRUNED]  # not run
        self._progress = Progress(len(going), "backfill")

    def settled(self, s: Settled) -> None:
        from cronplus.backfill import Outcome

        when = human_time(s.scheduled_for, self._tz)
        run = s.run
        if s.outcome is Outcome.SKIPPED:
            what = f"already succeeded (run {run.id})"
        elif s.outcome is Outcome.SUCCEEDED:
            what = f"succeeded (run {run.id}, attempt {len(run.attempts)})"
        else:
            what = f"{run.status} (run {run.id})" + (f": {run.reason}" if run.reason else "")
            if run.attempts:
                what += f" - see: cronplus logs {s.job} --run {run.id}"
        kind = _PROGRESS_KIND[str(s.outcome)]
        self._progress.advance(
            kind, f"{s.job} {when} {what}", show=kind in ("failed", "interrupted")
        )

    def close(self) -> None:
        self._progress.close()


_PROGRESS_KIND = {
    "succeeded": "ok",
    "failed": "failed",
    "interrupted": "interrupted",
    "upstream_failed": "failed",
    "skipped": "skipped",
}


# -- the result ---------------------------------------------------------------------------------


def _outcome_counts(result: BackfillResult) -> dict[Outcome, int]:
    from cronplus.backfill import Outcome

    return {o: result.count(o) for o in Outcome}


def backfill_json(result: BackfillResult, intervals: Intervals | None = None) -> dict[str, Any]:
    """`intervals`: the runs' data intervals and, through its configuration, their
    deadlines, else their fields are null."""
    from cronplus.backfill import Outcome

    plan = result.plan
    spans = intervals.of_runs(s.run for s in result.settled) if intervals else {}
    jobs = intervals.config.jobs if intervals else {}  # their deadline_at
    counts = _outcome_counts(result)
    return {
        "planned": len(plan.items),
        # "interrupted" is the flag below; the count of such runs has its own key.
        **{str(o): counts[o] for o in Outcome if o is not Outcome.INTERRUPTED},
        "interrupted_runs": counts[Outcome.INTERRUPTED],
        "not_run": result.not_run,
        "interrupted": result.interrupted,
        "left_out": plan.left_out,
        "runs": [
            run_json(s.run, plan.timezone, interval=spans.get(s.run.id), job=jobs.get(s.run.job))
            for s in result.settled
        ],
    }


def print_backfill(result: BackfillResult) -> None:
    """The range, the counts, a table of the runs that did not succeed, the notes."""
    from cronplus.backfill import Outcome

    plan, tz = result.plan, result.plan.timezone
    counts = _outcome_counts(result)
    print_line(
        f"backfill {', '.join(plan.jobs)}: {count_text(len(plan.times), 'fire time')} from "
        f"{human_time(plan.times[0], tz)} to {human_time(plan.times[-1], tz)}"
    )
    print_line(
        f"planned {len(plan.items)}: {counts[Outcome.SUCCEEDED]} succeeded, "
        f"{counts[Outcome.FAILED]} failed, {counts[Outcome.INTERRUPTED]} interrupted, "
        f"{counts[Outcome.SKIPPED]} skipped "
        f"(already succeeded), {counts[Outcome.UPSTREAM_FAILED]} upstream_failed"
        + (
            f", {counts[Outcome.PRUNED]} pruned (--rerun runs them)"
            if counts[Outcome.PRUNED]
            else ""
        )
        + (f", {result.not_run} not run" if result.not_run else "")
    )
    bad = [s for s in result.settled if s.outcome not in (Outcome.SUCCEEDED, Outcome.SKIPPED)]
    if bad:
        print_table(
            ["JOB", "LOGICAL TIME", "RUN", "STATUS", "REASON"],
            [
                [
                    s.job,
                    human_time(s.scheduled_for, tz),
                    str(s.run.id),
                    str(s.run.status),
                    s.run.reason or "",
                ]
                for s in bad[:_SHOWN_FAILURES]
            ],
            status_column=3,
        )
        if len(bad) > _SHOWN_FAILURES:
            more = len(bad) - _SHOWN_FAILURES
            print_line(f"and {more} more (see: cronplus history {plan.job})")
    print_lines(plan_notes(plan))


def interrupted_note(result: BackfillResult) -> str:
    """For stderr when a stop cut the backfill short."""
    return (
        f"backfill interrupted: {len(result.settled)} of {len(result.plan.items)} planned "
        "runs came to an end; run the same command again to do the rest"
    )
