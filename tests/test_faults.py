"""Fault injection on the real daemon (issue 6): SIGKILL at random points of a busy
schedule, a moved clock, full and read-only state, reloads. Each test drives
`cronplus run` as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).parent.parent / "bench"


def test_sigkill_loop_loses_no_run_and_runs_none_twice(tmp_path, monkeypatch):
    """The same loop as `python bench/kill_loop.py` (which the closing note's
    figures come from), with 8 kills: every fire time between the first and the last
    has exactly one run, every run is final, and each job's file has each time of
    its succeeded runs exactly once and no other."""
    monkeypatch.syspath_prepend(str(BENCH))
    import kill_loop

    figures = kill_loop.kill_loop(tmp_path, kills=8, seed=3, log=lambda *_: None)
    assert figures["scheduled"] > 20
    assert figures["lost"] == 0 and figures["twice"] == 0, figures
    assert figures["unfinished"] == 0
    # The count can fail: one time appended twice, one run gone.
    tick = tmp_path / "tick.txt"
    first = tick.read_text().split()[0]
    tick.write_text(tick.read_text() + first + "\n")
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "state.db") as conn:
        last = "(SELECT max(id) FROM runs WHERE job = 'tock')"
        conn.execute(f"DELETE FROM attempts WHERE run_id = {last}")
        conn.execute(f"DELETE FROM resume WHERE run_id = {last}")
        conn.execute(f"DELETE FROM runs WHERE id = {last}")
    again = kill_loop.count(tmp_path)
    assert again["twice"] == 2 and again["lost"] == 1, again  # tock: in its file, no run
