"""`file_watch` without a daemon (issue 16): what one inotify event costs, which paths
a glob matches, and the inotify watches a reload leaves. A stub stands for the
dispatcher; the state is real."""

from __future__ import annotations

import glob
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import wait_until

from cronplus import file_watch
from cronplus.config import load_config_text
from cronplus.paths import StatePaths
from cronplus.store import open_store


def later() -> datetime:
    """An instant by which the files a test wrote so far are quiet (settle is 1 s)."""
    return datetime.now(UTC) + timedelta(seconds=10)


class Dispatcher:
    """What FileWatch asks of the dispatcher: the runs it queued are only listed."""

    def __init__(self, store) -> None:
        self.store = store
        self.runs: list = []

    def queued(self, job: str) -> int:
        return 0

    def catch_up(self, runs) -> None:
        self.runs += runs

    def alert(self, *args, **kw) -> None:
        pass


def config(tmp_path: Path, jobs: str):
    return load_config_text(jobs, tmp_path / "jobs.toml", "jobs.toml")


def job(name: str, watch: str) -> str:
    return f'[jobs.{name}]\nwatch = "{watch}"\nsettle = "1s"\ncatchup = "none"\ncommand = "true"\n'


@pytest.fixture
def state(tmp_path):
    store = open_store(StatePaths(tmp_path / "state"), create=True)
    yield store
    store.close()


def test_an_event_costs_a_stat_of_its_file_not_a_scan_of_the_folder(tmp_path, state, monkeypatch):
    incoming = tmp_path / "in"
    incoming.mkdir()
    for i in range(300):
        (incoming / f"old{i:03}.csv").write_text("x\n")
    woken = threading.Event()
    d = Dispatcher(state)
    fw = file_watch.FileWatch(config(tmp_path, job("load", "in/*.csv")), d, woken.set)
    try:
        t = later()
        fw.start(t)  # the 300 files found at the start, quiet: recorded skipped
        fw.check(t)
        assert len(state.file_versions("load")) == 300 and d.runs == []
        stats = []
        real_stat = os.stat
        monkeypatch.setattr(os, "stat", lambda p, *a, **k: stats.append(p) or real_stat(p, *a, **k))
        woken.clear()
        (incoming / "notes.txt").write_text("not matched\n")  # wakes nobody
        (incoming / "new.csv").write_text("y\n")
        wait_until(woken.is_set)
        fw.check(t + timedelta(seconds=1))
        fw.check(t + timedelta(seconds=2.5))  # settled
        assert [os.path.basename(r.file.path) for r in d.runs] == ["new.csv"]
        assert len(stats) <= 4, f"{len(stats)} stats for one file's events"
    finally:
        fw.close()


@pytest.mark.parametrize(
    "pattern", ["in/*.csv", "in/**/*.csv", "in/**", "in/*/x/*.csv", "in/**/x/*", "in/.h*/*"]
)
def test_a_path_matches_as_glob_lists_it(tmp_path, pattern):
    for rel in (
        "in/a.csv", "in/.hidden.csv", "in/b.txt", "in/d/a.csv", "in/d/x/a.csv", "in/d/e/x/b.csv",
        "in/.h/a.csv", "in/.h/x/a.csv", "in/d/.h/a.csv", "other/a.csv",
    ):  # fmt: skip
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    full = os.path.join(tmp_path, pattern)
    files = [p for p in glob.glob(str(tmp_path / "**"), recursive=True) if os.path.isfile(p)]
    files += glob.glob(str(tmp_path / "**" / ".*"), recursive=True)
    files += glob.glob(str(tmp_path / "**" / ".*" / "**"), recursive=True)
    files = {p for p in files if os.path.isfile(p)}
    listed = {p for p in glob.glob(full, recursive=True) if os.path.isfile(p)}
    assert {p for p in files if file_watch._matches(full, p)} == listed


def inotify_watches(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return sum(line.startswith("inotify wd:") for line in f)


def test_a_reload_removing_or_moving_a_watch_leaves_no_inotify_watch_behind(tmp_path, state):
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
    woken = threading.Event()
    both = job("one", "a/*.csv") + job("two", "b/*.csv")
    fw = file_watch.FileWatch(config(tmp_path, both), Dispatcher(state), woken.set)
    try:
        assert inotify_watches(fw._fd) == 2
        fw.reconfigure(config(tmp_path, job("two", "c/*.csv")), later())  # one gone, two moved
        assert inotify_watches(fw._fd) == 1
        (tmp_path / "a" / "x.csv").write_text("x")
        (tmp_path / "b" / "x.csv").write_text("x")
        (tmp_path / "c" / "x.csv").write_text("x")
        wait_until(woken.is_set)
        assert fw._dirty == {"two": {str(tmp_path / "c" / "x.csv")}}
    finally:
        fw.close()


def test_a_glob_ending_in_double_star_watches_the_folders_under_it(tmp_path, state):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    woken = threading.Event()
    fw = file_watch.FileWatch(config(tmp_path, job("all", "in/**")), Dispatcher(state), woken.set)
    try:
        (tmp_path / "in" / "sub" / "x.csv").write_text("x")
        wait_until(woken.is_set, timeout=3)
        assert fw._dirty == {"all": {str(tmp_path / "in" / "sub" / "x.csv")}}
    finally:
        fw.close()


def test_a_reload_adding_the_first_watch_job_watches_its_folder_at_once(tmp_path, state):
    (tmp_path / "in").mkdir()
    plain = '[jobs.plain]\ncommand = "true"\n'
    fw = file_watch.FileWatch(config(tmp_path, plain), Dispatcher(state), lambda: None)
    try:
        fw.reconfigure(config(tmp_path, plain + job("load", "in/*.csv")), later())
        assert fw._fd >= 0 and inotify_watches(fw._fd) == 1
    finally:
        fw.close()
