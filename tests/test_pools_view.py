"""`cronplus pools [--json]` (issue 15): each pool's size, its holders across processes
and hosts, its line of waiting runs in serving order, a pool only the state still
names, a file with no pools; and `status` showing a waiting run's reason."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from conftest import traced_statements

from cronplus import procs
from cronplus.model import Claim, PoolEntry, Trigger

T = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
ME = os.getpid()  # alive: no run below reads as orphaned
WAITING = 'waiting for pool "warehouse" (2 of 2 slots in use)'

JOBS = """
[pools]
warehouse = 2
api = 1

[jobs.load]
schedule = "0 3 * * *"
timezone = "Europe/Berlin"
command = "true"
pool = "warehouse"

[jobs.extract]
schedule = "0 3 * * *"
timezone = "UTC"
command = "true"
pool = "warehouse"

[jobs.report]
schedule = "0 4 * * *"
timezone = "UTC"
command = "true"
pool = "warehouse"
pool_slots = 2
"""


def claim(store, job: str, t: datetime, reason: str | None = None):
    run = store.claim_run(job, t, Trigger.SCHEDULE, Claim(owner=ME, now=t, reason=reason))
    assert run is not None
    return run


def wait(store, run, *, pool="warehouse", slots=1, host="h1", since=T, **process):
    """`process`: the row's `boot_id` and `start_ticks` (none: unknown)."""
    entry = PoolEntry(pool, run.id, run.job, slots, run.scheduled_for, 1, host, ME, since)
    store.pool_wait(replace(entry, **process))


def hold(store, run, size: int, **kw):
    wait(store, run, **kw)
    assert store.pool_take(run.id, size, kw.get("since", T))[0]


def busy_warehouse(project):
    """Two holders on two hosts, then three runs waiting whose line is not their claim
    order: run 5 (logical time a day older) is served before runs 3 and 4."""
    project.write(JOBS)
    store = project.store()
    a, b = claim(store, "load", T), claim(store, "extract", T)
    hold(store, a, 2, host="h1")
    hold(store, b, 2, host="h2", since=T + timedelta(seconds=1))
    c = claim(store, "report", T + timedelta(hours=1), reason=WAITING)
    d = claim(store, "extract", T + timedelta(hours=1), reason=WAITING)
    e = claim(store, "load", T - timedelta(days=1), reason=WAITING)
    wait(store, c, slots=2, since=T + timedelta(seconds=2))
    wait(store, d, host="h2", since=T + timedelta(seconds=3))
    wait(store, e, since=T + timedelta(seconds=4))
    store.close()
    return a, b, c, d, e


def test_pools_json_lists_holders_and_the_line_in_serving_order(project, cli):
    a, b, c, d, e = busy_warehouse(project)
    result = cli("pools", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {
            "pool": "warehouse",
            "size": 2,
            "in_use": 2,
            "holders": [
                {"run_id": a.id, "job": "load", "slots": 1, "host": "h1", "pid": ME,
                 "since": "2026-12-04T03:00:00+01:00"},
                {"run_id": b.id, "job": "extract", "slots": 1, "host": "h2", "pid": ME,
                 "since": "2026-12-04T02:00:01+00:00"},
            ],
            "waiting": [
                {"run_id": e.id, "job": "load", "slots": 1, "since": "2026-12-04T03:00:04+01:00"},
                {"run_id": c.id, "job": "report", "slots": 2, "since": "2026-12-04T02:00:02+00:00"},
                {"run_id": d.id, "job": "extract", "slots": 1,
                 "since": "2026-12-04T02:00:03+00:00"},
            ],
        },
        {"pool": "api", "size": 1, "in_use": 0, "holders": [], "waiting": []},
    ]  # fmt: skip


def test_pools_table_piped(project, cli):
    a, b, c, d, e = busy_warehouse(project)
    result = cli("pools")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0] == [
        "POOL", "SIZE", "IN", "USE", "STATE", "RUN", "JOB", "SLOTS", "HOST", "PID", "SINCE"
    ]  # fmt: skip
    pid = str(ME)
    assert rows[1:] == [
        ["warehouse", "2", "2", "holding", str(a.id), "load", "1", "h1", pid,
         "2026-12-04", "03:00:00+01:00"],
        ["warehouse", "2", "2", "holding", str(b.id), "extract", "1", "h2", pid,
         "2026-12-04", "02:00:01+00:00"],
        ["warehouse", "2", "2", "waiting", "1", str(e.id), "load", "1", "h1", pid,
         "2026-12-04", "03:00:04+01:00"],
        ["warehouse", "2", "2", "waiting", "2", str(c.id), "report", "2", "h1", pid,
         "2026-12-04", "02:00:02+00:00"],
        ["warehouse", "2", "2", "waiting", "3", str(d.id), "extract", "1", "h2", pid,
         "2026-12-04", "02:00:03+00:00"],
        ["api", "1", "0", "idle", "-", "-", "-", "-", "-", "-"],
    ]  # fmt: skip


