"""`watch` (issue 16): a real daemon and real files: one run per file version, after it
settles, none lost, none twice (restarts, a SIGKILL, two processes); the rescan finds
what inotify never reports; `trigger --file`; what the jobs file may not say."""

from __future__ import annotations

import json
import mmap
import os
import signal
import time
from collections import Counter

import pytest
from conftest import wait_until

from cronplus.model import RunStatus, Trigger

pytestmark = pytest.mark.slow

JOB = """
    [jobs.load]
    watch = "incoming/*.csv"
    settle = "0.3s"
    {extra}
    command = 'echo "$CRONPLUS_FILE $(cat "$CRONPLUS_FILE" | wc -c)" >> seen.txt; {then}'
"""


def write_job(project, extra="", then="true"):
    (project.root / "incoming").mkdir(exist_ok=True)
    project.write(JOB.format(extra=extra, then=then))


def seen(project) -> list[str]:
    path = project.root / "seen.txt"
    return path.read_text().splitlines() if path.exists() else []


def file_runs(project, job="load"):
    return [r for r in project.store().history(job) if r.file is not None]


def done(project, n, job="load"):
    runs = file_runs(project, job)
    return len(runs) >= n and all(r.status.is_final for r in runs)


def test_a_file_written_in_pieces_runs_once_after_it_settles_and_again_when_replaced(
    project, daemon
):
    write_job(project)
    d = daemon()
    d.wait_started()
    slow = project.root / "incoming" / "slow.csv"
    with open(slow, "w") as f:
        for piece in range(5):  # each piece within settle of the last
            f.write(f"piece {piece}\n")
            f.flush()
            time.sleep(0.1)
    wait_until(lambda: done(project, 1))
    time.sleep(0.6)  # a second run would have come by now
    assert seen(project) == [f"{slow} 40"]
    (run,) = file_runs(project)
    assert run.trigger is Trigger.FILE and run.status is RunStatus.SUCCEEDED
    st = slow.stat()
    assert (run.file.path, run.file.size, run.file.inode) == (str(slow), 40, st.st_ino)
    assert run.file.mtime_ns == st.st_mtime_ns
    # Replaced: a new file renamed over it (a new inode) runs again.
    new = project.root / "incoming" / "slow.csv.tmp"
    new.write_text("v2\n")
    os.rename(new, slow)
    wait_until(lambda: done(project, 2))
    assert seen(project) == [f"{slow} 40", f"{slow} 3"]
    assert d.terminate() == 0


def test_fifty_files_at_once_with_overlap_skip_are_fifty_runs_none_lost(project, daemon):
    write_job(project, 'overlap = "skip"', then="sleep 0.05")
    d = daemon()
    d.wait_started()
    for i in range(50):
        (project.root / "incoming" / f"f{i:02}.csv").write_text(f"{i}\n")
    wait_until(lambda: done(project, 50), timeout=60)
    runs = file_runs(project)
    assert len(runs) == 50 and all(r.status is RunStatus.SUCCEEDED for r in runs)
    assert sorted(Counter(line.split()[0] for line in seen(project)).values()) == [1] * 50
    assert len({r.scheduled_for for r in runs}) == 50  # one logical time each
    assert d.terminate() == 0


def test_files_added_while_the_daemon_is_down_are_found_at_start(project, daemon):
    write_job(project, 'catchup = "all"')
    d = daemon()
    d.wait_started()
    (project.root / "incoming" / "a.csv").write_text("a\n")
    wait_until(lambda: done(project, 1))
    assert d.terminate() == 0
    for name in ("b.csv", "c.csv", "ignored.txt"):
        (project.root / "incoming" / name).write_text("x\n")
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: done(project, 3))
    time.sleep(0.6)
    names = sorted(os.path.basename(line.split()[0]) for line in seen(project))
    assert names == ["a.csv", "b.csv", "c.csv"]
    assert d2.terminate() == 0


def test_catchup_latest_runs_the_newest_file_found_at_start_and_skips_the_rest(project, daemon):
    write_job(project)  # catchup = "latest", the default
    for n, name in enumerate(("old.csv", "older.csv", "newest.csv")):
        path = project.root / "incoming" / name
        path.write_text("x\n")
        os.utime(path, (time.time() - 100 + n * 10,) * 2)
    d = daemon()
    d.wait_started()
    wait_until(lambda: done(project, 3))
    runs = {os.path.basename(r.file.path): r for r in file_runs(project)}
    assert runs["newest.csv"].status is RunStatus.SUCCEEDED
    assert runs["old.csv"].status is RunStatus.SKIPPED
    assert "arrived while no daemon ran" in runs["older.csv"].reason
    assert [os.path.basename(line.split()[0]) for line in seen(project)] == ["newest.csv"]
    assert d.terminate() == 0


