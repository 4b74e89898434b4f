"""Issue 14, "At the terminal": `logs JOB -f` follows a run live, as a real `trigger`
process runs it, attempt after attempt, and waits for a run not yet made."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import wait_until

FLAKY = """
    [jobs.flaky]
    command = "n=$CRONPLUS_ATTEMPT; echo start-$n; sleep 1; echo end-$n; test $n -ge 2"
    retries = 1
    retry_delay = "0s"

    [jobs.broken]
    command = "echo once; sleep 0.5; exit 3"
"""


def cronplus(project, *args: str, **kw) -> subprocess.Popen:
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
    return subprocess.Popen(
        [*argv, *args],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_follow_waits_for_the_next_run_and_shows_each_attempt_as_it_comes(project):
    project.write(FLAKY)
    project.store().close()  # the state exists; the job has no run yet
    follow = cronplus(project, "logs", "flaky", "-f")
    trigger = cronplus(project, "trigger", "flaky", "--wait")
    code, out, err = finish(follow)
    assert finish(trigger)[0] == 0
    assert (code, err) == (0, "")
    assert out == "start-1\nend-1\n--- attempt 2 ---\nstart-2\nend-2\n"


def test_follow_from_the_middle_of_a_run_prints_the_output_so_far_and_exits_1(project, cli):
    project.write(FLAKY)
    trigger = cronplus(project, "trigger", "broken", "--wait")

    def started():
        run = project.store().latest_run("broken")
        return run is not None and run.attempts

    wait_until(started, timeout=30)
    code, out, err = finish(cronplus(project, "logs", "broken", "-f"))
    assert (code, out, err) == (1, "once\n", "")
    finish(trigger)
    # Over already: what it printed, and its outcome.
    assert finish(cronplus(project, "logs", "broken", "--follow"))[:2] == (1, "once\n")


def test_ctrl_c_stops_following_with_130_and_no_traceback(project):
    project.write(FLAKY)
    project.store().close()
    follow = cronplus(project, "logs", "flaky", "-f")
    wait_until(lambda: _waiting(follow.pid), timeout=30)
    follow.send_signal(signal.SIGINT)
    assert finish(follow) == (130, "", "")


def _waiting(pid: int) -> bool:
    """The follower waits between two looks at the state, past its start-up: a SIGINT
    while Python still imports would be click's "Aborted!", not the command's stop."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "futex" in f.read()
    except OSError:
        return False
