"""The tables schema 14 added for several hosts (issue 17), written once for both
backends: SQLite's migration (`schema.py`) and PostgreSQL's (`pg_schema.py`) format
them with their text type and schema."""

from __future__ import annotations

# Schema 14's new tables, also PostgreSQL's (pg_schema.py): T is the text type, T_ the
# tables' schema.
PROCESSES_TABLE = """
    CREATE TABLE {T_}processes (
        host          {T}     NOT NULL,  -- CRONPLUS_HOST of the process
        pid           INTEGER NOT NULL,
        kind          {T}     NOT NULL,  -- daemon, trigger, backfill
        started_at    {T}     NOT NULL,  -- the database's clock
        heartbeat_at  {T}     NOT NULL,  -- the database's clock
        lease_ms      INTEGER NOT NULL,  -- dead when heartbeat_at is older than this
        running       INTEGER NOT NULL DEFAULT 0,  -- attempts it is executing
        boot_id       {T},
        start_ticks   BIGINT,
        PRIMARY KEY (host, pid)
    )
"""
PROCESSES_INDEX = (
    "CREATE UNIQUE INDEX processes_daemon_name ON {T_}processes (host) WHERE kind = 'daemon'"
)
JOB_OWNERS_TABLE = """
    CREATE TABLE {T_}job_owners (
        job      {T}     PRIMARY KEY,
        host     {T},               -- the daemon firing its fire times; NULL: none
        pid      INTEGER,
        since    {T},
        through  {T}     NOT NULL   -- its fire times up to here are claimed or recorded
    )
"""
