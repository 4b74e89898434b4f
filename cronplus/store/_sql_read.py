"""The store's reads of runs and attempts, and rows turned into model objects:
`RunReads`, which `SqlStore` (`_sql.py`, the writes) extends. Written once for any
SQL backend, as `_sql.py` is (see its docstring for the SQL both share)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from cronplus.model import Attempt, Run, RunFile, RunStatus, Trigger
from cronplus.store._db import Db, Row, from_db, marks, to_db
from cronplus.store._sql_side import SideTablesSql
from cronplus.store.schema import ENDED_BADLY

RUN_COLUMNS = "id, job, scheduled_for, trigger, status, reason, created_at, started_at, finished_at"
_RUNS_COLUMNS = ", ".join(f"runs.{c} AS {c}" for c in RUN_COLUMNS.split(", "))
_ATTEMPT_COLUMNS = (
    "run_id, number, started_at, finished_at, exit_code, signal, log, pid, trigger, host"
)
_OWN_OUTCOMES = "('succeeded', 'failed', 'timed_out')"  # not what others did to a run
_FINISHED = "('succeeded', 'failed', 'timed_out', 'upstream_failed', 'interrupted')"
_FINISHED_SET = frozenset(_FINISHED.strip("()").replace("'", "").split(", "))
_UNFINISHED = "('queued', 'running')"
_CHUNK = 500  # ids per IN list, under SQLite's variable limit
_JOBS_CHUNK = 5_000  # jobs per `latest_runs` query, under SQLite's 32,766 variables


class RunTotal(NamedTuple):
    """How often a job's runs ended with one final status (`Store.run_totals`)."""

    runs: int
    timed: int  # of those, the runs that had an attempt
    timed_s: float  # their durations summed
    last_finished_at: datetime


