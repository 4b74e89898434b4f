"""`user`: a job's attempt runs as that user when cronplus is root (issue 14). These
tests run as root, as the suite does here, and use `nobody`."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import wait_until

from cronplus import _wrapper, executor
from cronplus.clock import SystemClock
from cronplus.errors import ExitCode
from cronplus.model import Job, RunStatus

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
NOBODY = pwd.getpwnam("nobody")
WHO = 'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) home=$HOME user=$USER logname=$LOGNAME"'


def who_line(entry: pwd.struct_passwd) -> str:
    groups = " ".join(str(g) for g in os.getgrouplist(entry.pw_name, entry.pw_gid))
    return (
        f"uid={entry.pw_uid} gid={entry.pw_gid} groups={groups} home={entry.pw_dir} "
        f"user={entry.pw_name} logname={entry.pw_name}"
    )


def test_a_job_runs_as_its_user_with_that_users_groups_and_home(project, cli):
    project.write(f"[jobs.who]\ncommand = '{WHO}'\nuser = \"nobody\"\n")
    assert cli("trigger", "who", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "who").stdout == who_line(NOBODY) + "\n"
    # the wrapper stayed root and wrote the status file in the owner-only folder
    (status,) = (project.state / "logs" / "who").glob("*.status")
    assert status.read_text() == "0\n" and status.stat().st_uid == 0


def test_a_defaults_user_applies_and_the_jobs_env_wins_over_passwd(project, cli):
    project.write(f"""
        [defaults]
        user = "{NOBODY.pw_uid}"
        [jobs.who]
        command = '{WHO}'
        env = {{ HOME = "/srv/elsewhere" }}
    """)
    assert cli("trigger", "who", "--wait").exit_code == ExitCode.OK
    expected = who_line(NOBODY).replace(f"home={NOBODY.pw_dir}", "home=/srv/elsewhere")
    assert cli("logs", "who").stdout == expected + "\n"


def test_the_processs_own_user_runs_as_usual(project, cli):
    project.write(f"[jobs.who]\ncommand = '{WHO}'\nuser = \"root\"\n")
    assert cli("trigger", "who", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "who").stdout.startswith("uid=0 gid=0 ")


def test_an_unknown_user_fails_the_run_naming_it(project, cli):
    project.write('[jobs.who]\ncommand = "true"\nuser = "no-such-user-14"\n')
    assert cli("validate").exit_code == ExitCode.OK  # the syntax only
    assert cli("trigger", "who", "--wait").exit_code == ExitCode.NOT_SUCCEEDED
    (run,) = project.store().history("who")
    assert run.status is RunStatus.FAILED
    assert run.reason == 'cannot run as user "no-such-user-14": the user does not exist'


@pytest.mark.parametrize(
    ("value", "problem"), [('""', "user is empty"), ("65534", "user must be a string (got 65534)")]
)
def test_validate_checks_the_users_syntax(project, cli, value, problem):
    project.write(f'[jobs.who]\ncommand = "true"\nuser = {value}\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert f'jobs.toml:3: job "who": {problem}' in result.stderr


@pytest.fixture
def open_folder():
    """A folder `nobody` can read and write (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="cronplus-user-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def _as_nobody(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """cronplus run by `nobody`: not root, and no capability to switch users. It keeps
    one to search folders, only so that it can reach this suite's Python (under
    root's 0700 home here)."""
    setpriv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    setpriv += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    env = {**os.environ, "HOME": os.fspath(folder), "XDG_CACHE_HOME": os.fspath(folder / "c")}
    argv = [*setpriv, sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", "st"]
    return subprocess.run(
        [*argv, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_only_root_can_switch_but_a_user_may_name_itself(open_folder):
    (open_folder / "jobs.toml").write_text(
        '[jobs.up]\ncommand = "true"\nuser = "root"\n'
        f"[jobs.me]\ncommand = '{WHO}'\nuser = \"nobody\"\n"
    )
    done = _as_nobody(open_folder, "trigger", "up", "--wait")
    assert done.returncode == ExitCode.NOT_SUCCEEDED, done.stderr
    history = _as_nobody(open_folder, "history", "up", "--json")
    assert 'cannot run as user \\"root\\": only root can switch users' in history.stdout
    assert _as_nobody(open_folder, "trigger", "me", "--wait").returncode == ExitCode.OK
    logs = _as_nobody(open_folder, "logs", "me").stdout
    assert logs.startswith(f"uid={NOBODY.pw_uid} gid={NOBODY.pw_gid} groups={NOBODY.pw_gid} ")


@pytest.mark.skipif(not os.access("/usr/bin/python3", os.X_OK), reason="needs /usr/bin/python3")
def test_a_python_job_runs_as_its_user(open_folder, monkeypatch):
    """The job's Python is cronplus's; this suite's is under root's 0700 home, so a
    Python `nobody` can run stands in for it."""
    from click.testing import CliRunner

    from cronplus.cli import cli as cli_group

    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    monkeypatch.setenv("PYTHONPATH", os.fspath(Path(executor.__file__).parents[1]))
    (open_folder / "whoami_job.py").write_text(
        "import os\ndef main():\n    print(os.getuid(), os.getgid(), os.environ['USER'])\n"
    )
    jobs = open_folder / "jobs.toml"
    jobs.write_text('[jobs.py]\npython = "whoami_job:main"\nuser = "nobody"\n')
    common = ["-c", os.fspath(jobs), "--state", os.fspath(open_folder / "st")]
    runner = CliRunner()
    done = runner.invoke(cli_group, [*common, "trigger", "py", "--wait"], catch_exceptions=False)
    logs = runner.invoke(cli_group, [*common, "logs", "py"], catch_exceptions=False).stdout
    assert done.exit_code == ExitCode.OK, logs
    assert logs == f"{NOBODY.pw_uid} {NOBODY.pw_gid} nobody\n"


def _job(**kw) -> Job:
    return Job(name="j", cwd=Path("/"), **kw)


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_a_timeout_kills_the_switched_jobs_whole_session(tmp_path):
    log = tmp_path / "1-1.log"
    job = _job(command="sleep 60 & sleep 60", user="nobody", timeout=_s(0.5), kill_grace=_s(2))
    env = executor.build_env(
        job, run_id=1, attempt=1, trigger="manual", scheduled_for=datetime.now(UTC)
    )
    handle = executor.start_attempt(job, env, log, jobs_folder=tmp_path, clock=SystemClock())
    assert isinstance(handle, executor.AttemptHandle)
    # a daemon started after a crash finds the (root) wrapper by its argv
    assert wait_until(lambda: _wrapper.find_wrapper(handle.status_path) == handle.pid)
    result = handle.wait()
    assert result.status is RunStatus.TIMED_OUT
    with pytest.raises(ProcessLookupError):
        os.killpg(handle.pid, 0)


def test_the_switch_runs_as_root_without_the_jobs_python_settings(project, cli, open_folder):
    """The shim runs as root in the job's environment: a `PYTHONPATH` there must not
    give it code to run (a `sitecustomize` would run first, as root)."""
    (open_folder / "sitecustomize.py").write_text(
        "import sys; print('HIJACKED', file=sys.stderr)\n"
    )
    project.write(f"""
        [jobs.who]
        command = "id -u"
        user = "nobody"
        env = {{ PYTHONPATH = "{open_folder}" }}
    """)
    assert cli("trigger", "who", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "who").stdout == f"{NOBODY.pw_uid}\n"


RUN_NAMES = {f"CRONPLUS_{n}" for n in ("JOB", "RUN_ID", "ATTEMPT", "TRIGGER", "SCHEDULED_FOR")}
RUN_NAMES.add("CRONPLUS_LOGICAL_DATE")
RUN_NAMES.add("CRONPLUS_HOST")  # issue 17


def test_a_switched_job_gets_a_cron_like_environment_not_the_daemons(project, cli, monkeypatch):
    """The daemon's own variables (its web token, the secrets alert URLs read, root's
    runtime folder and PATH) are not the job's user's to see."""
    for name in [n for n in os.environ if n.startswith("LC_") or n == "LANGUAGE"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("CRONPLUS_WEB_TOKEN", "tok123")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    monkeypatch.setenv("PATH", "/root/bin:" + os.environ["PATH"])
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.setenv("TZ", "UTC")
    project.write("""
        [defaults]
        env = { FROM_DEFAULTS = "d" }
        [jobs.who]
        command = 'env; for f in /proc/$$/fd/*; do readlink "$f"; done; true'
        user = "nobody"
        env = { OWN = "o" }
    """)
    assert cli("trigger", "who", "--wait").exit_code == ExitCode.OK
    lines = cli("logs", "who").stdout.splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert "memfd" not in "".join(lines)  # the fd that brought the environment is closed
    assert set(env) - {"PWD"} == {
        "PATH", "SHELL", "HOME", "USER", "LOGNAME", "LANG", "LC_TIME", "TZ",
        "FROM_DEFAULTS", "OWN", *RUN_NAMES,
    }  # fmt: skip
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin" and env["SHELL"] == "/bin/sh"
    assert (env["HOME"], env["USER"], env["LOGNAME"]) == (NOBODY.pw_dir, "nobody", "nobody")
    assert (env["LANG"], env["LC_TIME"], env["TZ"], env["OWN"]) == ("C.UTF-8", "C", "UTC", "o")
    assert env["CRONPLUS_JOB"] == "who" and env["CRONPLUS_TRIGGER"] == "manual"


def test_a_switched_jobs_own_path_finds_its_shell_and_is_its_path(project, cli, open_folder):
    (open_folder / "mysh").symlink_to("/bin/sh")
    project.write(f"""
        [jobs.who]
        command = 'echo "$PATH $SHELL"'
        shell = "mysh"
        user = "nobody"
        env = {{ PATH = "{open_folder}:/usr/bin:/bin" }}
    """)
    assert cli("trigger", "who", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "who").stdout == f"{open_folder}:/usr/bin:/bin {open_folder}/mysh\n"


PRELOAD = """
#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void tell(void) {
    FILE *f = fopen("%s", "a");
    if (f) { fprintf(f, "euid=%%d\\n", (int) geteuid()); fclose(f); }
}
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
@pytest.mark.parametrize("kind", ["command", "python"])
def test_the_jobs_environment_never_reaches_root(open_folder, monkeypatch, kind):
    """A job's `LD_PRELOAD` loads its code into the job, as its user, and never into
    the wrapper or the shim, which run as root; the wrapper's environment is fixed."""
    from click.testing import CliRunner

    from cronplus.cli import cli as cli_group

    seen = open_folder / "seen"
    seen.touch(mode=0o666)
    seen.chmod(0o666)
    (open_folder / "tell.c").write_text(PRELOAD % seen)
    library = open_folder / "tell.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", library, open_folder / "tell.c"], check=True)
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")  # one nobody can run
    (open_folder / "sleepy.py").write_text("import time\ndef main():\n    time.sleep(1)\n")
    what = 'python = "sleepy:main"' if kind == "python" else 'command = "sleep 1"'
    jobs = open_folder / "jobs.toml"
    jobs.write_text(
        f'[jobs.j]\n{what}\nuser = "nobody"\n'
        f'env = {{ LD_PRELOAD = "{library}", SECRET = "s3cret" }}\n'
    )
    common = ["-c", os.fspath(jobs), "--state", os.fspath(open_folder / "st")]
    logs = open_folder / "st" / "logs" / "j"
    seen_root: list[bytes] = []

    def watch() -> None:  # the root wrapper's environment and argv, while it runs
        found = wait_until(lambda: [*filter(None, map(_wrapper.find_wrapper, logs.glob("*.s*")))])
        proc = Path(f"/proc/{found[0]}")
        seen_root.extend([(proc / "environ").read_bytes(), (proc / "cmdline").read_bytes()])

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = CliRunner().invoke(cli_group, [*common, "trigger", "j", "--wait"])
    watcher.join(10)
    assert result.exit_code == ExitCode.OK, result.output
    assert set(seen.read_text().split()) == {f"euid={NOBODY.pw_uid}"}
    environ, cmdline = seen_root
    assert environ == b"PATH=/usr/bin:/bin\0" and b"s3cret" not in cmdline


def test_a_nul_byte_in_a_switched_jobs_env_fails_the_run_naming_it(tmp_path):
    job = _job(command="true", user="nobody", env={"BAD": "a\0b"})
    env = executor.build_env(
        job, run_id=1, attempt=1, trigger="manual", scheduled_for=datetime.now(UTC)
    )
    result = executor.start_attempt(
        job, env, tmp_path / "1-1.log", jobs_folder=tmp_path, clock=SystemClock()
    )
    assert not isinstance(result, executor.AttemptHandle)
    assert result.reason == 'cannot start: environment variable "BAD" contains a NUL byte'
