"""The SQLite store: connection, PRAGMAs and every query.

One connection per store, shared by the daemon's threads under a lock; other
processes (`status`, `trigger`) open their own and meet it through WAL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cronplus.errors import StateError
from cronplus.model import AlertRecord, Attempt, AttemptResult, Run, RunStatus, Trigger
from cronplus.store.schema import SCHEMA_VERSION, migrate

_BUSY_S = 10.0  # how long a process waits for another one's write lock

_RUN_COLUMNS = (
    "id, job, scheduled_for, trigger, status, reason, created_at, started_at, finished_at"
)


def to_db(t: datetime) -> str:
    """UTC with fixed width, so that text order in SQL is time order."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db(s: str | None) -> datetime | None:
    if s is None:
        return None
    # fromisoformat reads the trailing Z (3.11+) and is ~30x quicker than strptime.
    return datetime.fromisoformat(s)


def _pragmas(conn: sqlite3.Connection) -> None:
    # WAL: the daemon writes while `status`, `trigger` and `backfill` read and write.
    # Switching a new file to WAL needs it alone, and SQLite answers "locked" at once
    # (no busy handler) while another process is opening it too: wait for it here.
    deadline = time.monotonic() + _BUSY_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
    # Another process holding the write lock makes us wait, not fail (writes are tiny).
    conn.execute("PRAGMA busy_timeout = 10000")
    # NORMAL in WAL mode: a commit survives the crash of any process (the daemon being
    # SIGKILLed included); only a power loss can drop the last commits, never corrupt.
    # FULL would fsync before every job start and cost milliseconds of start lateness.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


def _open_readonly(where: str) -> tuple[sqlite3.Connection, bool]:
    """A connection that never writes. SQLite needs the WAL's shared-memory file to
    read a WAL database; where it cannot make one (a read-only folder) and no WAL
    exists, the main file alone holds every commit, and `immutable` reads it so,
    without locks (True in the answer)."""
    from urllib.parse import quote

    uri = f"file:{quote(where)}"
    unlocked = False
    try:
        conn = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout = 10000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.OperationalError as e:
        if os.path.exists(where + "-wal"):
            raise StateError(
                f"cannot read the state at {where} ({e}): it is read-only here, and the "
                "commits in its write-ahead log need a shared-memory file this user "
                "cannot make; read it as its owner, or once its daemon has stopped"
            ) from e
        conn = sqlite3.connect(
            f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )
        unlocked = True
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        if version > SCHEMA_VERSION:
            migrate(conn, where)  # raises: written by a newer cronplus
        conn.close()
        raise OlderStateError(where, version)
    return conn, unlocked


class OlderStateError(StateError):
    """A read-only open met a state an older cronplus wrote; reading it needs an upgrade."""

    def __init__(self, where: str, version: int) -> None:
        self.version = version
        super().__init__(
            f"state at {where} was written by an older cronplus (schema {version}); "
            "it is upgraded when the daemon (cronplus run) or a command that writes "
            "opens it as its owner"
        )