def test_a_pool_removed_from_the_file_is_listed_last_without_a_size(project, cli):
    busy_warehouse(project)
    store = project.store()
    gone = claim(store, "old_job", T)
    hold(store, gone, 3, pool="legacy", host="h3")
    store.close()
    # The file drops `api` and `warehouse`; warehouse's runs still hold and wait.
    project.write(JOBS.replace("warehouse = 2\napi = 1", "fresh = 4").replace("warehouse", "fresh"))
    pools = json.loads(cli("pools", "--json").output)
    assert [(p["pool"], p["size"], p["in_use"]) for p in pools] == [
        ("fresh", 4, 0),
        ("legacy", None, 1),
        ("warehouse", None, 2),
    ]
    assert pools[1]["holders"][0]["since"] == "2026-12-04T02:00:00+00:00"  # UTC: job gone
    assert len(pools[2]["waiting"]) == 3
    text = cli("pools").output
    assert [line.split()[:4] for line in text.splitlines()[1:3]] == [
        ["fresh", "4", "0", "idle"],
        ["legacy", "removed", "1", "holding"],
    ]


def test_no_pools_says_so_and_exits_0(project, cli):
    project.write('[jobs.a]\nschedule = "@daily"\ncommand = "true"\n')
    result = cli("pools")
    assert result.exit_code == 0
    assert result.output == "no pools: jobs.toml has no [pools] table\n"
    result = cli("pools", "--json")
    assert (result.exit_code, json.loads(result.output)) == (0, [])
    assert not project.state.exists()  # only read: nothing made


def test_pools_errors_as_the_other_read_commands(project, cli):
    result = cli("pools")  # no jobs file
    assert result.exit_code == cli("alerts").exit_code == 2
    assert "Traceback" not in result.output
    assert "jobs.toml" in result.output


def test_pools_reads_the_state_twice_whatever_the_number_of_pools(project, cli):
    pools = "\n".join(f"p{i} = 1" for i in range(50))
    project.write(f"[pools]\n{pools}\n[jobs.a]\nschedule = '@daily'\ncommand = 'true'\n")
    project.store().close()
    with traced_statements() as issued:
        assert cli("pools").exit_code == 0
    reads = [s for s in issued if "pool_" in s]
    assert len(reads) == 2, reads


def test_status_shows_a_run_waiting_for_a_pool_as_queued_with_its_reason(project, cli):
    a, b, c, d, e = busy_warehouse(project)
    text = cli("status").output
    # report's newest run is the one waiting; load's newest holds, and its older run waits.
    assert f"report: queued, {WAITING}\n" in text
    assert f"load: queued, {WAITING}: run {e.id} (schedule), logical time " in text
    rows = {row["job"]: row for row in json.loads(cli("status", "--json").output)}
    assert rows["report"]["last_run"]["status"] == "queued"
    assert rows["report"]["last_run"]["reason"] == WAITING


def test_pools_on_a_terminal_is_a_drawn_table(project, cli, monkeypatch):
    a, *_ = busy_warehouse(project)
    monkeypatch.setattr("cronplus.render._base.is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "120")
    lines = cli("pools").output.splitlines()
    assert lines[0].startswith("┏") and lines[-1].startswith("└")
    holder = next(line for line in lines if f"│ {a.id} " in line)
    assert [c.strip() for c in holder.split("│")[1:-1]] == [
        "warehouse", "2", "2", "holding", str(a.id), "load", "1", "h1", str(ME),
        "2026-12-04 03:00:00+01:00",
    ]  # fmt: skip


def test_a_row_whose_process_of_this_host_is_gone_says_so(project, cli, web):
    """On `pools` and `/pools`: a live process's row reads as before; one of the
    previous boot, or whose pid's process started at another tick, says its process
    is gone; another host's cannot be told, and says nothing. The JSON is unchanged."""
    project.write(JOBS)
    store = project.store()
    here, (_, boot, start) = procs.host(), procs.me()
    live, old_boot = claim(store, "load", T), claim(store, "extract", T)
    reused = claim(store, "report", T + timedelta(hours=1), reason=WAITING)
    elsewhere = claim(store, "extract", T + timedelta(hours=1), reason=WAITING)
    hold(store, live, 2, host=here, boot_id=boot, start_ticks=start)
    hold(store, old_boot, 2, host=here, boot_id="the-previous-boot", start_ticks=start)
    wait(store, reused, host=here, boot_id=boot, start_ticks=start + 1)
    wait(store, elsewhere, host="h2", boot_id="the-previous-boot", start_ticks=start)
    store.close()
    rows = [line.split()[3:6] for line in cli("pools").output.splitlines()[1:5]]
    assert rows == [
        ["holding", str(live.id), "load"],
        ["holding", "(process", "gone)"],
        ["waiting", "1", "(process"],
        ["waiting", "2", str(elsewhere.id)],
    ]
    held = json.loads(cli("pools", "--json").output)[0]["holders"]
    assert [sorted(h) for h in held] == [["host", "job", "pid", "run_id", "since", "slots"]] * 2
    status, _, body = web().get("/pools")
    assert status == 200
    page = body.decode()
    items = {
        run.id: page.split(f'<li data-run-id="{run.id}">')[1].split("</li>")[0]
        for run in (live, old_boot, reused, elsewhere)
    }
    assert ["process gone" in items[r.id] for r in (live, old_boot, reused, elsewhere)] == [
        False, True, True, False
    ]  # fmt: skip
