"""`cronplus status` and `cronplus --help` answered without click (issue 12): every
argument form the quick paths accept gives, byte for byte, the stdout, stderr and
exit code click gives; every other form is left to click."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import record

from cronplus.cli._status import parse

JOBS = """
    [jobs.load]
    schedule = "0 3 * * *"
    timezone = "Europe/Berlin"
    command = "true"

    [jobs.report]
    after = ["load"]
    command = "true"

    [jobs.adhoc]
    command = "true"
"""

# The quick path must not even try click: a `click` that cannot be imported stands
# first on its PYTHONPATH, so a form it accepts fails loudly if click is reached.
NO_CLICK = "raise ImportError('the quick path imported click')\n"
CLICK_PATH = "import sys; from cronplus.cli._root import cli; cli(prog_name='cronplus')"


def both_ways(root: Path, argv: list[str], env: dict[str, str] | None = None, *, quick=True):
    """(quick path's result, click's result) of `cronplus ARGV`, stdout piped."""
    blocker = root / "no-click"
    (blocker / "click").mkdir(parents=True, exist_ok=True)
    (blocker / "click" / "__init__.py").write_text(NO_CLICK)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    base.update(env or {})
    path = os.pathsep.join(
        filter(None, [str(Path(__file__).parent.parent), base.get("PYTHONPATH")])
    )
    quick_path = os.pathsep.join([str(blocker), path]) if quick else path
    results = []
    for cmd, pythonpath in (
        (["-m", "cronplus"], quick_path),
        (["-c", CLICK_PATH], path),
    ):
        results.append(
            subprocess.run(
                [sys.executable, *cmd, *argv],
                cwd=root,
                env={**base, "PYTHONPATH": pythonpath},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=60,
            )
        )
    return results


def assert_same(quick, slow) -> None:
    assert (quick.returncode, quick.stderr.decode(), quick.stdout.decode()) == (
        slow.returncode,
        slow.stderr.decode(),
        slow.stdout.decode(),
    )


@pytest.fixture
def history(project):
    project.write(JOBS)
    # Long ago, so that no fire time passes between the two runs of a comparison.
    record(project.store(), "load", datetime(2026, 1, 2, 2, tzinfo=UTC), "succeeded")
    record(project.store(), "report", datetime(2026, 1, 2, 2, tzinfo=UTC), "failed", exits=(3,))
    record(project.store(), "adhoc", datetime.now(UTC) - timedelta(hours=1), "succeeded")
    return project


STATE = "--state=state"
FORMS = [
    ["status"],
    ["-c", "jobs.toml", "--state", "state", "status"],
    ["--config=jobs.toml", STATE, "status", "--json"],
    [STATE, "status", "load", "--json", "adhoc"],
    [STATE, "status", "adhoc"],
    ["-c", "missing.toml", "-c", "jobs.toml", STATE, "status", "--json", "--json"],
    ["--state", "state", "--state", "elsewhere", "status"],
    [STATE, "status", "lod"],  # did you mean
    [STATE, "status", "load", ""],
    ["-c", "missing.toml", "status"],
    ["-c", "jobs.toml/", "status"],
    ["-c", "jobs.toml", "--state", "jobs.toml", "status"],  # a file as the state
]


@pytest.mark.parametrize("argv", FORMS, ids=" ".join)
def test_status_without_click_prints_what_click_prints(history, argv):
    quick, slow = both_ways(history.root, argv)
    assert_same(quick, slow)
    assert quick.stdout or quick.stderr


def test_the_forms_cover_success_failure_and_usage_exits(history):
    codes = {both_ways(history.root, argv)[1].returncode for argv in FORMS[:8]}
    assert codes == {0, 1, 2}


@pytest.mark.parametrize("value", ["other.toml", "missing.toml", ""])
def test_status_without_click_reads_cronplus_config_as_click_does(history, value):
    (history.root / "other.toml").write_text('[jobs.other]\ncommand = "true"\n')
    quick, slow = both_ways(history.root, [STATE, "status"], {"CRONPLUS_CONFIG": value})
    assert_same(quick, slow)


def test_status_without_click_reads_cronplus_state_as_click_does(history):
    quick, slow = both_ways(history.root, ["status"], {"CRONPLUS_STATE": "state"})
    assert_same(quick, slow)
    assert b"load " in quick.stdout


BROKEN = {
    # tomllib's own message, with the file and line
    "unparsable": '[jobs.load]\nschedule = "0 3 * * *"\ncommand = \n',
    # a problem per line, on stderr with the jobs that can be read, and an escape
    # sequence in a key, which click drops from a stderr that is not a terminal
    "problems": JOBS.replace('command = "true"', 'command = "true"\n"\\u001b[31mcomand" = 1', 1)
    + '\n[jobs.bad]\nschedule = "61 * * * *"\ncommand = "true"\n',
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
@pytest.mark.parametrize("args", [[], ["--json"], ["load"]], ids=" ".join)
def test_a_broken_jobs_file_reads_the_same_without_click(history, kind, args):
    history.write(BROKEN[kind])
    quick, slow = both_ways(history.root, [STATE, "status", *args])
    assert_same(quick, slow)
    assert quick.returncode != 0 or b"Warning: jobs.toml has" in quick.stderr
    assert b"\x1b" not in quick.stderr
    assert b"jobs.toml:" in quick.stderr


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--version"],
        ["status", "--on", "2026-01-02"],
        ["status", "--problems"],
        ["status", "-h"],
        ["status", "--help"],
        ["-h", "status"],
        ["-cjobs.toml", "status"],
        ["-c", "--json", "status"],
        ["-c", "", "status"],
        ["--config=", "status"],
        ["--", "status"],
        ["status", "--", "load"],
        ["status", "-"],
        ["status", "--json=1"],
        ["--json", "status"],
        ["--state"],
        ["-c", "jobs.toml"],
        ["-c", "status"],
        ["history", "load"],
        ["status", "load", "--state", "state"],
    ],
    ids=repr,
)
def test_any_other_form_is_left_to_click(argv):
    assert parse(argv) is None


def test_the_plain_forms_are_parsed(monkeypatch):
    monkeypatch.delenv("CRONPLUS_CONFIG", raising=False)
    assert parse(["status"]) == ("jobs.toml", None, [], False)
    assert parse(["-c", "a", "--state=s", "status", "x", "--json"]) == ("a", "s", ["x"], True)
    monkeypatch.setenv("CRONPLUS_CONFIG", "env.toml")
    assert parse(["status"])[0] == "env.toml"
    assert parse(["--config", "a", "status"])[0] == "a"


@pytest.mark.parametrize("argv", [["status", "--on", "2026-01-02"], ["status", "-h"]], ids=" ".join)
def test_forms_left_to_click_still_work_through_the_console_script(history, argv):
    quick, slow = both_ways(history.root, [STATE, *argv], quick=False)
    assert_same(quick, slow)
    assert quick.returncode in (0, 1) and quick.stdout


@pytest.mark.parametrize("columns", [None, "", "0", "-3", "x", "40", "50", "60", "79", "80", "200"])
@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_without_click_is_clicks_help(tmp_path, option, columns):
    env = {} if columns is None else {"COLUMNS": columns}
    quick, slow = both_ways(tmp_path, [option], env)
    assert_same(quick, slow)
    assert b"Commands:" in quick.stdout and b"  validate  " in quick.stdout


@pytest.mark.parametrize("argv", [["--help", "status"], ["-h", "-h"], ["status", "--help"]])
def test_other_help_forms_are_clicks(tmp_path, argv):
    quick, slow = both_ways(tmp_path, argv, quick=False)
    assert_same(quick, slow)
    assert quick.returncode == 0
