"""`cronplus import-crontab` and the `stdin` job key it needs (issue 14)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cronplus.crontab_import import split_percent
from cronplus.crontab_names import base_name, unique_names
from cronplus.errors import ExitCode

CRONTABS = Path(__file__).parent / "data" / "crontabs"
WORKTREE = Path(__file__).resolve().parent.parent
MACHINE_ZONE = "Europe/Berlin"


def cronplus(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real command, in a subprocess, as a cron user runs it."""
    env = {**os.environ, "PYTHONPATH": str(WORKTREE), "XDG_CACHE_HOME": str(cwd / ".cache")}
    env["TZ"] = MACHINE_ZONE  # the zone of jobs that name none, as on the cron host
    return subprocess.run(
        [sys.executable, "-m", "cronplus", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def imported(project, text: str, *options: str) -> tuple[dict, subprocess.CompletedProcess]:
    source = project.write(text, "crontab")
    done = cronplus("import-crontab", str(source), *options, cwd=project.root)
    return tomllib.loads(done.stdout) if done.stdout else {}, done


# -- the stdin key ------------------------------------------------------------------------------


def test_stdin_is_fed_to_the_command_instead_of_dev_null(project, cli):
    project.write(
        """
        [jobs.read]
        command = "cat; echo end"
        stdin = "line one\\nline two\\n"
        """
    )
    assert cli("trigger", "read", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "read").stdout == "line one\nline two\nend\n"


def test_a_job_without_stdin_still_reads_dev_null(project, cli):
    project.write('[jobs.read]\ncommand = "cat; echo end"\n')
    assert cli("trigger", "read", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "read").stdout == "end\n"


def test_stdin_must_be_a_string_and_is_no_default(project, cli):
    project.write('[defaults]\nstdin = "x"\n[jobs.a]\ncommand = "true"\nstdin = 3\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert "jobs.toml:2: [defaults] stdin can't be a default (set it on each job)" in result.stderr
    assert 'jobs.toml:5: job "a": stdin must be a string (got 3)' in result.stderr


def test_the_read_commands_cache_withholds_stdin(project, cli):
    project.write('[jobs.db]\ncommand = "mysql"\nstdin = "password=hunter2\\n"\n')
    assert cli("status").exit_code == ExitCode.OK
    assert cli("next").exit_code == ExitCode.OK
    cached = [p.read_bytes() for p in (project.root / ".cache").rglob("*") if p.is_file()]
    assert cached, "status keeps a cache entry"
    assert not any(b"hunter2" in data for data in cached)


# -- the corpus: import → validate → next, against cronsim ------------------------------------

# Each crontab of tests/data/crontabs: its options, and the lines import leaves out.
CORPUS = {
    "webserver": ((), {34: 'schedule "0~30 * * * *"',
                       35: 'schedule "* * * * /srv/app/bin/too-few-fields.sh"',
                       36: "not a comment, variable or entry", 37: "no command"}),
    "etc-crontab": (("--system",), {38: "no command"}),
    "reports": ((), {31: 'time zone "Mars/Olympus_Mons" is unknown',
                     32: '"@every" is no schedule cron knows'}),
}  # fmt: skip
# Each side of both DST changes in both zones the corpus uses, and an ordinary month.
STARTS = ("2026-03-07T12:00", "2026-03-28T12:00", "2026-10-24T12:00", "2026-10-31T12:00")
STARTS += ("2026-06-10T00:00",)


# What cronie's entry.c gives each @name (cronsim knows none of them).
CRONIE_ALIASES = {"@yearly": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0"}
CRONIE_ALIASES |= {"@daily": "0 0 * * *", "@hourly": "0 * * * *"}


def cron_times(schedule: str, zone: str, after: str, count: int) -> list[str]:
    """cronsim's fire times (it follows Debian cron, DST included), as UTC instants."""
    from cronsim import CronSim

    start = datetime.fromisoformat(after).replace(tzinfo=ZoneInfo(zone))
    it = CronSim(CRONIE_ALIASES.get(schedule, schedule), start)
    return [next(it).astimezone(ZoneInfo("UTC")).isoformat() for _ in range(count)]


def utc(times: list[str]) -> list[str]:
    return [datetime.fromisoformat(t).astimezone(ZoneInfo("UTC")).isoformat() for t in times]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_corpus_imports_validates_and_fires_as_cron_does(tmp_path, name):
    options, left_out = CORPUS[name]
    source = CRONTABS / name
    done = cronplus("import-crontab", str(source), *options, "-o", "jobs.toml", cwd=tmp_path)
    assert done.returncode == ExitCode.NOT_SUCCEEDED, done.stderr
    reported = {
        int(line.split(":")[1]): line for line in done.stderr.splitlines() if "left out" in line
    }
    assert sorted(reported) == sorted(left_out)
    lines = source.read_text().splitlines()
    for n, reason in left_out.items():
        assert reported[n].startswith(f"{source}:{n}: left out: {reason}")
        assert reported[n].endswith(f": {lines[n - 1].strip()}")
    document = tomllib.loads((tmp_path / "jobs.toml").read_text())
    if "--system" in options:  # each job keeps its user, and `validate` accepts it
        assert {j["user"] for j in document["jobs"].values()} == {
            "root",
            "postgres",
            "backup",
            "www-data",
        }
    entries = [n for n, line in enumerate(lines, 1) if _is_entry(line)]
    assert len(document["jobs"]) == len(entries) - len(left_out)
    assert cronplus("-c", "jobs.toml", "validate", cwd=tmp_path).returncode == ExitCode.OK
    defaults = document.get("defaults", {})
    for after in STARTS:
        shown = cronplus("-c", "jobs.toml", "next", "--json", "-n", "30", "--after", after,
                         cwd=tmp_path)  # fmt: skip
        assert shown.returncode == ExitCode.OK, shown.stderr
        for row in json.loads(shown.stdout):
            job = document["jobs"][row["job"]]
            zone = job.get("timezone", defaults.get("timezone", MACHINE_ZONE))
            reboot = job["schedule"] == "@reboot"  # no fire times: at each daemon start
            expected = [] if reboot else cron_times(job["schedule"], zone, after, 30)
            assert utc(row["fire_times"]) == expected, (row["job"], after)


def _is_entry(line: str) -> bool:
    """An entry, or a line that is no comment, blank or variable either."""
    text = line.strip()
    return bool(text) and text[0] != "#" and not re.match(r"[A-Za-z_]\w*\s*=", text)


def test_the_corpus_holds_60_entries_in_3_crontabs():
    entries = [
        line for name in CORPUS for line in (CRONTABS / name).read_text().splitlines()
        if _is_entry(line)
    ]  # fmt: skip
    assert len(CORPUS) >= 3
    assert len(entries) >= 60


# -- where the crontab comes from, where the file goes --------------------------------------------


def test_dash_reads_stdin_and_names_it_so_in_messages(tmp_path):
    done = cronplus("import-crontab", "-", cwd=tmp_path, stdin="0 3 * * * true\nbad line\n")
    assert done.returncode == ExitCode.NOT_SUCCEEDED
    assert "<stdin>:2: left out: not a comment, variable or entry: bad line" in done.stderr
    assert tomllib.loads(done.stdout)["jobs"]["true"]["schedule"] == "0 3 * * *"


def test_everything_imported_exits_0(tmp_path):
    done = cronplus("import-crontab", "-", cwd=tmp_path, stdin="MAILTO=a@x.org\n@daily true\n")
    assert done.returncode == ExitCode.OK, done.stderr


def fake_crontab(tmp_path: Path, script: str) -> dict[str, str]:
    """PATH with a `crontab` that runs `script` (the real one needs a cron install)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "crontab").write_text(f"#!/bin/sh\n{script}\n")
    (folder / "crontab").chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


def test_no_file_reads_crontab_l(tmp_path, monkeypatch):
    env = fake_crontab(tmp_path, '[ "$1" = -l ] && printf "*/5 * * * * /opt/poll.sh\\n"')
    monkeypatch.setenv("PATH", env["PATH"])
    done = cronplus("import-crontab", cwd=tmp_path)
    assert done.returncode == ExitCode.OK, done.stderr
    assert tomllib.loads(done.stdout)["jobs"]["poll"]["command"] == "/opt/poll.sh"


def test_crontab_l_failing_writes_nothing_and_exits_2(tmp_path, monkeypatch):
    env = fake_crontab(tmp_path, 'echo "no crontab for deploy" >&2; exit 1')
    monkeypatch.setenv("PATH", env["PATH"])
    done = cronplus("import-crontab", "-o", "jobs.toml", cwd=tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "crontab -l: no crontab for deploy" in done.stderr
    assert not (tmp_path / "jobs.toml").exists()


def test_output_file_is_created_owner_only_and_never_replaced_without_force(tmp_path):
    crontab = "0 1 * * * /opt/a.sh\n"
    assert (
        cronplus("import-crontab", "-", "-o", "out.toml", cwd=tmp_path, stdin=crontab).returncode
        == 0
    )
    out = tmp_path / "out.toml"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    out.write_text("# mine\n")
    again = cronplus("import-crontab", "-", "-o", "out.toml", cwd=tmp_path, stdin=crontab)
    assert again.returncode == ExitCode.USAGE
    assert '"out.toml" exists (--force replaces it)' in again.stderr
    assert out.read_text() == "# mine\n"
    forced = cronplus(
        "import-crontab", "-", "-o", "out.toml", "--force", cwd=tmp_path, stdin=crontab
    )
    assert forced.returncode == ExitCode.OK
    assert "[jobs.a]" in out.read_text()


def test_a_crontab_whose_every_line_is_left_out_exits_1_with_a_file_of_no_jobs(tmp_path):
    done = cronplus("import-crontab", "-", "-o", "jobs.toml", cwd=tmp_path, stdin="@every x\n")
    assert done.returncode == ExitCode.NOT_SUCCEEDED
    assert '<stdin>:1: left out: "@every" is no schedule cron knows: @every x' in done.stderr
    assert tomllib.loads((tmp_path / "jobs.toml").read_text()) == {"jobs": {}}
    assert cronplus("-c", "jobs.toml", "validate", cwd=tmp_path).returncode == ExitCode.OK


def test_reboot_is_kept_as_a_schedule(tmp_path):
    crontab = "@reboot /srv/app/bin/start-workers.sh\n"
    done = cronplus("import-crontab", "-", "-o", "jobs.toml", cwd=tmp_path, stdin=crontab)
    assert done.returncode == ExitCode.OK, done.stderr
    jobs = tomllib.loads((tmp_path / "jobs.toml").read_text())["jobs"]
    assert jobs["start-workers"]["schedule"] == "@reboot"
    assert cronplus("-c", "jobs.toml", "validate", cwd=tmp_path).returncode == ExitCode.OK


def test_the_same_crontab_gives_the_same_bytes(tmp_path):
    first = cronplus("import-crontab", str(CRONTABS / "reports"), cwd=tmp_path)
    second = cronplus("import-crontab", str(CRONTABS / "reports"), cwd=tmp_path)
    assert first.stdout == second.stdout and first.stdout


def test_an_imported_job_runs_with_its_stdin_env_and_shell(tmp_path):
    crontab = 'SHELL=/bin/bash\nGREETING = "hello there"\n'
    crontab += '* * * * * echo "$GREETING $BASH_VERSINFO"; cat%one%two \\% three\n'
    done = cronplus("import-crontab", "-", "-o", "jobs.toml", cwd=tmp_path, stdin=crontab)
    assert done.returncode == ExitCode.OK, done.stderr
    (name,) = tomllib.loads((tmp_path / "jobs.toml").read_text())["jobs"]
    ran = cronplus("-c", "jobs.toml", "trigger", name, "--wait", cwd=tmp_path)
    assert ran.returncode == ExitCode.OK, ran.stderr
    logs = cronplus("-c", "jobs.toml", "logs", name, cwd=tmp_path)
    bash = subprocess.run(["bash", "-c", "echo $BASH_VERSINFO"], capture_output=True, text=True)
    assert logs.stdout == f"hello there {bash.stdout.strip()}\none\ntwo % three\n"


# -- cron's rules, line by line --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("date +\\%Y", ("date +%Y", None)),
        ("cat%a%b", ("cat", "a\nb\n")),
        ("cat % a \\% b %c", ("cat ", " a % b \nc\n")),
        ("mail -s hi root%%", ("mail -s hi root", "\n\n")),
        ("echo \\ back", ("echo \\ back", None)),
    ],
)
def test_percent_ends_the_command_and_the_rest_is_stdin(command, expected):
    assert split_percent(command) == expected


def test_variables_apply_below_them_as_cronie_parses_them(project):
    document, done = imported(
        project,
        """
        0 1 * * * /opt/first.sh
        NAME = "quoted value"
        OTHER='single'
         SPACED   =   bare value \t
        CRON_TZ=Europe/Berlin
        0 2 * * * /opt/second.sh
        TZ=America/New_York
        SHELL=/bin/bash
        0 3 * * * /opt/third.sh
        CRON_TZ=
        0 4 * * * /opt/fourth.sh
        """,
    )
    assert done.returncode == ExitCode.OK, done.stderr
    jobs = document["jobs"]
    assert "env" not in jobs["first"] and "timezone" not in jobs["first"]
    env = {"NAME": "quoted value", "OTHER": "single", "SPACED": "bare value"}
    assert jobs["second"]["env"] == env
    assert jobs["second"]["timezone"] == "Europe/Berlin"
    assert jobs["third"]["timezone"] == "Europe/Berlin"  # CRON_TZ rules the schedule
    assert jobs["third"]["env"] == {**env, "TZ": "America/New_York"}
    assert jobs["third"]["shell"] == "/bin/bash"
    assert jobs["fourth"]["timezone"] == "America/New_York"  # TZ, once CRON_TZ is unset
    assert "PATH" not in str(document)  # nothing added for cron's defaults


def test_mailto_becomes_an_alert_url_and_an_empty_one_no_mail(project):
    document, done = imported(
        project,
        """
        0 1 * * * /opt/unmailed.sh
        MAILTO=a@x.org, b@y.org
        0 2 * * * /opt/mailed.sh
        MAILTO=""
        0 3 * * * /opt/silent.sh
        """,
    )
    jobs = document["jobs"]
    assert "alerts" not in document and "alerts" not in jobs["unmailed"]
    assert jobs["mailed"]["alerts"] == {"urls": ["mailto://localhost:25?to=a@x.org,b@y.org"]}
    assert "alerts" not in jobs["silent"]
    assert (
        "crontab:2: note: MAILTO: alerts go to mailto://localhost:25?to=a@x.org,b@y.org: "
        "fill in your SMTP host" in done.stderr
    )
    assert "crontab:1: note: no MAILTO above this entry: cron would mail the crontab's owner" in (
        done.stderr
    )


def test_what_every_job_shares_goes_once_into_defaults_and_alerts(project):
    document, _ = imported(
        project,
        """
        MAILTO=ops@x.org
        CRON_TZ=Asia/Tokyo
        SHELL=/bin/bash
        PATH=/usr/bin:/bin
        0 1 * * * /opt/a.sh
        HOME=/srv
        0 2 * * * /opt/b.sh
        """,
    )
    assert document["defaults"] == {
        "timezone": "Asia/Tokyo",
        "shell": "/bin/bash",
        "env": {"PATH": "/usr/bin:/bin"},
    }
    assert document["alerts"] == {"urls": ["mailto://localhost:25?to=ops@x.org"]}
    assert document["jobs"] == {
        "a": {"schedule": "0 1 * * *", "command": "/opt/a.sh"},
        "b": {"schedule": "0 2 * * *", "command": "/opt/b.sh", "env": {"HOME": "/srv"}},
    }
    assert list(document) == ["defaults", "alerts", "jobs"]


def test_the_comment_block_above_an_entry_is_its_description(project):
    document, _ = imported(
        project,
        """
        # Not about anything: a blank line follows.

        # m h  dom mon dow   command
        #   Backs up   the database
        ## every night.
        30 2 * * * /opt/backup.sh
        # Above a variable, not an entry.
        X=1
        0 3 * * * /opt/other.sh
        # Ended by the header line.
        # m h dom mon dow command
        0 4 * * * /opt/third.sh
        """,
    )
    jobs = document["jobs"]
    assert jobs["backup"]["description"] == "Backs up   the database every night."
    assert "description" not in jobs["other"]
    assert "description" not in jobs["third"]


def test_schedules_are_copied_as_written_and_two_aliases_renamed(project):
    document, _ = imported(
        project,
        """
        0-59/7\t*/2 1,15 jan-mar mon-fri /opt/a.sh
        @annually /opt/b.sh
        @midnight /opt/c.sh
        @monthly /opt/d.sh
        0 0 * * 7 /opt/e.sh
        """,
    )
    schedules = [job["schedule"] for job in document["jobs"].values()]
    assert schedules == ["0-59/7 */2 1,15 jan-mar mon-fri", "@yearly", "@daily", "@monthly",
                         "0 0 * * 7"]  # fmt: skip


def test_system_crontab_reads_the_user_column_and_says_when_it_is_acted_on(project):
    document, done = imported(project, "0 1 * * * root /opt/a.sh\n", "--system")
    assert document["jobs"]["a"] == {"schedule": "0 1 * * *", "command": "/opt/a.sh",
                                     "user": "root"}  # fmt: skip
    assert 'crontab:1: note: the user column goes into "user": a job runs as its user when' in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("cd /srv && ./bin/rotate-logs", "rotate-logs"),
        ("/opt/backup.sh >> /var/log/backup.log 2>&1", "backup"),
        ("/opt/backup.sh 2> /dev/null", "backup"),
        ("python3 /srv/manage.py clearsessions --noinput", "manage_clearsessions"),
        ("/usr/bin/python3.11 -u /srv/etl.py", "etl"),
        ("bash -x /opt/deploy.sh prod | logger", "deploy_prod"),
        ("perl /opt/stats.pl", "stats_pl"),
        ("nice -n 19 ionice -c3 /usr/bin/find /tmp -mtime +7 -delete", "ionice_find"),
        ("nohup /opt/worker.sh &", "worker"),
        ("timeout -s KILL 5m /opt/poll.sh queue", "poll_queue"),
        ("flock -n /run/x.lock /opt/sync.sh /data/", "sync_data"),
        ("flock /run/x.lock -c '/opt/sync.sh now'", "sync_now"),
        ("LANG=C FOO=bar /opt/report.sh", "report"),
        ("test -x /usr/bin/foo && /usr/bin/foo --bar baz", "foo_baz"),
        ("[ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean", "sessionclean"),
        ("/opt/a.sh; /opt/b.sh", "a"),
        ('"/opt/Big Job.sh" --now', "big_job"),
        ("/opt/" + "x" * 60 + ".sh", "x" * 40),
        ("/opt/tool.exe", "tool_exe"),
    ],
)
def test_names_follow_the_program_and_its_first_argument(command, name):
    assert base_name(command) == name


def test_taken_names_get_a_number_and_the_prefix_goes_in_front():
    commands = ["/opt/a.sh", "/opt/a.sh", "/opt/b.sh", "/opt/a.sh"]
    assert unique_names(commands) == ["a", "a_2", "b", "a_3"]
    assert unique_names(commands, "old-") == ["old-a", "old-a_2", "old-b", "old-a_3"]


def test_prefix_names_every_job_and_an_invalid_one_exits_2(tmp_path):
    crontab = "0 1 * * * /opt/a.sh\n"
    done = cronplus("import-crontab", "-", "--prefix", "cron_", cwd=tmp_path, stdin=crontab)
    assert list(tomllib.loads(done.stdout)["jobs"]) == ["cron_a"]
    bad = cronplus("import-crontab", "-", "--prefix", "-x", "-o", "j.toml", cwd=tmp_path,
                   stdin=crontab)  # fmt: skip
    assert bad.returncode == ExitCode.USAGE
    assert '--prefix "-x"' in bad.stderr
    assert not (tmp_path / "j.toml").exists()
