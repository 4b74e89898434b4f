"""Numbered migrations and the schema_version check.

Each migration runs in one transaction with the version bump, so a state is
never left half-migrated. A state written by a newer cronplus is refused rather
than guessed at.
"""

from __future__ import annotations

import sqlite3

from cronplus.errors import StateError
from cronplus.store.schema_hosts import JOB_OWNERS_TABLE, PROCESSES_INDEX, PROCESSES_TABLE

# The statuses of a run that ended badly, as the partial index of schema 6 and the
# queries it serves write them (SQLite uses such an index only for the same terms).
ENDED_BADLY = "('failed', 'timed_out', 'upstream_failed', 'interrupted')"
FINAL = "('succeeded', 'failed', 'timed_out', 'skipped', 'upstream_failed', 'interrupted')"


def _duration_us(row: str) -> str:
    """A run's duration in whole microseconds, from the fixed-width UTC text
    (`_db.to_db`): seconds from strftime, the fraction from its six digits (julianday
    is up to 12 µs off). `row`: the row's prefix in a trigger (`NEW.`), else empty."""
    return (
        f"((strftime('%s', {row}finished_at) - strftime('%s', {row}started_at)) * 1000000"
        f" + (substr({row}finished_at, 21, 6) - substr({row}started_at, 21, 6)))"
    )


RECENT_KEPT = 100  # durations each job keeps in run_recent (schema 7)