def _create_owner_only(path: Path | str) -> None:
    """Create the database file owner-only before SQLite does: job output and reasons
    may hold secrets. Never open an existing one here: closing any descriptor of a
    file drops every POSIX lock this process holds on it, the locks SQLite's other
    connections in this process rely on."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first
    os.close(fd)


def _unusable(where: str, e: sqlite3.DatabaseError, *, unlocked: bool = False) -> str:
    """The one-line error for a state database SQLite refuses, with what to do.
    `unlocked`: it was read without locks (read-only, no WAL), so a write by its owner
    meanwhile, not damage, is the likely cause."""
    text = str(e)
    if unlocked:
        return (
            f"the state database {where} changed while it was read ({text}); it is "
            "read-only here and read without locks: try again"
        )
    if "not a database" in text or "malformed" in text:
        return (
            f"the state database {where} is damaged ({text}): move it away to start with "
            f"an empty state, or try `sqlite3 {where} .recover | sqlite3 recovered.db`"
        )
    return f"cannot use the state database {where}: {text}"


class SqliteStore:
    """Runs and attempts in one SQLite file. Each public method is one transaction."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        """Open (and migrate) the state database. `readonly` opens it without writing
        anything, for read commands on a state the caller may not write (another
        user's, a read-only mount); it refuses a schema it cannot read."""
        self.where = str(path)
        self.readonly = readonly
        self._unlocked = False
        try:
            if readonly:
                self._conn, self._unlocked = _open_readonly(self.where)
            else:
                if path != ":memory:" and not os.path.exists(path):
                    _create_owner_only(path)
                self._conn = sqlite3.connect(
                    path, isolation_level=None, check_same_thread=False, timeout=10.0
                )
                _pragmas(self._conn)
                migrate(self._conn, self.where)
        except sqlite3.DatabaseError as e:
            raise StateError(_unusable(self.where, e, unlocked=self._unlocked)) from e
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._unusable_is_a_state_error():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        with self._lock, self._unusable_is_a_state_error():
            return self._conn.execute(sql, args).fetchall()

    @contextmanager
    def _unusable_is_a_state_error(self) -> Iterator[None]:
        """A database locked past busy_timeout, a full disk or a read-only file is the
        environment's fault: say so in one line instead of a traceback."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            raise StateError(_unusable(self.where, e, unlocked=self._unlocked)) from e

    # -- writes -------------------------------------------------------------------------

    def claim_run(
        self,
        job: str,
        scheduled_for: datetime,
        trigger: Trigger,
        *,
        status: RunStatus = RunStatus.QUEUED,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> Run | None:
        """Record the run for (job, scheduled_for), or return None if one exists already.

        The unique key makes the database the arbiter: of a daemon and a concurrent
        `trigger` or `backfill`, exactly one gets the run. A final `status`
        (skipped, upstream_failed) records a run that will not execute.
        """
        now = now or datetime.now(UTC)
        finished = to_db(now) if status.is_final else None
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO runs (job, scheduled_for, trigger, status, reason, created_at,"
                " finished_at, owner_pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (job, scheduled_for) DO NOTHING",
                (
                    job,
                    to_db(scheduled_for),
                    str(trigger),
                    str(status),
                    reason,
                    to_db(now),
                    finished,
                    None if status.is_final else os.getpid(),
                ),
            )
            if cur.rowcount != 1:
                return None
            run_id = cur.lastrowid
        return Run(
            id=run_id,
            job=job,
            scheduled_for=scheduled_for.astimezone(UTC),
            trigger=trigger,
            status=status,
            reason=reason,
            created_at=now,
            finished_at=now if status.is_final else None,
        )

    def begin_attempt(
        self,
        run_id: int,
        number: int,
        started_at: datetime,
        log: str,
        trigger: Trigger | None = None,
    ) -> None:
        """Written before the process starts, so a crash leaves a trace of the attempt.

        `trigger` is who executes this attempt, when not the run's own trigger (a
        backfill re-running a scheduled run)."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO attempts (run_id, number, started_at, log, trigger)"
                " VALUES (?, ?, ?, ?, COALESCE(?, (SELECT trigger FROM runs WHERE id = ?)))",
                (run_id, number, to_db(started_at), log, trigger and str(trigger), run_id),
            )
            c.execute(
                "UPDATE runs SET status = 'running', attempts = ?, reason = NULL,"
                " started_at = COALESCE(started_at, ?), owner_pid = ? WHERE id = ?",
                (number, to_db(started_at), os.getpid(), run_id),
            )

    def set_attempt_pid(self, run_id: int, number: int, pid: int) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE attempts SET pid = ? WHERE run_id = ? AND number = ?",
                (pid, run_id, number),
            )

    def finish_attempt(
        self, run_id: int, number: int, result: AttemptResult, *, waiting: str | None = None
    ) -> None:
        """Record an attempt's end; `waiting` keeps the run `running` with that reason
        while it waits for its next retry."""
        with self._tx() as c:
            self._finish_attempt(c, run_id, number, result)
            if waiting is not None:
                c.execute("UPDATE runs SET reason = ? WHERE id = ?", (waiting, run_id))

    @staticmethod
    def _finish_attempt(
        c: sqlite3.Connection, run_id: int, number: int, result: AttemptResult
    ) -> None:
        c.execute(
            "UPDATE attempts SET started_at = ?, finished_at = ?, exit_code = ?, signal = ?,"
            " counted = ? WHERE run_id = ? AND number = ?",
            (
                to_db(result.started_at),
                to_db(result.finished_at),
                result.exit_code,
                result.signal,
                0 if result.status is RunStatus.INTERRUPTED else 1,
                run_id,
                number,
            ),
        )

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        reason: str | None,
        finished_at: datetime,
        *,
        last_attempt: tuple[int, AttemptResult] | None = None,
        resume_spent: int | None = None,
        release: bool = False,
    ) -> None:
        """Record a run's end, with its `last_attempt`'s end in the same transaction.
        `resume_spent`: a daemon's stop cut it short; its next start runs it again,
        with that many attempts counted against the retries. `release`: its
        dependents are still to be released (see `released`)."""
        with self._tx() as c:
            if release:
                c.execute("INSERT OR IGNORE INTO release (run_id) VALUES (?)", (run_id,))
            if last_attempt is not None:
                self._finish_attempt(c, run_id, *last_attempt)
            if resume_spent is not None:
                c.execute(
                    "INSERT OR REPLACE INTO resume (run_id, spent) VALUES (?, ?)",
                    (run_id, resume_spent),
                )
            c.execute(
                "UPDATE runs SET status = ?, reason = ?, finished_at = ?, owner_pid = NULL"
                " WHERE id = ?",
                (
                    str(status),
                    None if status is RunStatus.SUCCEEDED else reason,
                    to_db(finished_at),
                    run_id,
                ),
            )

    def settle_run(
        self,
        run_id: int,
        *,
        owner: int | None,
        attempts: int,
        status: RunStatus,
        reason: str | None,
        finished_at: datetime,
        last_attempt: tuple[int, AttemptResult] | None = None,
        drop_last_attempt: bool = False,
        resume_spent: int | None = None,
    ) -> bool:
        """Give an orphaned run its final status, only if it is still as the caller saw
        it: unfinished, owned by `owner`, with `attempts` attempts. False if another
        process settled, reopened or ran it meanwhile.

        `drop_last_attempt`: its last attempt was recorded but never started (the
        process that was starting it died first), so it is not kept. `resume_spent`:
        as for `finish_run`."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE runs SET status = ?, reason = ?, finished_at = ?, owner_pid = NULL"
                " WHERE id = ? AND status IN ('queued', 'running') AND owner_pid IS ?"
                " AND attempts = ?",
                (
                    str(status),
                    None if status is RunStatus.SUCCEEDED else reason,
                    to_db(finished_at),
                    run_id,
                    owner,
                    attempts,
                ),
            )
            if cur.rowcount != 1:
                return False
            if last_attempt is not None:
                self._finish_attempt(c, run_id, *last_attempt)
            if drop_last_attempt:
                c.execute(
                    "DELETE FROM attempts WHERE run_id = ? AND number = ?", (run_id, attempts)
                )
                c.execute("UPDATE runs SET attempts = ? WHERE id = ?", (attempts - 1, run_id))
            if resume_spent is not None:
                c.execute(
                    "INSERT OR REPLACE INTO resume (run_id, spent) VALUES (?, ?)",
                    (run_id, resume_spent),
                )
        return True

    def take_run(self, run_id: int, *, owner: int | None, attempts: int) -> bool:
        """Become the owner of an orphaned run whose attempt is still going (or ended
        unrecorded), only if it is still as the caller saw it."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE runs SET owner_pid = ? WHERE id = ? AND status IN ('queued', 'running')"
                " AND owner_pid IS ? AND attempts = ?",
                (os.getpid(), run_id, owner, attempts),
            )
            return cur.rowcount == 1

    def spent_attempts(self, run_id: int) -> int:
        """A run's ended attempts that count against its job's retries: all but those
        cronplus cut short by a stop or lost in a crash."""
        rows = self._read(
            "SELECT count(*) FROM attempts WHERE run_id = ? AND finished_at IS NOT NULL"
            " AND counted = 1",
            (run_id,),
        )
        return rows[0][0]

    def resumable(self) -> list[tuple[int, int]]:
        """(run id, attempts spent) of the runs a daemon's stop or crash cut short."""
        return [(r, s) for r, s in self._read("SELECT run_id, spent FROM resume ORDER BY run_id")]

    def released(self, run_id: int) -> None:
        """The run's dependents are started or recorded: a crash now loses none."""
        with self._tx() as c:
            c.execute("DELETE FROM release WHERE run_id = ?", (run_id,))

    def unreleased(self) -> list[int]:
        return [r for (r,) in self._read("SELECT run_id FROM release ORDER BY run_id")]

    def drop_resume(self, run_id: int) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM resume WHERE run_id = ?", (run_id,))

    def reopen_run(
        self,
        run_id: int,
        allowed: Iterable[RunStatus],
        *,
        status: RunStatus = RunStatus.QUEUED,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> Run | None:
        """Take a recorded run in one of the `allowed` statuses to run it again (queued,
        owned by this process) or to give it a final `status`; None if it is not in one
        of them any more (someone else took it first). Its attempts are kept."""
        now = now or datetime.now(UTC)
        names = [str(s) for s in allowed]
        if not names:
            return None
        final = status.is_final
        with self._tx() as c:
            cur = c.execute(
                # started_at restarts with the next attempt: a run's duration is that of
                # its latest execution, not the week since its first one.
                "UPDATE runs SET status = ?, reason = ?, started_at = NULL, finished_at = ?,"
                f" owner_pid = ? WHERE id = ? AND status IN ({','.join('?' * len(names))})",
                (
                    str(status),
                    reason,
                    to_db(now) if final else None,
                    None if final else os.getpid(),
                    run_id,
                    *names,
                ),
            )
            if cur.rowcount != 1:
                return None
            # Taken to run again (or settled): no longer waiting to be resumed.
            c.execute("DELETE FROM resume WHERE run_id = ?", (run_id,))
        return self.get_run(run_id)

    # -- alerts -------------------------------------------------------------------------

    def hold_or_send(
        self, job: str, kind: str, now: datetime, repeat_after: timedelta
    ) -> tuple[int, datetime | None] | None:
        """Decide, in one transaction, whether `job` alerts now for a `kind` of trouble.

        None: an alert went out less than `repeat_after` ago, so this one is held and
        counted. Otherwise (held count, held since) to fold into the message, and the
        count starts again.
        """
        with self._tx() as c:
            row = c.execute(
                "SELECT last_sent, held, held_since FROM alert_holds WHERE job = ? AND kind = ?",
                (job, kind),
            ).fetchone()
            last = from_db(row[0]) if row else None
            if last is not None and now - last < repeat_after:
                c.execute(
                    "UPDATE alert_holds SET held = held + 1,"
                    " held_since = COALESCE(held_since, ?) WHERE job = ? AND kind = ?",
                    (to_db(now), job, kind),
                )
                return None
            c.execute(
                "INSERT INTO alert_holds (job, kind, last_sent, held, held_since)"
                " VALUES (?, ?, ?, 0, NULL) ON CONFLICT (job, kind) DO UPDATE SET"
                " last_sent = excluded.last_sent, held = 0, held_since = NULL",
                (job, kind, to_db(now)),
            )
            return (row[1], from_db(row[2])) if row else (0, None)

    def clear_holds(self, job: str, kind: str) -> tuple[int, datetime | None]:
        """The job is well again: forget its held count; return what was held."""
        with self._tx() as c:
            row = c.execute(
                "SELECT held, held_since FROM alert_holds WHERE job = ? AND kind = ?", (job, kind)
            ).fetchone()
            c.execute("DELETE FROM alert_holds WHERE job = ? AND kind = ?", (job, kind))
        return (row[0], from_db(row[1])) if row else (0, None)

    def record_alert(
        self,
        time: datetime,
        event: str,
        job: str | None,
        run_id: int | None,
        channel: str,
        sent: bool,
        error: str | None,
    ) -> int:
        """`channel` and `error` must already be redacted."""
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO alerts (time, event, job, run_id, channel, sent, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (to_db(time), event, job, run_id, channel, int(sent), error),
            )
            return int(cur.lastrowid or 0)

    def recent_alerts(self, limit: int) -> list[AlertRecord]:
        rows = self._read(
            "SELECT id, time, event, job, run_id, channel, sent, error FROM alerts"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            AlertRecord(r[0], from_db(r[1]), r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows
        ]

    def previous_final(self, job: str, run_id: int) -> Run | None:
        """The job's own last outcome before `run_id` (succeeded, failed or timed_out; not
        what others did to it: skipped, upstream_failed, interrupted), by logical time."""
        runs = self._runs(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE job = ? AND id != ?"
            " AND status IN ('succeeded', 'failed', 'timed_out')"
            " AND scheduled_for <= (SELECT scheduled_for FROM runs WHERE id = ?)"
            " ORDER BY scheduled_for DESC, id DESC LIMIT 1",
            (job, run_id, run_id),
        )
        return runs[0] if runs else None

    def latest_scheduled(self, job: str) -> datetime | None:
        """The logical time of the job's latest run the schedule (or catch-up) made."""
        rows = self._read(
            "SELECT MAX(scheduled_for) FROM runs"
            " WHERE job = ? AND trigger IN ('schedule', 'catchup')",
            (job,),
        )
        return from_db(rows[0][0]) if rows and rows[0][0] else None

    def pause(self, job: str, now: datetime) -> bool:
        """False if the job was paused already."""
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO paused (job, since) VALUES (?, ?) ON CONFLICT (job) DO NOTHING",
                (job, to_db(now)),
            )
            return cur.rowcount == 1

    def resume(self, job: str) -> bool:
        """False if the job was not paused."""
        with self._tx() as c:
            return c.execute("DELETE FROM paused WHERE job = ?", (job,)).rowcount == 1

    def paused_jobs(self) -> dict[str, datetime]:
        """Paused jobs and since when; one small read, done when something is due."""
        return {r[0]: from_db(r[1]) for r in self._read("SELECT job, since FROM paused")}

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- reads --------------------------------------------------------------------------

    def get_run(self, run_id: int) -> Run | None:
        runs = self._runs(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return runs[0] if runs else None

    def find_run(self, job: str, scheduled_for: datetime) -> Run | None:
        runs = self._runs(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE job = ? AND scheduled_for = ?",
            (job, to_db(scheduled_for)),
        )
        return runs[0] if runs else None

    def succeeded_jobs(self, jobs: Iterable[str], scheduled_for: datetime) -> set[str]:
        """Which of `jobs` have succeeded for this logical time."""
        names = list(jobs)
        if not names:
            return set()
        marks = ",".join("?" * len(names))
        rows = self._read(
            f"SELECT job FROM runs WHERE scheduled_for = ? AND status = 'succeeded'"
            f" AND job IN ({marks})",
            (to_db(scheduled_for), *names),
        )
        return {r[0] for r in rows}

    def latest_run(self, job: str, *, finished_only: bool = False) -> Run | None:
        """The run with the latest logical time; with finished_only, the latest final one
        other than skipped (a skipped fire time must not hide the failure before it)."""
        if finished_only:
            where = "status IN ('succeeded','failed','timed_out','upstream_failed','interrupted')"
        else:
            where = "1"
        runs = self._runs(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE job = ? AND {where}"
            " ORDER BY scheduled_for DESC LIMIT 1",
            (job,),
        )
        return runs[0] if runs else None

    def runs_between(self, job: str, start: datetime, end: datetime) -> list[Run]:
        """Runs of `job` with start <= scheduled_for < end, oldest first."""
        return self._runs(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE job = ? AND scheduled_for >= ?"
            " AND scheduled_for < ? ORDER BY scheduled_for",
            (job, to_db(start), to_db(end)),
        )

    def history(self, job: str, limit: int | None = None) -> list[Run]:
        return self._runs(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE job = ?"
            " ORDER BY scheduled_for DESC, id DESC LIMIT ?",
            (job, -1 if limit is None else limit),
        )

    def unfinished_runs(self) -> list[Run]:
        return self._runs(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN ('queued', 'running') ORDER BY id"
        )

    def owner_of(self, run_id: int) -> int | None:
        rows = self._read("SELECT owner_pid FROM runs WHERE id = ?", (run_id,))
        return rows[0][0] if rows else None

    def _runs(self, sql: str, args: Sequence[object] = ()) -> list[Run]:
        rows = self._read(sql, args)
        if not rows:
            return []
        ids = [r[0] for r in rows]
        # Attempts made before schema 2 have no trigger; only the run's could make them.
        run_trigger = {r[0]: r[3] for r in rows}
        attempts: dict[int, list[Attempt]] = {i: [] for i in ids}
        # Chunked IN lists keep under SQLite's variable limit for long histories.
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for a in self._read(
                "SELECT run_id, number, started_at, finished_at, exit_code, signal, log, pid,"
                " trigger"
                f" FROM attempts WHERE run_id IN ({','.join('?' * len(chunk))})"
                " ORDER BY run_id, number",
                chunk,
            ):
                attempts[a[0]].append(
                    Attempt(
                        number=a[1],
                        started_at=from_db(a[2]),
                        finished_at=from_db(a[3]),
                        exit_code=a[4],
                        signal=a[5],
                        log=a[6],
                        pid=a[7],
                        trigger=Trigger(a[8] or run_trigger[a[0]]),
                    )
                )
        return [
            Run(
                id=r[0],
                job=r[1],
                scheduled_for=from_db(r[2]),
                trigger=Trigger(r[3]),
                status=RunStatus(r[4]),
                reason=r[5],
                created_at=from_db(r[6]),
                started_at=from_db(r[7]),
                finished_at=from_db(r[8]),
                attempts=tuple(attempts[r[0]]),
            )
            for r in rows
        ]
