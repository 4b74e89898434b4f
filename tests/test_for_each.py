"""`for_each` (issue 16): one run, the job's command once per item, each item with
its own attempts and retries, recorded under the run; real runs through `trigger
--wait` and a real daemon."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import wait_until

from cronplus.errors import ExitCode


def test_the_keys_are_checked_with_their_line(project, cli) -> None:
    project.write(
        """
        [defaults]
        for_each = "ls"

        [jobs.a]
        command = "true"
        for_each = ""
        for_each_max = 0
        item_parallel = "2"
        """
    )
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert "jobs.toml:2: [defaults] for_each can't be a default" in result.stderr
    assert 'jobs.toml:6: job "a": for_each is empty' in result.stderr
    assert 'jobs.toml:7: job "a": for_each_max must be a whole number, 1 or more' in result.stderr
    assert 'jobs.toml:8: job "a": item_parallel must be a whole number, 1 or more' in result.stderr


def history_json(cli, job: str) -> list[dict]:
    result = cli("history", job, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def lines(project, name: str = "done.txt") -> list[str]:
    path = project.root / name
    return path.read_text().splitlines() if path.exists() else []


def test_twenty_items_three_failing_once_are_retried_each_on_its_own(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "seq 0 19 | sed 's/^/t/'"
        command = '''
        echo "$CRONPLUS_ITEM $CRONPLUS_ITEM_INDEX" >> done.txt
        case $CRONPLUS_ITEM in t3|t7|t11) test -e "seen-$CRONPLUS_ITEM" && exit 0;
          touch "seen-$CRONPLUS_ITEM"; echo "no $CRONPLUS_ITEM"; exit 2;; esac
        '''
        retries = 1
        retry_delay = "0s"
        """
    )
    result = cli("trigger", "fan", "--wait")
    assert result.exit_code == 0, result.stderr
    done = lines(project)
    assert sorted(done) == sorted([f"t{i} {i}" for i in range(20)] + ["t3 3", "t7 7", "t11 11"])
    [run] = history_json(cli, "fan")
    assert run["status"] == "succeeded" and run["attempts"] == 0
    assert [i["index"] for i in run["items"]] == list(range(20))
    for i in run["items"]:
        assert set(i) == {"index", "item", "status", "attempts", "exit_code", "reason"}
        want = 2 if i["item"] in ("t3", "t7", "t11") else 1
        assert (i["item"], i["status"], i["attempts"], i["exit_code"]) == (
            f"t{i['index']}",
            "succeeded",
            want,
            0,
        )
    first = cli("logs", "fan", "--run", str(run["id"]), "--item", "7", "--attempt", "1")
    assert first.exit_code == 0 and first.stdout == "no t7\n"
    assert cli("logs", "fan", "--item", "7").stdout == ""
    assert cli("logs", "fan", "--item", "20").exit_code == ExitCode.USAGE
    assert "succeeded (20/20 items)" in cli("history", "fan").stdout