# One run's end added to its job's totals (run_totals), and, when it had an attempt,
# its duration to the job's last RECENT_KEPT (run_recent: the oldest one dropped).
_COUNT_THE_END = f"""
    INSERT INTO run_totals (job, status, runs, timed, timed_us, last_finished_at)
    VALUES (NEW.job, NEW.status, 1, NEW.started_at IS NOT NULL,
            COALESCE({_duration_us("NEW.")}, 0), NEW.finished_at)
    ON CONFLICT (job, status) DO UPDATE SET
        runs = runs + 1,
        timed = timed + excluded.timed,
        timed_us = timed_us + excluded.timed_us,
        last_finished_at = MAX(last_finished_at, excluded.last_finished_at);
    INSERT INTO run_recent (job, kept, durations_us)
    SELECT NEW.job, 1, CAST({_duration_us("NEW.")} AS TEXT) WHERE NEW.started_at IS NOT NULL
    ON CONFLICT (job) DO UPDATE SET
        durations_us = CASE WHEN kept >= {RECENT_KEPT}
            THEN substr(durations_us, instr(durations_us, ',') + 1)
            ELSE durations_us END || ',' || excluded.durations_us,
        kept = MIN(kept + 1, {RECENT_KEPT});
"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: runs keyed by (job, logical time); attempts per run.
    (
        """
        CREATE TABLE runs (
            id            INTEGER PRIMARY KEY,
            job           TEXT    NOT NULL,
            scheduled_for TEXT    NOT NULL,  -- UTC, fixed width, so text order is time order
            trigger       TEXT    NOT NULL,
            status        TEXT    NOT NULL,
            reason        TEXT,
            created_at    TEXT    NOT NULL,
            started_at    TEXT,
            finished_at   TEXT,
            attempts      INTEGER NOT NULL DEFAULT 0,
            owner_pid     INTEGER,            -- the cronplus process executing the run
            UNIQUE (job, scheduled_for)       -- at most one run per logical time, whoever asks
        )
        """,
        """
        -- status reads a job's latest runs and a date's runs, history reads newest first.
        CREATE INDEX runs_job_status_time ON runs (job, status, scheduled_for)
        """,
        """
        CREATE INDEX runs_unfinished ON runs (status) WHERE status IN ('queued', 'running')
        """,
        """
        CREATE TABLE attempts (
            run_id      INTEGER NOT NULL REFERENCES runs (id),
            number      INTEGER NOT NULL,
            started_at  TEXT    NOT NULL,
            finished_at TEXT,
            exit_code   INTEGER,
            signal      TEXT,
            log         TEXT,
            pid         INTEGER,
            PRIMARY KEY (run_id, number)
        ) WITHOUT ROWID
        """,
    ),
    # 2: who executed each attempt. A backfill re-running a scheduled run adds
    # attempts to it, and history must show which ones the backfill made.
    (
        """
        ALTER TABLE attempts ADD COLUMN trigger TEXT
        """,
    ),
    # 3: alerts. One row per alert and channel, with its final delivery outcome, so
    # "was anyone told?" has an answer. The channel is stored redacted (scheme and
    # host): URLs carry tokens. alert_holds counts what repeat_after held back.
    (
        """
        CREATE TABLE alerts (
            id       INTEGER PRIMARY KEY,
            time     TEXT    NOT NULL,
            event    TEXT    NOT NULL,
            job      TEXT,
            run_id   INTEGER,
            channel  TEXT    NOT NULL,
            sent     INTEGER NOT NULL,
            error    TEXT
        )
        """,
        """
        CREATE TABLE alert_holds (
            job        TEXT NOT NULL,
            kind       TEXT NOT NULL,   -- what repeats: failing, missed
            last_sent  TEXT,
            held       INTEGER NOT NULL DEFAULT 0,
            held_since TEXT,
            PRIMARY KEY (job, kind)
        ) WITHOUT ROWID
        """,
        """
        -- daemon_alive: when a daemon last looked at the clock, so its next start can tell
        -- the fire times that passed while none ran from those a live daemon skipped.
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        """
        -- cronplus pause JOB: its fire times are recorded skipped until resume.
        CREATE TABLE paused (
            job   TEXT PRIMARY KEY,
            since TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    # 4: runs a daemon's stop or crash cut short, to run again at its next start,
    # and runs whose dependents it had still to release.
    # spent: the attempts that count against the job's retries (one cut short by the
    # stop does not).
    (
        """
        CREATE TABLE resume (
            run_id INTEGER PRIMARY KEY REFERENCES runs (id),
            spent  INTEGER NOT NULL
        )
        """,
        """
        -- a daemon's run that ended and whose dependents may not have been started (or
        -- recorded upstream_failed) yet: written with the run's end, deleted after.
        CREATE TABLE release (
            run_id INTEGER PRIMARY KEY REFERENCES runs (id)
        )
        """,
        """
        -- 0 for an attempt cronplus cut short (a stop, a crash): it does not use up a retry
        ALTER TABLE attempts ADD COLUMN counted INTEGER NOT NULL DEFAULT 1
        """,
    ),
    # 5: no query reads runs by (job, status, scheduled_for): each read of a job's runs
    # walks UNIQUE (job, scheduled_for), the unfinished ones have their own index. The
    # index cost about 60 bytes a run and a write at every change of a run's status
    # (issue 12: a million runs in under 400 bytes each).
    (
        """
        DROP INDEX runs_job_status_time
        """,
    ),
    # 6: the runs that ended badly, by their end: the web's overview lists those that
    # ended in its window across every job (issue 13). Without it that read walks every
    # run of the window (83 ms for 1,000 jobs at a million runs; 0.1 ms with it). Only
    # bad runs are in it: about 6 bytes a run, and a write only when one ends badly.
    (
        f"""
        CREATE INDEX runs_ended_badly ON runs (finished_at) WHERE status IN {ENDED_BADLY}
        """,
    ),
    # 7: each job's runs that ended, by status, and their durations, kept as they end
    # (issue 14: `cronplus metrics`). Counting them from `runs` walked a million runs
    # (2.3 s); this is a row per job and status. Likewise its last 100 durations, one
    # row a job (reading them from `runs` took 0.36 s at 1,000 jobs). The database
    # keeps both, with each write that ends a run (any path: finish, settle, a final
    # claim, a reopen), so no caller can forget them, and deleting runs (retention)
    # never lowers them.
    (
        """
        CREATE TABLE run_totals (
            job              TEXT    NOT NULL,
            status           TEXT    NOT NULL,  -- a final status
            runs             INTEGER NOT NULL,  -- times a run of the job ended with it
            timed            INTEGER NOT NULL,  -- of those, the ones that had an attempt
            timed_us         INTEGER NOT NULL,  -- their durations summed, in microseconds
            last_finished_at TEXT    NOT NULL,  -- the latest end
            PRIMARY KEY (job, status)
        ) WITHOUT ROWID
        """,
        f"""
        INSERT INTO run_totals (job, status, runs, timed, timed_us, last_finished_at)
        SELECT job, status, COUNT(*), COUNT(started_at), COALESCE(SUM({_duration_us("")}), 0),
               MAX(finished_at)
        FROM runs WHERE status IN {FINAL} AND finished_at IS NOT NULL GROUP BY job, status
        """,
        """
        CREATE TABLE run_recent (
            job          TEXT    PRIMARY KEY,
            kept         INTEGER NOT NULL,  -- how many durations_us holds
            durations_us TEXT    NOT NULL   -- the latest ends' durations, oldest first: "12,7"
        ) WITHOUT ROWID
        """,
        f"""
        INSERT INTO run_recent (job, kept, durations_us)
        SELECT job, COUNT(*), group_concat(us, ',') FROM (
            SELECT job, us FROM (
                SELECT job, finished_at, id, {_duration_us("")} AS us, ROW_NUMBER()
                    OVER (PARTITION BY job ORDER BY finished_at DESC, id DESC) AS newest
                FROM runs WHERE status IN {FINAL} AND started_at IS NOT NULL
                    AND finished_at IS NOT NULL
            ) WHERE newest <= {RECENT_KEPT} ORDER BY job, finished_at, id
        ) GROUP BY job
        """,
        f"""
        CREATE TRIGGER run_totals_on_insert AFTER INSERT ON runs
        WHEN NEW.status IN {FINAL} AND NEW.finished_at IS NOT NULL
        BEGIN {_COUNT_THE_END} END
        """,
        f"""
        -- a run ends: its status becomes final, or a final run gets a new end (a reopen)
        CREATE TRIGGER run_totals_on_end AFTER UPDATE OF status, finished_at ON runs
        WHEN NEW.status IN {FINAL} AND NEW.finished_at IS NOT NULL
            AND (OLD.status NOT IN {FINAL} OR NEW.finished_at IS NOT OLD.finished_at)
        BEGIN {_COUNT_THE_END} END
        """,
    ),
    # 8: retention (issue 14): each job's newest logical time whose run was pruned, so
    # `status --on` shows its fire times up to it as pruned, not as passed with no run.
    # No trigger fires on DELETE FROM runs: pruning leaves run_totals and run_recent.
    (
        """
        CREATE TABLE pruned (
            job     TEXT PRIMARY KEY,
            through TEXT NOT NULL  -- the newest logical time of a run pruned, UTC text
        ) WITHOUT ROWID
        """,
    ),
    # 9: pools (issue 15): the slots each run's attempt holds, and the runs waiting for
    # them, across every process on the state. A run has at most one row in each: a
    # waiting run moves from pool_waiting to pool_slots in one transaction.
    (
        """
        CREATE TABLE pool_slots (
            run_id        INTEGER PRIMARY KEY,  -- the run whose attempt holds them
            pool          TEXT    NOT NULL,
            slots         INTEGER NOT NULL,
            job           TEXT    NOT NULL,
            logical_time  TEXT    NOT NULL,
            attempt       INTEGER NOT NULL,     -- the attempt they were taken for
            host          TEXT    NOT NULL,     -- the cronplus process that took them
            pid           INTEGER NOT NULL,
            since         TEXT    NOT NULL,
            boot_id       TEXT,                 -- with start_ticks, the process the pid
            start_ticks   INTEGER               -- was (pids are reused); NULL: unknown
        )
        """,
        "CREATE INDEX pool_slots_pool ON pool_slots (pool)",
        """
        CREATE TABLE pool_waiting (
            run_id        INTEGER PRIMARY KEY,
            pool          TEXT    NOT NULL,
            slots         INTEGER NOT NULL,
            job           TEXT    NOT NULL,
            logical_time  TEXT    NOT NULL,     -- the line: oldest logical time first,
            attempt       INTEGER NOT NULL,     -- then claim order (run_id)
            host          TEXT    NOT NULL,
            pid           INTEGER NOT NULL,
            since         TEXT    NOT NULL,
            boot_id       TEXT,                 -- as in pool_slots
            start_ticks   INTEGER
        )
        """,
        "CREATE INDEX pool_waiting_line ON pool_waiting (pool, logical_time, run_id)",
    ),
    # 10: deadlines (issue 15): per job, the newest logical time whose missed deadline
    # was alerted, so each is alerted once, across restarts and crashes.
    ("CREATE TABLE deadline_alerted (job TEXT PRIMARY KEY, through TEXT NOT NULL)",),
    # 11: for_each (issue 16): a run's items, fixed once computed (item_lists has the
    # run's row even for an empty list), and each item's attempts. Attempts of items
    # have a table of their own: a run's `attempts` and every read of them stay as
    # they were. Pruning a run deletes them with it.
    (
        """
        CREATE TABLE item_lists (
            run_id     INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
            count      INTEGER NOT NULL
        )
        """,
        """
        CREATE TABLE items (
            run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            item_index INTEGER NOT NULL,  -- from 0, in the order of the lines
            item       TEXT    NOT NULL,
            status     TEXT    NOT NULL,  -- queued, running, or its last attempt's
            reason     TEXT,
            exit_code  INTEGER,
            attempts   INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, item_index)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE item_attempts (
            run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            item_index  INTEGER NOT NULL,
            number      INTEGER NOT NULL,
            started_at  TEXT    NOT NULL,
            finished_at TEXT,
            exit_code   INTEGER,
            signal      TEXT,
            log         TEXT,
            PRIMARY KEY (run_id, item_index, number)
        ) WITHOUT ROWID
        """,
    ),
    # 12: watch (issue 16): the file version each file run was made for. Its unique key
    # runs a version at most once, whoever sees it; kept when retention prunes the run,
    # so a pruned run's file is not taken for a new one.
    (
        """
        CREATE TABLE run_files (
            run_id    INTEGER PRIMARY KEY,
            job       TEXT NOT NULL,
            path      TEXT NOT NULL,
            size      INTEGER NOT NULL,
            mtime_ns  INTEGER NOT NULL,
            inode     INTEGER NOT NULL,
            UNIQUE (job, path, inode, size, mtime_ns)
        )
        """,
    ),
    # 13: pools per item attempt (issue 16): each item of a for_each run holds slots
    # of its own (item = its index; -1: a run without items), so items go at once as
    # item_parallel and the pool allow. The pool tables are made anew with that key.
    (
        """
        CREATE TABLE pool_slots_12 (
            run_id        INTEGER NOT NULL,
            item          INTEGER NOT NULL DEFAULT -1,
            pool          TEXT    NOT NULL,
            slots         INTEGER NOT NULL,
            job           TEXT    NOT NULL,
            logical_time  TEXT    NOT NULL,
            attempt       INTEGER NOT NULL,
            host          TEXT    NOT NULL,
            pid           INTEGER NOT NULL,
            since         TEXT    NOT NULL,
            boot_id       TEXT,
            start_ticks   INTEGER,
            PRIMARY KEY (run_id, item)
        )
        """,
        "INSERT INTO pool_slots_12 (run_id, pool, slots, job, logical_time, attempt, host,"
        " pid, since, boot_id, start_ticks) SELECT run_id, pool, slots, job, logical_time,"
        " attempt, host, pid, since, boot_id, start_ticks FROM pool_slots",
        "DROP TABLE pool_slots",
        "ALTER TABLE pool_slots_12 RENAME TO pool_slots",
        "CREATE INDEX pool_slots_pool ON pool_slots (pool)",
        """
        CREATE TABLE pool_waiting_12 (
            run_id        INTEGER NOT NULL,
            item          INTEGER NOT NULL DEFAULT -1,
            pool          TEXT    NOT NULL,
            slots         INTEGER NOT NULL,
            job           TEXT    NOT NULL,
            logical_time  TEXT    NOT NULL,
            attempt       INTEGER NOT NULL,
            host          TEXT    NOT NULL,
            pid           INTEGER NOT NULL,
            since         TEXT    NOT NULL,
            boot_id       TEXT,
            start_ticks   INTEGER,
            PRIMARY KEY (run_id, item)
        )
        """,
        "INSERT INTO pool_waiting_12 (run_id, pool, slots, job, logical_time, attempt, host,"
        " pid, since, boot_id, start_ticks) SELECT run_id, pool, slots, job, logical_time,"
        " attempt, host, pid, since, boot_id, start_ticks FROM pool_waiting",
        "DROP TABLE pool_waiting",
        "ALTER TABLE pool_waiting_12 RENAME TO pool_waiting",
        "CREATE INDEX pool_waiting_line ON pool_waiting (pool, logical_time, run_id, item)",
    ),
    # 14: several hosts (issue 17). Each run's owner is named by host as well as pid
    # (`CRONPLUS_HOST`), each attempt records the host that executed it and the last
    # 64 KiB of its output (the log file stays on that host), and `processes` lists
    # the cronplus processes executing runs with their heartbeat: a daemon whose
    # heartbeat is older than its lease is dead. One daemon per host name.
    # `job_owners`: which daemon fires each scheduled job, and up to when it has.
    (
        "ALTER TABLE runs ADD COLUMN owner_host TEXT",
        "ALTER TABLE attempts ADD COLUMN host TEXT",
        "ALTER TABLE attempts ADD COLUMN tail TEXT",
        "ALTER TABLE item_attempts ADD COLUMN host TEXT",
        PROCESSES_TABLE.format(T="TEXT", T_=""),
        PROCESSES_INDEX.format(T_=""),
        JOB_OWNERS_TABLE.format(T="TEXT", T_=""),
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, where: str) -> None:
    """Bring the schema to SCHEMA_VERSION, or refuse a newer one."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state at {where} was written by a newer cronplus (schema {version}; "
            f"this one knows {SCHEMA_VERSION}): upgrade cronplus"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
