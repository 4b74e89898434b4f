"""Issue 14, "At the terminal": `cronplus init` writes a starter jobs file that passes
`validate` and names every key the loader knows, so it cannot go stale."""

from __future__ import annotations

import re
import stat
import subprocess
import sys

from cronplus.config._checks import ALERTS_KEYS
from cronplus.config._loader import DEFAULTS_ONLY, JOB_KEYS, TOP_KEYS
from cronplus.config._values import system_timezone

NEW_KEYS = ("user", "max_log_bytes", "jitter", "keep_runs", "keep_days")  # issue 14's


def cronplus(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cronplus", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_writes_a_file_validate_passes(project):
    (project.root / "cron").mkdir()
    made = cronplus(project, "-c", "cron/jobs.toml", "init")
    assert made.returncode == 0, made.stderr
    path = project.root / "cron" / "jobs.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    checked = cronplus(project, "-c", "cron/jobs.toml", "validate")
    assert checked.returncode == 0, checked.stderr
    assert "2 jobs, no problems" in checked.stdout
    listed = cronplus(project, "-c", "cron/jobs.toml", "next", "-n", "1", "--json")
    assert listed.returncode == 0 and '"hello"' in listed.stdout


def test_init_uses_the_default_path_and_this_hosts_zone(project, cli):
    result = cli("init")  # the fixture's -c is jobs.toml, as a bare `cronplus init`
    assert result.exit_code == 0, result.output
    text = project.jobs_file.read_text()
    assert f'timezone = "{system_timezone()}"' in text.split("[jobs.", 1)[0]
    assert re.search(r'^after = \["hello"\]$', text, re.M)


def test_init_never_replaces_a_file(project, cli):
    project.write('[jobs.mine]\ncommand = "true"\n')
    before = project.jobs_file.read_text()
    result = cli("init")
    assert result.exit_code == 2
    assert "jobs.toml exists; cronplus init writes a new file only" in result.stderr
    assert project.jobs_file.read_text() == before


def test_every_key_the_loader_knows_is_in_the_starter_file(project, cli):
    cli("init")
    text = project.jobs_file.read_text()
    keys = set(JOB_KEYS) | set(DEFAULTS_ONLY) | set(ALERTS_KEYS) | set(NEW_KEYS)
    missing = [k for k in sorted(keys) if not re.search(rf"^(# )?{k} = ", text, re.M)]
    assert missing == []
    for table in TOP_KEYS:
        assert re.search(rf"^(# )?\[{table}[.\]]", text, re.M), table
    set_here = re.findall(r"^(\w+) = ", text, re.M)
    assert sorted(set_here) == sorted(
        ["timezone", "description", "schedule", "command", "description", "after", "command"]
    )


def test_init_makes_the_missing_folders_above_the_file(project):
    """As the README's `cronplus -c /etc/cronplus/jobs.toml init` needs on a new host:
    the folders 0755 (less the umask), the file 0600."""
    made = subprocess.run(
        ["sh", "-c", 'umask 022; exec "$@"', "sh", sys.executable, "-m", "cronplus"]
        + ["-c", "etc/cronplus/jobs.toml", "init"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    path = project.root / "etc" / "cronplus" / "jobs.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert cronplus(project, "-c", "etc/cronplus/jobs.toml", "validate").returncode == 0


def test_init_says_why_a_folder_cannot_be_made(project):
    (project.root / "plain").write_text("")
    made = cronplus(project, "-c", "plain/jobs.toml", "init")
    assert made.returncode == 2
    assert "cannot create plain/jobs.toml: Not a directory" in made.stderr