def test_items_that_fail_fail_the_run_naming_the_first(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "printf 'a.csv\\\\n2026-12-04/c.csv\\\\nb.csv\\\\nd.csv\\\\n'"
        command = 'case $CRONPLUS_ITEM in *c.csv|d.csv) exit 2;; esac'
        [jobs.next]
        after = ["fan"]
        command = "touch next-ran"
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 1
    [run] = history_json(cli, "fan")
    assert run["status"] == "failed"
    assert run["reason"] == '2 of 4 items failed: first "2026-12-04/c.csv": exit code 2'
    assert [i["status"] for i in run["items"]] == ["succeeded", "failed", "succeeded", "failed"]
    assert run["items"][1]["reason"] == "exit code 2" and run["items"][1]["exit_code"] == 2
    assert not (project.root / "next-ran").exists()  # after jobs wait for the whole run


def test_more_items_than_for_each_max_fail_the_run_before_any_item(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "seq 1 6"
        for_each_max = 5
        command = "echo $CRONPLUS_ITEM >> done.txt"
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 1
    [run] = history_json(cli, "fan")
    assert run["reason"] == "for_each gave 6 items, more than for_each_max (5)"
    assert run["items"] is None and lines(project) == []


def test_an_empty_list_is_a_success_with_no_items(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "echo; echo '  '"
        command = "echo $CRONPLUS_ITEM >> done.txt"
        [jobs.next]
        after = ["fan"]
        command = "touch next-ran"
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 0
    [run] = history_json(cli, "fan")
    assert (run["status"], run["items"]) == ("succeeded", [])
    assert "succeeded (0 items)" in cli("history", "fan").stdout
    assert lines(project) == []
    assert (project.root / "next-ran").exists()


def test_a_job_without_for_each_has_null_items(project, cli) -> None:
    project.write('[jobs.one]\ncommand = "true"\n')
    assert cli("trigger", "one", "--wait").exit_code == 0
    [run] = history_json(cli, "one")
    assert run["items"] is None and run["attempts"] == 1


def test_a_failing_for_each_command_fails_the_run(project, cli) -> None:
    project.write('[jobs.fan]\nfor_each = "echo x; exit 3"\ncommand = "true"\n')
    assert cli("trigger", "fan", "--wait").exit_code == 1
    [run] = history_json(cli, "fan")
    assert (run["reason"], run["items"]) == ("for_each exit code 3", None)


SPAN = 'echo "s $(date +%s.%N)" >> spans.txt; sleep 0.4; echo "e $(date +%s.%N)" >> spans.txt'


@pytest.mark.parametrize("parallel", [1, 3])
def test_item_parallel_bounds_the_items_at_once(project, cli, parallel: int) -> None:
    project.write(
        f"""
        [jobs.fan]
        for_each = "seq 1 6"
        item_parallel = {parallel}
        command = '{SPAN}'
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 0
    events = sorted(
        (float(at), 1 if kind == "s" else -1)
        for kind, at in (line.split() for line in lines(project, "spans.txt"))
    )
    at_once = most = 0
    for _, step in events:
        at_once += step
        most = max(most, at_once)
    assert len(events) == 12 and most == parallel


def test_python_job_gets_its_item(project, cli) -> None:
    (project.root / "fanjob.py").write_text(
        "def main(item):\n    open('done.txt', 'a').write(item + '\\n')\n"
    )
    project.write(
        """
        [jobs.fan]
        for_each = "echo x; echo y"
        python = "fanjob:main"
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 0
    assert lines(project) == ["x", "y"]


def once_in(seconds: int) -> str:
    """A six-field schedule that fires once a day, `seconds` from now (UTC)."""
    t = datetime.now(UTC) + timedelta(seconds=seconds)
    return f"{t.second} {t.minute} {t.hour} * * *"


@pytest.mark.slow
def test_a_run_resumed_after_a_sigkill_runs_only_the_items_not_done(project, daemon, cli) -> None:
    """The daemon is SIGKILLed mid-items; the next one runs each item not done, never
    one done again (the one in flight ended unwatched: its outcome is taken)."""
    project.write(
        f"""
        [jobs.fan]
        schedule = "{once_in(3)}"
        timezone = "UTC"
        for_each = "seq 0 9"
        command = 'echo $CRONPLUS_ITEM >> done.txt; sleep 0.3'
        [jobs.next]
        after = ["fan"]
        command = "touch next-ran"
        """
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: len(lines(project)) >= 3, timeout=20)
    d.proc.kill()  # SIGKILL: the daemon records nothing more
    d.proc.wait()
    before = len(lines(project))
    assert before < 10
    time.sleep(0.5)  # the item in flight ends unwatched: its wrapper writes its status
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: (project.root / "next-ran").exists(), timeout=30)
    d2.terminate()
    assert sorted(lines(project), key=int) == [str(i) for i in range(10)]  # each once
    [run] = history_json(cli, "fan")
    assert run["status"] == "succeeded"
    assert all(i["status"] == "succeeded" and i["attempts"] == 1 for i in run["items"])


def test_a_backfill_of_a_failed_run_runs_again_only_the_items_that_failed(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        schedule = "0 3 * * *"
        timezone = "UTC"
        for_each = "echo a; echo b; echo c"
        command = '''
        echo $CRONPLUS_ITEM >> done.txt
        [ $CRONPLUS_ITEM != b ] || [ -e seen ] || { touch seen; exit 4; }
        '''
        """
    )
    day = ("--from", "2026-11-02", "--to", "2026-11-02")
    assert cli("backfill", "fan", *day).exit_code == 1
    [run] = history_json(cli, "fan")
    assert run["reason"] == '1 of 3 items failed: first "b": exit code 4'
    project.write(project.jobs_file.read_text().replace("echo c", "echo c; echo new"))
    assert cli("backfill", "fan", *day).exit_code == 0
    assert lines(project) == ["a", "b", "c", "b"]  # the list stays as first computed
    [again] = history_json(cli, "fan")
    assert again["id"] == run["id"] and again["status"] == "succeeded"
    assert [(i["item"], i["attempts"]) for i in again["items"]] == [("a", 1), ("b", 2), ("c", 1)]


def test_status_counts_the_items_of_a_run_going(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "seq 1 6"
        command = "echo $CRONPLUS_ITEM >> done.txt; sleep 0.3"
        """
    )
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
    going = subprocess.Popen([*argv, "trigger", "fan", "--wait"], cwd=project.root)
    try:
        wait_until(lambda: len(lines(project)) >= 3, timeout=20)
        shown = cli("status").stdout
        assert re.search(r"running for \S+, [2-5]/6 items", shown), shown
    finally:
        assert going.wait(30) == 0
    assert "succeeded (6/6 items)" in cli("history", "fan").stdout


def test_pruning_a_for_each_run_deletes_its_items_and_their_logs(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "echo a; echo b"
        command = "echo $CRONPLUS_ITEM"
        keep_runs = 1
        keep_days = 0
        """
    )
    for _ in range(3):
        assert cli("trigger", "fan", "--wait").exit_code == 0
    folder = project.state / "logs" / "fan"
    assert any(p.name.startswith("1-item") for p in folder.iterdir())
    assert cli("prune").exit_code == 0
    kept = {r["id"] for r in history_json(cli, "fan")}
    assert 1 not in kept and 3 in kept
    left = {int(p.name.split("-")[0]) for p in folder.iterdir()}
    assert left == kept  # the pruned runs' item logs and listings went with them
    assert project.store().items_of([1]) == {}


def test_a_for_each_run_past_its_expected_duration_is_late(project, cli) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "echo a; echo b"
        command = "sleep 0.6"
        expected_duration = "1s"
        """
    )
    result = cli("trigger", "fan", "--wait")
    assert result.exit_code == 0
    assert "event=late" in result.stderr


def test_the_run_page_lists_the_items_each_linking_to_its_log(project, cli, web) -> None:
    project.write(
        """
        [jobs.fan]
        for_each = "echo 'a<b'; echo c"
        command = 'echo "out $CRONPLUS_ITEM"; [ "$CRONPLUS_ITEM" = c ] && exit 2; true'
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 1
    [run] = history_json(cli, "fan")
    server = web()
    status, _, body = server.get(f"/runs/{run['id']}")
    page = body.decode()
    assert status == 200 and '<table id="items">' in page
    rows = re.findall(r'<tr data-item-index="(\d+)" data-status="(\w+)">', page)
    assert rows == [("0", "succeeded"), ("1", "failed")]
    assert "a&lt;b" in page and f'href="/runs/{run["id"]}/items/1/log"' in page
    status, _, log = server.get(f"/runs/{run['id']}/items/1/log")
    assert (status, log) == (200, b"out c\n")
    assert server.get(f"/runs/{run['id']}/items/2/log")[0] == 404
