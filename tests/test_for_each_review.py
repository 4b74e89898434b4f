"""`for_each` (issue 16), its edges found in review: lines split on line ends
only, a cut-short run's reason, pools held by an item attempt across a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import wait_until


def history_json(cli, job: str) -> list[dict]:
    result = cli("history", job, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def once_in(seconds: int) -> str:
    """A six-field schedule that fires once a day, `seconds` from now (UTC)."""
    t = datetime.now(UTC) + timedelta(seconds=seconds)
    return f"{t.second} {t.minute} {t.hour} * * *"


def test_an_item_is_a_line_whatever_its_other_characters(project, cli) -> None:
    """Only `\\n` (or `\\r\\n`) ends an item: a form feed or a U+2028 inside a line
    (file names may hold them) does not split it in two."""
    listed = ["a b", "\"q\" 's'", "t\tab", "form\x0cfeed", "sep\u2028x", "fs\x1cy"]
    (project.root / "list.txt").write_bytes(
        b"".join(i.encode() + end for i, end in zip(listed, [b"\r\n", b"\n"] * 3, strict=True))
    )
    project.write(
        """
        [jobs.fan]
        for_each = "cat list.txt"
        command = 'printf "%s\\n" "$CRONPLUS_ITEM" >> done.txt'
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 0
    [run] = history_json(cli, "fan")
    assert [i["item"] for i in run["items"]] == listed
    assert (project.root / "done.txt").read_text().split("\n")[:-1] == listed


def test_prune_counts_and_deletes_item_logs_even_once_for_each_is_gone(project, cli) -> None:
    """`prune --dry-run` counts the item logs `prune` deletes, and a job whose
    for_each was since removed still has its old runs' item logs deleted."""
    jobs = """
        [jobs.fan]
        for_each = "echo a; echo b"
        command = "echo $CRONPLUS_ITEM"
        keep_runs = 1
        """
    project.write(jobs)
    for _ in range(2):
        assert cli("trigger", "fan", "--wait").exit_code == 0
    folder = project.state / "logs" / "fan"
    firsts = {p.name for p in folder.iterdir() if p.name.startswith("1-")}
    assert len(firsts) >= 3  # the listing and two items' logs (each with a .status)
    planned = json.loads(cli("prune", "--dry-run", "--json").stdout)
    [fan] = [p for p in planned if p["job"] == "fan"]
    assert fan["logs_deleted"] == len(firsts), (fan, firsts)
    project.write(jobs.replace('for_each = "echo a; echo b"', ""))
    assert cli("prune").exit_code == 0
    assert not any(p.name.startswith("1-") for p in folder.iterdir())


@pytest.mark.slow
def test_an_item_attempt_left_going_by_a_killed_daemon_keeps_its_pool_slot(
    project, daemon, cli
) -> None:
    """The daemon is SIGKILLed while a pooled item runs: the item outlives it, and
    holds its pool's slot to its end, through the next daemon's recovery; another
    job of that pool starts only after it."""
    project.write(
        f"""
        [pools]
        p = 1
        [jobs.fan]
        schedule = "{once_in(2)}"
        timezone = "UTC"
        pool = "p"
        for_each = "echo a"
        command = 'touch item-began; sleep 3; date +%s.%N > item-ended'
        [jobs.other]
        pool = "p"
        command = 'date +%s.%N > other-began'
        """
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: (project.root / "item-began").exists(), timeout=20)
    d.proc.kill()  # SIGKILL: its item goes on, its pool row names a dead process
    d.proc.wait()
    d2 = daemon()
    d2.wait_started()
    assert cli("trigger", "other", "--wait").exit_code == 0
    wait_until(lambda: (project.root / "item-ended").exists(), timeout=20)
    ended = float((project.root / "item-ended").read_text())
    assert float((project.root / "other-began").read_text()) >= ended
    wait_until(lambda: history_json(cli, "fan")[0]["status"] == "succeeded", timeout=20)
    assert project.store().pool_entries() == ([], [])


@pytest.mark.slow
def test_a_run_resumed_with_a_pooled_item_left_going_runs_its_other_items(
    project, daemon, cli
) -> None:
    """The item left going keeps its slot to its end; the resumed run's next items
    take slots of their own beside it (the pool has room): each item runs once."""
    project.write(
        f"""
        [pools]
        p = 2
        [jobs.fan]
        schedule = "{once_in(2)}"
        timezone = "UTC"
        pool = "p"
        item_parallel = 2
        for_each = "echo a; echo b; echo c"
        command = 'echo $CRONPLUS_ITEM >> done.txt; [ $CRONPLUS_ITEM != a ] || sleep 3'
        """
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: (project.root / "done.txt").exists(), timeout=20)
    d.proc.kill()
    d.proc.wait()
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: history_json(cli, "fan")[0]["status"] in ("succeeded", "failed"), 20)
    [run] = history_json(cli, "fan")
    assert run["status"] == "succeeded", run
    assert sorted((project.root / "done.txt").read_text().split()) == ["a", "b", "c"]
    assert project.store().pool_entries() == ([], [])


