"""Claiming a run, the insert every claim makes (`SqlStore.claim_run`/`claim_many`,
and `claim_file_run` of a watch job's file), and the run it records, written once for
any SQL backend. Part of `SqlStore`; see `_sql.py`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cronplus.model import Claim, Run, Trigger
from cronplus.store._db import Tx, to_db


def claim_row(
    tx: Tx, job: str, scheduled_for: datetime, trigger: Trigger, claim: Claim, host: str
) -> int | None:
    """Insert the run of (job, scheduled_for) unless one exists: its id, or None.
    `host`: the claiming process's CRONPLUS_HOST, with `claim.owner` its owner."""
    final = claim.status.is_final
    return tx.insert(
        "INSERT INTO runs (job, scheduled_for, trigger, status, reason, created_at,"
        " finished_at, owner_pid, owner_host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (job, scheduled_for) DO NOTHING",
        (
            job,
            to_db(scheduled_for),
            str(trigger),
            str(claim.status),
            claim.reason,
            to_db(claim.now),
            to_db(claim.now) if final else None,
            None if final else claim.owner,
            None if final else host,
        ),
    )


_ROWS = 100  # runs a statement claims at most (9 parameters each)


def claim_rows(
    tx: Tx, wanted: Sequence[tuple[str, datetime, Trigger]], claim: Claim, host: str
) -> list[int | None]:
    """`claim_row` for many in a statement per hundred (a round trip each, on a server):
    each pair's new run id (in `wanted`'s order), None for one that exists or was
    given before."""
    final = claim.status.is_final
    fixed = (
        str(claim.status),
        claim.reason,
        to_db(claim.now),
        to_db(claim.now) if final else None,
        None if final else claim.owner,
        None if final else host,
    )
    ids: dict[tuple[str, str], int] = {}
    # In key order: two processes claiming overlapping sets (with no write lock on a
    # server, `Db.tx(locked=False)`) then wait for each other, never in a cycle.
    ordered = sorted(wanted, key=lambda w: (w[0] or "", to_db(w[1])))
    for i in range(0, len(ordered), _ROWS):
        chunk = ordered[i : i + _ROWS]
        for r in tx.all(
            "INSERT INTO runs (job, scheduled_for, trigger, status, reason, created_at,"
            " finished_at, owner_pid, owner_host) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (job, scheduled_for) DO NOTHING RETURNING id, job, scheduled_for",
            [v for job, t, trigger in chunk for v in (job, to_db(t), str(trigger), *fixed)],
        ):
            ids[(r["job"], r["scheduled_for"])] = r["id"]
    return [ids.pop((job, to_db(t)), None) for job, t, _ in wanted]


def claimed_run(
    run_id: int, job: str, scheduled_for: datetime, trigger: Trigger, claim: Claim
) -> Run:
    """The run `claim_row` inserted, as it is recorded."""
    final = claim.status.is_final
    return Run(
        id=run_id,
        job=job,
        scheduled_for=scheduled_for.astimezone(UTC),
        trigger=trigger,
        status=claim.status,
        reason=claim.reason,
        created_at=claim.now,
        finished_at=claim.now if final else None,
    )