def test_a_daemon_killed_mid_run_and_restarted_runs_no_file_twice(project, daemon):
    write_job(project, then="sleep 1")
    d = daemon()
    d.wait_started()
    for name in ("a.csv", "b.csv"):
        (project.root / "incoming" / name).write_text("x\n")
    wait_until(lambda: len(seen(project)) >= 1)
    os.kill(d.proc.pid, signal.SIGKILL)  # its job process lives on, in its own session
    d.proc.wait()
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: done(project, 2), timeout=20)
    time.sleep(1.5)  # the rescan at the start would have run one again by now
    counts = Counter(line.split()[0] for line in seen(project))
    assert sorted(counts.values()) == [1, 1], counts  # each ran, none twice, none lost
    assert {r.status for r in file_runs(project)} == {RunStatus.SUCCEEDED}
    assert len(file_runs(project)) == 2
    assert d2.terminate() == 0


def test_a_change_inotify_never_reports_is_found_by_the_rescan(project, daemon):
    write_job(project, 'watch_rescan = "1s"')
    path = project.root / "incoming" / "mapped.csv"
    path.write_text("aaaa\n")
    os.utime(path, (time.time() - 60,) * 2)  # quiet: found at the start
    # Opened for writing before the daemon watches: closing it would be an event.
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        d = daemon()
        d.wait_started()
        wait_until(lambda: done(project, 1))
        m[:4] = b"bbbb"  # a write through a shared map: no inotify event
        m.flush()
        wait_until(lambda: done(project, 2), timeout=10)
        assert d.terminate() == 0
    assert [r.file.inode for r in file_runs(project)] == [path.stat().st_ino] * 2
    assert [line.split()[1] for line in seen(project)] == ["5", "5"]


def test_trigger_file_runs_one_version_once_and_the_daemon_does_not_run_it_again(
    project, cli, daemon
):
    write_job(project)
    path = project.root / "incoming" / "by-hand.csv"
    path.write_text("hand\n")
    result = cli("trigger", "load", "--file", "incoming/by-hand.csv", "--wait")
    assert result.exit_code == 0, result.output
    again = cli("trigger", "load", "--file", str(path), "--wait")
    assert again.exit_code == 1 and "change the file to run it again" in again.output
    (run,) = file_runs(project)
    assert run.trigger is Trigger.MANUAL and run.file.path == str(path)
    d = daemon()
    d.wait_started()
    time.sleep(1)  # settle is 0.3s: a daemon run would have come
    assert len(seen(project)) == 1
    assert d.terminate() == 0
    missing = cli("trigger", "load", "--file", "incoming/none.csv")
    assert missing.exit_code == 2 and "No such file" in missing.output


def test_backfill_of_a_watch_job_points_to_trigger_file(project, cli):
    write_job(project)
    result = cli("backfill", "load", "--from", "2026-12-01", "--to", "2026-12-02")
    assert result.exit_code == 2
    assert "cronplus trigger load --file PATH --wait" in result.output


def test_validation_of_watch(project, cli):
    project.write("""
        [jobs.timed]
        watch = "in/*"
        schedule = "* * * * *"
        command = "true"
        [jobs.a]
        watch = "a/*"
        command = "true"
        [jobs.b]
        watch = "b/*"
        command = "true"
        [jobs.both]
        after = ["a", "b"]
        command = "true"
        [jobs.child]
        after = ["a"]
        watch = "c/*"
        command = "true"
        [jobs.fine]
        watch = "/no/such/folder/**/*.csv"
        settle = "bad"
        command = "true"
    """)
    out = cli("validate").output
    assert "jobs.toml:2: " in out and "has both watch and schedule" in out
    assert 'pipeline roots disagree on watch: "a" has "a/*", "b" has "b/*"' in out
    assert "jobs.toml:16: " in out and "can't have its own watch" in out
    assert "jobs.toml:20: " in out and "settle" in out
    assert "folder" not in out  # a missing folder is no problem
    project.write("""
        [jobs.fine]
        watch = "/no/such/folder/**/*.csv"
        command = "true"
    """)
    assert cli("validate").exit_code == 0
    assert "on file: /no/such/folder/**/*.csv" in cli("next").output


