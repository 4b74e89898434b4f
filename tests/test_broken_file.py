"""While the jobs file on disk has problems, the commands that only read still answer
(from the configuration the daemon runs, else the jobs that can be read), with a
one-line warning; the commands that run jobs keep refusing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import record, wait_until

from cronplus.errors import ExitCode

GOOD = """
    [jobs.load]
    schedule = "0 3 * * *"
    timezone = "UTC"
    command = "true"
"""
BROKEN = (
    GOOD
    + """
    [jobs.report]
    comand = "true"
"""
)


def test_read_commands_answer_from_the_jobs_that_can_be_read(project, cli):
    project.write(GOOD)
    record(project.store(), "load", datetime.now(UTC) - timedelta(seconds=30), "succeeded")
    project.write(BROKEN)
    for args in (["status"], ["history", "load"], ["logs", "load"], ["next"], ["alerts"]):
        result = cli(*args)
        assert result.exit_code in (ExitCode.OK, ExitCode.NOT_SUCCEEDED), result.output
        assert result.stderr.splitlines()[0] == (
            'Warning: jobs.toml has 2 problems (the first: jobs.toml:6: job "report": has '
            'neither command nor python (add command = "..." or python = '
            '"package.module:function"); cronplus validate lists them); '
            "showing the 1 job(s) that can be read"
        ), result.stderr
        assert "Traceback" not in result.output
    status = json.loads(cli("status", "--json").stdout)
    assert [r["job"] for r in status] == ["load"]
    assert status[0]["last_run"]["status"] == "succeeded"
    assert cli("status").exit_code == ExitCode.OK


@pytest.mark.parametrize(
    "args",
    [
        ["trigger", "load", "--wait"],
        ["backfill", "load", "--from", "2024-01-01", "--to", "2024-01-01"],
        ["run"],
        ["validate"],
    ],
)
def test_commands_that_run_jobs_keep_refusing_a_broken_file(project, cli, args):
    project.write(BROKEN)
    result = cli(*args)
    assert result.exit_code == ExitCode.USAGE
    assert 'unknown key "comand"' in result.stderr
    assert not (project.state / "state.db").exists()


def test_a_file_that_cannot_be_read_is_refused_unless_a_daemon_kept_a_copy(project, cli):
    from cronplus.engine_jobs import record_config

    project.write(GOOD)
    config = project.config()
    record(project.store(), "load", datetime.now(UTC) - timedelta(seconds=30), "succeeded")
    project.write("[jobs.load\n")
    # No copy: as before, a file that cannot be parsed (or a mistyped -c) is refused.
    refused = cli("history", "load")
    assert refused.exit_code == ExitCode.USAGE
    assert "jobs.toml:1" in refused.stderr
    assert cli("-c", "nope.toml", "status").exit_code == ExitCode.USAGE
    # The daemon keeps a copy of the file it runs: read commands answer from it.
    record_config(project.store(), config)
    result = cli("history", "load", "--json")
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout)[0]["status"] == "succeeded"
    assert "showing the configuration the daemon last ran from it" in result.stderr


def test_a_broken_file_keeps_read_commands_on_the_state_it_names(project):
    from click.testing import CliRunner

    from cronplus.cli import cli as cli_group
    from cronplus.paths import StatePaths
    from cronplus.store import open_store

    elsewhere = '[defaults]\nstate = "elsewhere"\n\n[jobs.load]'
    store = open_store(StatePaths(project.root / "elsewhere"))
    record(store, "load", datetime.now(UTC) - timedelta(seconds=30), "succeeded")
    store.close()
    project.write(BROKEN.replace("[jobs.load]", elsewhere))
    # No --state: the broken file's [defaults].state still says where the state is.
    result = CliRunner().invoke(cli_group, ["-c", "jobs.toml", "status", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout)[0]["last_run"]["status"] == "succeeded"
    # A problem in [defaults] leaves no job readable: the daemon's copy (which keeps no
    # state key) is read from the state the file names, and shows `load` there.
    from cronplus.engine_jobs import record_config

    project.write(GOOD.replace("[jobs.load]", elsewhere))
    store = open_store(StatePaths(project.root / "elsewhere"))
    record_config(store, project.config())
    store.close()
    project.write(GOOD.replace("[jobs.load]", elsewhere.replace("\n\n", "\nbogus = 1\n\n")))
    result = CliRunner().invoke(cli_group, ["-c", "jobs.toml", "status", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    assert "the daemon last ran" in result.stderr
    assert json.loads(result.stdout)[0]["last_run"]["status"] == "succeeded"


@pytest.mark.slow
def test_read_commands_show_the_configuration_the_daemon_runs(project, cli, daemon):
    project.write("""
        [jobs.tick]
        schedule = "0 3 * * *"
        timezone = "UTC"
        command = "true"
        description = "the one the daemon runs"
    """)
    d = daemon()
    d.wait_started()
    # Saved broken, and without `tick`: the daemon keeps running the old file.
    project.write("""
        [jobs.other]
        schedul = "0 4 * * *"
        command = "true"
    """)
    wait_until(lambda: "event=reload-rejected" in d.stderr, 15)
    result = cli("status", "tick", "--json")
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout)[0]["description"] == "the one the daemon runs"
    assert "showing the configuration the daemon last ran from it" in result.stderr
    # Fixed: the file on disk is what status shows again, with no warning.
    project.write("""
        [jobs.other]
        schedule = "0 4 * * *"
        command = "true"
    """)
    result = cli("status", "--json")
    assert [r["job"] for r in json.loads(result.stdout)] == ["other"]
    assert result.stderr == ""


def test_what_the_daemon_keeps_of_the_file_holds_none_of_its_secrets():
    from cronplus.config import reading_view

    view = reading_view("""
[defaults]
env = { DB_PASSWORD = "hunter2-secret" }
env_file = "alerts.env"
timezone = "Europe/Berlin"

[alerts]
urls = ["slack://T0K3N/B0T/S3CR3T"]

[jobs.load]
schedule = "0 3 * * *"
command = "psql postgres://app:pa55w0rd@db/x -c 'select 1'"
description = "nightly load"
alerts = { urls = ["json://user:pw-secret@hooks.example.com/x"] }
""")
    for secret in ("hunter2-secret", "alerts.env", "T0K3N", "pa55w0rd", "pw-secret"):
        assert secret not in view
    assert 'schedule = "0 3 * * *"' in view and "nightly load" in view
    assert 'timezone = "Europe/Berlin"' in view