def test_a_for_each_run_replaced_names_the_run_replacing_it(project) -> None:
    """overlap = replace cuts a for_each run short mid-item: its reason is the cut's,
    naming the newer run, as for any run."""
    from conftest import FakeClock
    from test_engine import T0, make_engine

    from cronplus.model import RunStatus

    project.write("""
        [jobs.slow]
        schedule = "* * * * * *"
        timezone = "UTC"
        for_each = "echo a"
        command = "sleep 30"
        kill_grace = 1
        overlap = "replace"
    """)
    engine, store, dispatcher = make_engine(project, FakeClock(T0))
    engine.step(T0 + timedelta(seconds=1))
    first = store.find_run("slow", T0 + timedelta(seconds=1))
    wait_until(lambda: store.items_of([first.id]).get(first.id, [None])[0] is not None)
    wait_until(lambda: store.items_of([first.id])[first.id][0].attempts != ())
    engine.step(T0 + timedelta(seconds=2))
    second = store.find_run("slow", T0 + timedelta(seconds=2))
    wait_until(lambda: store.get_run(first.id).status.is_final)
    old = store.get_run(first.id)
    assert old.status is RunStatus.INTERRUPTED
    assert old.reason == f"interrupted: replaced by run {second.id} (overlap = replace)"
    dispatcher.shutdown()


SPAN = 'echo "s $(date +%s.%N)" >> spans.txt; sleep 0.4; echo "e $(date +%s.%N)" >> spans.txt'


def most_at_once(project) -> int:
    text = (project.root / "spans.txt").read_text()
    events = sorted(
        (float(at), 1 if k == "s" else -1) for k, at in map(str.split, text.splitlines())
    )
    at_once = most = 0
    for _, step in events:
        at_once += step
        most = max(most, at_once)
    return most


@pytest.mark.parametrize(("size", "slots", "most"), [(4, 1, 2), (3, 2, 1)])
def test_pools_apply_per_item_attempt(project, cli, size: int, slots: int, most: int) -> None:
    """Each item attempt takes the job's pool slots: item_parallel items go at once
    while the pool has room for them, fewer when it has not."""
    project.write(
        f"""
        [pools]
        p = {size}
        [jobs.fan]
        pool = "p"
        pool_slots = {slots}
        for_each = "seq 1 4"
        item_parallel = 2
        command = '{SPAN}'
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 0
    assert most_at_once(project) == most
    assert project.store().pool_entries() == ([], [])


def test_a_failed_runs_reason_shortens_a_long_item(project, cli) -> None:
    """The first failed item is named in the run's reason, cut to 100 characters: a
    200 KB line (too long for the environment: the item fails to start) does not
    make a 200 KB reason in every table and alert."""
    (project.root / "list.txt").write_text("x" * 200_000 + "\nshort\n")
    project.write('[jobs.fan]\nfor_each = "cat list.txt"\ncommand = "true"\n')
    assert cli("trigger", "fan", "--wait").exit_code == 1
    [run] = history_json(cli, "fan")
    assert run["reason"].startswith('1 of 2 items failed: first "' + "x" * 99 + '…": cannot start')
    assert len(run["reason"]) < 300 and len(run["items"][0]["item"]) == 200_000


@pytest.mark.slow
def test_a_listing_left_going_by_a_killed_daemon_is_watched_not_run_again(
    project, daemon, cli
) -> None:
    """The daemon is SIGKILLed while the for_each command runs: the next one takes
    the list from that command, watched to its end, rather than running a second
    one beside it into the same file (which mixed their lines)."""
    project.write(
        f"""
        [jobs.fan]
        schedule = "{once_in(2)}"
        timezone = "UTC"
        for_each = '''
        n=$(cat n 2>/dev/null || echo 0); echo $((n + 1)) > n; sleep 3
        if [ "$n" = 0 ]; then echo aaaaaaaa; echo bbbbbbbb; else echo c; fi
        '''
        command = 'echo $CRONPLUS_ITEM >> done.txt'
        """
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: (project.root / "n").exists(), timeout=20)
    d.proc.kill()
    d.proc.wait()
    d2 = daemon()
    d2.wait_started()
    wait_until(lambda: history_json(cli, "fan")[0]["status"] in ("succeeded", "failed"), 20)
    [run] = history_json(cli, "fan")
    assert [i["item"] for i in run["items"]] == ["aaaaaaaa", "bbbbbbbb"], run
    assert (project.root / "n").read_text() == "1\n"  # the command ran once
