"""The files of `watch` runs (schema 11, issue 16): a run claimed together with its
file version, each version at most once per job whoever claims it; the versions a job
has seen (the files of runs read: `_sql_read`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from cronplus.model import Claim, Run, RunFile, Trigger
from cronplus.store._db import Db, from_db, to_db
from cronplus.store._sql_claim import claim_row, claimed_run


class FilesSql:
    _db: Db
    host: str

    def claim_file_run(
        self, job: str, scheduled_for: datetime, trigger: Trigger, claim: Claim, file: RunFile
    ) -> Run | None:
        with self._db.tx() as tx:
            if tx.one(
                "SELECT run_id FROM run_files WHERE job = ? AND path = ? AND inode = ?"
                " AND size = ? AND mtime_ns = ?",
                (job, file.path, file.inode, file.size, file.mtime_ns),
            ):
                return None
            t = scheduled_for
            while (run_id := claim_row(tx, job, t, trigger, claim, self.host)) is None:
                # Taken: the microsecond after the job's latest run from t on, found in
                # one indexed read however many files settled at this instant.
                row = tx.one(
                    "SELECT MAX(scheduled_for) AS t FROM runs WHERE job = ? AND scheduled_for >= ?",
                    (job, to_db(t)),
                )
                latest = from_db(row["t"]) if row is not None else None
                t = (latest or t) + timedelta(microseconds=1)
            tx.run(
                "INSERT INTO run_files (run_id, job, path, size, mtime_ns, inode)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, job, file.path, file.size, file.mtime_ns, file.inode),
            )
        return replace(claimed_run(run_id, job, t, trigger, claim), file=file)

    def file_versions(self, job: str) -> set[RunFile]:
        return {
            RunFile(r["path"], r["size"], r["mtime_ns"], r["inode"])
            for r in self._db.rows(
                "SELECT path, size, mtime_ns, inode FROM run_files WHERE job = ?", (job,)
            )
        }