def test_a_watch_runs_page_names_its_file(project, cli, web):
    write_job(project)
    path = project.root / "incoming" / "page.csv"
    path.write_text("p\n")
    assert cli("trigger", "load", "--file", str(path), "--wait").exit_code == 0
    (run,) = file_runs(project)
    server = web()
    status, _headers, body = server.get(f"/runs/{run.id}")
    assert status == 200
    assert f'<span id="run-file">{path}</span> (2 bytes)' in body.decode()
    _status, _headers, api = server.get(f"/api/runs/{run.id}")
    assert json.loads(api)["file"]["path"] == str(path)


def test_a_watch_job_added_by_a_reload_runs_files_of_a_folder_made_later(project, daemon):
    # ** and a folder that does not exist yet: logged once, watched once it appears,
    # then each folder made under it.
    project.write('[jobs.hourly]\nschedule = "0 * * * *"\ncommand = "true"\n')
    d = daemon()
    d.wait_started()
    write_job(project)
    (project.root / "incoming").rmdir()
    project.write(JOB.format(extra="", then="true").replace("incoming/*.csv", "in/**/*.csv"))
    wait_until(lambda: "event=reloaded" in d.stderr)
    wait_until(lambda: "event=watch-missing" in d.stderr)
    deep = project.root / "in" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "x.csv").write_text("x\n")
    wait_until(lambda: done(project, 1))
    (project.root / "in" / "c").mkdir()
    (project.root / "in" / "c" / "y.csv").write_text("y\n")
    (project.root / "in" / "top.csv").write_text("top\n")
    wait_until(lambda: done(project, 3))
    time.sleep(0.6)
    assert sorted(os.path.relpath(line.split()[0], project.root) for line in seen(project)) == [
        "in/a/b/x.csv", "in/c/y.csv", "in/top.csv",
    ]  # fmt: skip
    assert d.stderr.count("event=watch-missing") == 1
    assert d.terminate() == 0


def test_past_max_queued_a_file_is_recorded_skipped_with_the_reason(project, daemon):
    write_job(project, 'overlap = "queue"\nmax_queued = 2', then="sleep 1.5")
    d = daemon()
    d.wait_started()
    for i in range(5):  # one runs, two wait, two are one too many
        (project.root / "incoming" / f"f{i}.csv").write_text(f"{i}\n")
    wait_until(lambda: done(project, 5), timeout=20)
    runs = file_runs(project)
    assert Counter(r.status for r in runs) == {RunStatus.SUCCEEDED: 3, RunStatus.SKIPPED: 2}
    assert {r.reason for r in runs if r.status is RunStatus.SKIPPED} == {
        "2 files were already queued (max_queued)"
    }
    assert len(seen(project)) == 3
    assert d.terminate() == 0


def test_status_on_a_date_lists_the_files_run_that_day(project, cli):
    write_job(project)
    project.write(JOB.format(extra="", then="true") + '[jobs.plain]\ncommand = "true"\n')
    for name in ("a.csv", "b.csv"):
        (project.root / "incoming" / name).write_text("x\n")
        assert cli("trigger", "load", "--file", f"incoming/{name}", "--wait").exit_code == 0
    assert cli("trigger", "plain", "--wait").exit_code == 0
    day = file_runs(project)[0].scheduled_for.astimezone().date().isoformat()
    out = cli("status", "--on", day).output
    header, *rows = out.splitlines()
    assert header.split()[-1] == "FILE"
    by_job = Counter(row.split()[0] for row in rows)
    assert by_job == {"load": 2, "plain": 1}
    assert [row.split()[-1] for row in rows if row.startswith("load")] == [
        str(project.root / "incoming" / n) for n in ("a.csv", "b.csv")
    ]


def test_with_overlap_replace_a_new_file_stops_the_run_going(project, daemon):
    slow = 'case "$CRONPLUS_FILE" in *a.csv) sleep 30;; esac'
    write_job(project, 'overlap = "replace"', then=slow)
    d = daemon()
    d.wait_started()
    (project.root / "incoming" / "a.csv").write_text("a\n")
    wait_until(lambda: len(seen(project)) == 1)  # a.csv's run goes
    (project.root / "incoming" / "b.csv").write_text("b\n")
    wait_until(lambda: done(project, 2), timeout=20)  # not after a.csv's 30 s
    runs = {os.path.basename(r.file.path): r for r in file_runs(project)}
    old, new = runs["a.csv"], runs["b.csv"]
    assert old.status is RunStatus.INTERRUPTED and new.status is RunStatus.SUCCEEDED
    assert old.reason == f"interrupted: replaced by run {new.id} (overlap = replace)"
    assert d.terminate() == 0