class RunReads(SideTablesSql):
    """The reads of the `Store` contract on runs and attempts (each one read)."""

    _db: Db

    def get_run(self, run_id: int) -> Run | None:
        return self._first(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))

    def find_run(self, job: str, scheduled_for: datetime) -> Run | None:
        return self._first(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE job = ? AND scheduled_for = ?",
            (job, to_db(scheduled_for)),
        )

    def latest_run(self, job: str, *, finished_only: bool = False) -> Run | None:
        where = f"status IN {_FINISHED}" if finished_only else "1 = 1"
        return self._first(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE job = ? AND {where}"
            " ORDER BY scheduled_for DESC LIMIT 1",
            (job,),
        )

    def latest_runs(self, jobs: Iterable[str]) -> dict[str, tuple[Run, Run | None]]:
        names = list(dict.fromkeys(jobs))
        out = {run.job: (run, run) for run in self._newest_of(names, "")}
        # The newest run is mostly over: only the jobs whose newest is not ask again.
        going = [job for job, (last, _) in out.items() if last.status.value not in _FINISHED_SET]
        out.update((job, (out[job][0], None)) for job in going)
        for done in self._newest_of(going, f" AND status IN {_FINISHED}"):
            out[done.job] = (out[done.job][0], done)
        return out

    def _newest_of(self, names: list[str], where: str) -> list[Run]:
        """Each job's newest run (by logical time) that matches `where`, in one query
        per 5,000 jobs: an index probe a job, not a scan of their runs."""
        found: list[Run] = []
        newest = f"SELECT id FROM runs WHERE runs.job = asked.job{where}"
        newest += " ORDER BY scheduled_for DESC LIMIT 1"
        for i in range(0, len(names), _JOBS_CHUNK):
            chunk = names[i : i + _JOBS_CHUNK]
            found += self._runs(
                f"WITH asked (job) AS (VALUES {', '.join(['(?)'] * len(chunk))})"
                f" SELECT {RUN_COLUMNS} FROM runs WHERE id IN (SELECT ({newest}) FROM asked)",
                chunk,
            )
        return found

    def latest_started(self, job: str) -> Run | None:
        return self._first(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE job = ?"
            " AND EXISTS (SELECT 1 FROM attempts WHERE run_id = runs.id)"
            " ORDER BY scheduled_for DESC, id DESC LIMIT 1",
            (job,),
        )

    def runs_between(self, job: str, start: datetime, end: datetime) -> list[Run]:
        return self._runs(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE job = ? AND scheduled_for >= ?"
            " AND scheduled_for < ? ORDER BY scheduled_for",
            (job, to_db(start), to_db(end)),
        )

    def runs_between_of(self, jobs: Iterable[str], start: datetime, end: datetime) -> list[Run]:
        names = list(dict.fromkeys(jobs))
        found: list[Run] = []
        for i in range(0, len(names), _JOBS_CHUNK):
            chunk = names[i : i + _JOBS_CHUNK]
            found += [
                _run(r, ())
                for r in self._db.rows(
                    f"SELECT {RUN_COLUMNS} FROM runs WHERE job IN ({marks(len(chunk))})"
                    " AND scheduled_for >= ? AND scheduled_for < ? ORDER BY job, scheduled_for",
                    (*chunk, to_db(start), to_db(end)),
                )
            ]
        return found

    def ended_badly(self, since: datetime, limit: int) -> list[Run]:
        # The status test is the partial index's own (schema 6), so the index serves it.
        return self._runs(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE status IN {ENDED_BADLY}"
            " AND finished_at >= ? ORDER BY finished_at DESC, id DESC LIMIT ?",
            (to_db(since), limit),
        )

    def history(
        self,
        job: str,
        limit: int | None = None,
        *,
        status: RunStatus | None = None,
        trigger: Trigger | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Run]:
        where, args = "job = ?", [job]
        for clause, value in (
            (" AND status = ?", status and str(status)),
            (" AND trigger = ?", trigger and str(trigger)),
            (" AND scheduled_for >= ?", start and to_db(start)),
            (" AND scheduled_for < ?", end and to_db(end)),
        ):
            if value is not None:
                where, args = where + clause, [*args, value]
        sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE {where} ORDER BY scheduled_for DESC, id DESC"
        if limit is None:
            return self._runs(sql, args)
        return self._runs(sql + " LIMIT ?", [*args, limit])

    def history_of(
        self,
        bounds: Mapping[str, tuple[datetime | None, datetime | None]],
        limit: int | None = None,
        *,
        statuses: Collection[RunStatus] = (),
        triggers: Collection[Trigger] = (),
    ) -> list[Run]:
        found: list[Run] = []
        names = list(bounds)
        for i in range(0, len(names), _JOBS_CHUNK // 2):
            chunk = names[i : i + _JOBS_CHUNK // 2]
            args: list[object] = []
            for job in chunk:
                start, end = bounds[job]
                args += [job, to_db(start) if start else "", to_db(end) if end else "~"]
            where = "".join(
                f" AND runs.{column} IN ({marks(len(words))})"
                for column, words in (("status", statuses), ("trigger", triggers))
                if words
            )
            args += [str(w) for w in (*statuses, *triggers)]
            # The (job, logical time) key answers each job's range: a probe a job.
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            sql = (
                f"WITH asked (job, since, until) AS (VALUES {values})"
                f" SELECT {_RUNS_COLUMNS} FROM asked JOIN runs ON runs.job = asked.job"
                " AND runs.scheduled_for >= asked.since AND runs.scheduled_for < asked.until"
                f"{where} ORDER BY runs.scheduled_for DESC, runs.id DESC"
            )
            if limit is not None:
                sql, args = sql + " LIMIT ?", [*args, limit]
            found += self._runs(sql, args)
        found.sort(key=lambda r: (r.scheduled_for, r.id), reverse=True)
        return found if limit is None else found[:limit]

    def unfinished_runs(self) -> list[Run]:
        return self._runs(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE status IN {_UNFINISHED} ORDER BY id"
        )

    def succeeded_jobs(self, jobs: Iterable[str], scheduled_for: datetime) -> set[str]:
        names = list(jobs)
        if not names:
            return set()
        rows = self._db.rows(
            "SELECT job FROM runs WHERE scheduled_for = ? AND status = 'succeeded'"
            f" AND job IN ({marks(len(names))})",
            (to_db(scheduled_for), *names),
        )
        return {r["job"] for r in rows}

    def previous_final(self, job: str, run_id: int) -> Run | None:
        return self._first(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE job = ? AND id != ?"
            f" AND status IN {_OWN_OUTCOMES}"
            " AND scheduled_for <= (SELECT scheduled_for FROM runs WHERE id = ?)"
            " ORDER BY scheduled_for DESC, id DESC LIMIT 1",
            (job, run_id, run_id),
        )

    def latest_scheduled(self, job: str) -> datetime | None:
        # Newest first, not MAX(): MAX with the trigger test reads all the job's runs.
        rows = self._db.rows(
            "SELECT scheduled_for AS latest FROM runs"
            " WHERE job = ? AND trigger IN ('schedule', 'catchup')"
            " ORDER BY scheduled_for DESC LIMIT 1",
            (job,),
        )
        return from_db(rows[0]["latest"]) if rows else None

    def run_totals(self, jobs: Iterable[str]) -> dict[str, dict[RunStatus, RunTotal]]:
        wanted = set(jobs)
        out: dict[str, dict[RunStatus, RunTotal]] = {}
        # A row per job and status: read them all, it is smaller than any job list.
        for r in self._db.rows(
            "SELECT job, status, runs, timed, timed_us, last_finished_at FROM run_totals"
        ):
            if r["job"] in wanted:
                out.setdefault(r["job"], {})[_STATUSES[r["status"]]] = RunTotal(
                    r["runs"], r["timed"], r["timed_us"] / 1e6, from_db(r["last_finished_at"])
                )
        return out

    def recent_durations(self, jobs: Iterable[str]) -> dict[str, list[float]]:
        import json  # not at the top: a piped `status` imports this module (issue 12)

        wanted = set(jobs)
        # json reads "12,7" as a list of ints in C, quicker than int() on each part.
        return {
            r["job"]: [us / 1e6 for us in json.loads(f"[{r['durations_us']}]")]
            for r in self._db.rows("SELECT job, durations_us FROM run_recent")
            if r["job"] in wanted
        }

    def _first(self, sql: str, args: Sequence[object]) -> Run | None:
        runs = self._runs(sql, args)
        return runs[0] if runs else None

    def _runs(self, sql: str, args: Sequence[object] = ()) -> list[Run]:
        rows = self._db.rows(sql, args)
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        # Attempts made before schema 2 have no trigger; only the run's could make them.
        run_trigger = {r["id"]: r["trigger"] for r in rows}
        attempts: dict[int, list[Attempt]] = {i: [] for i in ids}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            for a in self._db.rows(
                f"SELECT {_ATTEMPT_COLUMNS} FROM attempts"
                f" WHERE run_id IN ({marks(len(chunk))}) ORDER BY run_id, number",
                chunk,
            ):
                attempts[a["run_id"]].append(_attempt(a, run_trigger[a["run_id"]]))
        files = self._files_of([i for i in ids if run_trigger[i] in _MAY_HAVE_FILE])
        return [_run(r, tuple(attempts[r["id"]]), files.get(r["id"])) for r in rows]

    def _files_of(self, ids: list[int]) -> dict[int, RunFile]:
        """The file versions of those of `ids` that have one (schema 11, issue 16)."""
        found = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            for r in self._db.rows(
                "SELECT run_id, path, size, mtime_ns, inode FROM run_files"
                f" WHERE run_id IN ({marks(len(chunk))})",
                chunk,
            ):
                found[r["run_id"]] = RunFile(r["path"], r["size"], r["mtime_ns"], r["inode"])
        return found


# A member by its stored value: a dict read is ten times quicker than calling the enum,
# and status reads a run per job (issue 12: 10,000 jobs).
_STATUSES = {s.value: s for s in RunStatus}
_TRIGGERS = {t.value: t for t in Trigger}


_MAY_HAVE_FILE = ("file", "manual")  # a file run, or `trigger --file`'s


def _run(r: Row, attempts: tuple[Attempt, ...], file: RunFile | None = None) -> Run:
    return Run(
        id=r["id"],
        job=r["job"],
        scheduled_for=from_db(r["scheduled_for"]),
        trigger=_TRIGGERS[r["trigger"]],
        status=_STATUSES[r["status"]],
        reason=r["reason"],
        created_at=from_db(r["created_at"]),
        started_at=from_db(r["started_at"]),
        finished_at=from_db(r["finished_at"]),
        attempts=attempts,
        file=file,
    )


def _attempt(a: Row, run_trigger: str) -> Attempt:
    return Attempt(
        number=a["number"],
        started_at=from_db(a["started_at"]),
        finished_at=from_db(a["finished_at"]),
        exit_code=a["exit_code"],
        signal=a["signal"],
        log=a["log"],
        pid=a["pid"],
        trigger=_TRIGGERS[a["trigger"] or run_trigger],
        host=a["host"],
    )
