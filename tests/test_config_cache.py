"""The checked jobs file the read commands keep between runs (config/_cache.py): what
they load from it is what a fresh load gives, and anything that changes that result
is seen."""

from __future__ import annotations

import os
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from cronplus.config import _cache, load_config, load_config_kept
from cronplus.errors import ConfigError
from cronplus.model import Config

ROOT = Path(__file__).resolve().parent.parent

EVERY_KEY = """
[defaults]
timezone = "Europe/Berlin"
retries = 2
retry_delay = "30s"
retry_backoff = 1.5
retry_max_delay = "10m"
timeout = "1h"
kill_grace = "5s"
start_grace = "2m"
overlap = "queue"
catchup = "all"
catchup_limit = 7
env = { SHARED = "1" }
cwd = "~/work"
state = "state-here"
max_parallel = 3
shell = "/bin/bash"

[alerts]
urls = ["mailto://ops@example.com"]
on = ["failure", "late"]
repeat_after = "2h"
heartbeat = "https://hc.example.com/ping/x"

[jobs.extract]
schedule = "30 2 * * 1-5"
command = "extract --all"
description = "pull the day's rows"
expected_duration = "20m"
env = { ONLY = "extract" }
alerts = { urls = ["json://hook.example.com"] }

[jobs.load]
after = ["extract"]
python = "etl.load:main"
alerts = false
enabled = false

[jobs.report]
after = ["extract", "load"]
command = "report"
overlap = "replace"
catchup = "none"
timeout = "90s"

[jobs.tables]
after = ["extract"]
command = "dump $CRONPLUS_ITEM"
for_each = "list-tables --token s"
for_each_max = 50
item_parallel = 4

[jobs.tick]
schedule = "*/5 * * * * *"
timezone = "Asia/Tokyo"
command = "tick"
retries = 0
"""


@pytest.fixture(autouse=True)
def own_cache(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    monkeypatch.setenv("TZ", "UTC")
    return folder / "cronplus"


def withheld(config: Config) -> Config:
    """What the read commands get: `config` without its commands, env values and alert
    URLs, which may hold passwords and tokens (a job keeps whether it has a command,
    and its env's names)."""
    hidden = _cache.WITHHELD
    jobs = {
        name: replace(
            job,
            command=None if job.command is None else hidden,
            for_each=None if job.for_each is None else hidden,
            env=dict.fromkeys(job.env, hidden),
            alerts=job.alerts and replace(job.alerts, urls=(), heartbeat=None),
        )
        for name, job in config.jobs.items()
    }
    alerts = config.alerts and replace(config.alerts, urls=(), heartbeat=None)
    return replace(config, jobs=jobs, alerts=alerts)


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("config-*.marshal")) if folder.exists() else []


def assert_same(kept: Config, fresh: Config) -> None:
    """Equal, and of the same types field by field: a StrEnum equals its string, so
    `==` alone would not see an enum come back as a plain str."""
    assert kept == fresh
    assert kept.source == fresh.source
    assert list(kept.jobs) == list(fresh.jobs)
    for name, job in fresh.jobs.items():
        for f in fields(job):
            mine, theirs = getattr(kept.jobs[name], f.name), getattr(job, f.name)
            assert type(mine) is type(theirs), (name, f.name)
    assert type(kept.alerts) is type(fresh.alerts)


def generated(n: int) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from many_jobs import jobs_toml
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return jobs_toml(n)[0]


@pytest.mark.parametrize(
    "source",
    ["examples/jobs.toml", "examples/nightly.toml", "every key", "generated"],
)
def test_the_kept_load_equals_a_fresh_load(project, own_cache: Path, source: str) -> None:
    if source == "every key":
        project.write(EVERY_KEY)
    elif source == "generated":
        project.write(generated(300))
    else:
        project.write((ROOT / source).read_text())
    fresh = load_config(project.jobs_file)
    first = load_config_kept(project.jobs_file)  # checks, and keeps the result
    assert len(entries(own_cache)) == 1
    absolute = Path(os.path.abspath(project.jobs_file))
    key = _cache.key_of(project.jobs_file.read_text(), absolute)
    assert _cache.load(absolute, key) is not None  # the next load comes from the cache
    second = load_config_kept(project.jobs_file)
    assert_same(first, withheld(fresh))  # a miss gives what a hit gives
    assert_same(second, withheld(fresh))
    assert second.alert_env is not None


def test_an_edit_of_the_same_size_and_time_is_seen(project) -> None:
    path = project.write('[jobs.a]\nschedule = "0 3 * * *"\ncommand = "x"\n')
    st = path.stat()
    assert load_config_kept(path).jobs["a"].schedule == "0 3 * * *"
    path.write_text('[jobs.a]\nschedule = "0 4 * * *"\ncommand = "x"\n')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert load_config_kept(path).jobs["a"].schedule == "0 4 * * *"


def test_no_secret_of_the_file_is_kept(project, own_cache: Path) -> None:
    """Commands, env values and alert URLs may hold passwords and tokens: they never
    reach the cache (the read commands show none of them)."""
    secret = "tok3nS3CR3Tvalue"
    text = EVERY_KEY.replace("ops@example.com", f"ops:{secret}@example.com")
    text = text.replace('"extract --all"', f'"extract --password {secret}"')
    text = text.replace('ONLY = "extract"', f'ONLY = "{secret}"')
    text = text.replace("--token s", f"--token {secret}")
    path = project.write(text.replace("/ping/x", f"/ping/{secret}"))
    assert text.count(secret) == 4
    kept = load_config_kept(path)
    load_config_kept(path)
    [entry] = entries(own_cache)
    assert secret.encode() not in entry.read_bytes()
    assert secret not in repr(replace(kept, source=None))
    assert kept.jobs["extract"].env == {"SHARED": _cache.WITHHELD, "ONLY": _cache.WITHHELD}


@pytest.mark.parametrize("command", [("status",), ("next", "-n", "3"), ("status", "--json")])
def test_the_read_commands_print_the_same_from_the_cache(project, cli, command) -> None:
    project.write(EVERY_KEY + generated(40))
    outputs = {cli(*command).stdout for _ in range(2)}  # checked, then from the cache
    assert len(outputs) == 1
    assert "(withheld" not in outputs.pop()


@pytest.mark.parametrize("damage", [b"", b"not marshal at all", "truncated", "other key"])
def test_a_damaged_entry_is_ignored_and_replaced(project, own_cache: Path, damage) -> None:
    path = project.write(EVERY_KEY)
    fresh = load_config(path)
    load_config_kept(path)
    [entry] = entries(own_cache)
    good = entry.read_bytes()
    if damage == "truncated":
        damage = good[: len(good) // 2]
    elif damage == "other key":
        import marshal

        fmt, _, payload = marshal.loads(good)
        damage = marshal.dumps((fmt, b"x" * 32, payload))
    entry.write_bytes(damage)
    assert_same(load_config_kept(path), withheld(fresh))
    assert entry.read_bytes() == good  # rebuilt


def test_an_entry_others_can_read_or_write_is_not_believed(project, own_cache: Path) -> None:
    path = project.write(EVERY_KEY)
    load_config_kept(path)
    [entry] = entries(own_cache)
    assert entry.stat().st_mode & 0o777 == 0o600
    assert own_cache.stat().st_mode & 0o777 == 0o700
    absolute = Path(os.path.abspath(path))
    key = _cache.key_of(path.read_text(), absolute)
    entry.chmod(0o644)
    assert _cache.load(absolute, key) is None


def test_a_file_with_problems_is_never_kept_and_says_where(project, own_cache: Path) -> None:
    path = project.write('[jobs.a]\nschedule = "0 3 * * *"\ncomand = "x"\n')
    for _ in range(2):
        with pytest.raises(ConfigError) as info:
            load_config_kept(path, display_path="jobs.toml")
        assert 'jobs.toml:3: job "a": unknown key "comand"' in str(info.value)
    assert entries(own_cache) == []


def test_the_system_zone_is_part_of_the_key(project, monkeypatch) -> None:
    path = project.write('[jobs.a]\nschedule = "0 3 * * *"\ncommand = "x"\n')
    assert load_config_kept(path).jobs["a"].timezone == "UTC"
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert load_config_kept(path).jobs["a"].timezone == "Asia/Tokyo"


def test_home_is_part_of_the_key(project, monkeypatch, tmp_path: Path) -> None:
    path = project.write('[jobs.a]\nschedule = "0 3 * * *"\ncommand = "x"\ncwd = "~/w"\n')
    monkeypatch.setenv("HOME", str(tmp_path / "one"))
    assert load_config_kept(path).jobs["a"].cwd == tmp_path / "one" / "w"
    monkeypatch.setenv("HOME", str(tmp_path / "two"))
    assert load_config_kept(path).jobs["a"].cwd == tmp_path / "two" / "w"


def test_another_version_does_not_read_the_entry(project, own_cache, monkeypatch) -> None:
    path = project.write('[jobs.a]\nschedule = "0 3 * * *"\ncommand = "x"\n')
    load_config_kept(path)
    absolute = Path(os.path.abspath(path))
    monkeypatch.setattr(_cache, "__version__", "99.0")
    assert _cache.load(absolute, _cache.key_of(path.read_text(), absolute)) is None


def test_a_folder_that_cannot_be_written_means_no_cache(project, monkeypatch, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # cronplus/ cannot be made under it
    path = project.write(EVERY_KEY)
    assert_same(load_config_kept(path), withheld(load_config(path)))


def test_status_reads_the_kept_config(project, cli, own_cache: Path) -> None:
    project.write('[jobs.a]\nschedule = "0 3 * * *"\ncommand = "x"\n')
    first = cli("status")
    assert len(entries(own_cache)) == 1
    assert cli("status").stdout == first.stdout
    project.write('[jobs.b]\nschedule = "0 3 * * *"\ncommand = "x"\n')
    assert cli("status").stdout.splitlines()[1].startswith("b ")


def test_the_key_covers_the_loader_code() -> None:
    """An upgrade or an edit of an editable install changes what a load builds."""
    stamped = {Path(p).relative_to(_cache._PKG).as_posix() for p, _, _ in _cache._code_stamp()}
    assert {"config/_loader.py", "config/_checks.py", "model.py", "schedule.py"} <= stamped
    assert {"graph.py", "_toml_lines.py", "config/_values.py"} <= stamped


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        ("postgresql://cron:pw-in-file@db:5432/cron", False),
        ("postgresql://cron@db:5432/cron?password=pw-in-file", False),
        ("postgresql://cron@db:5432/cron", True),  # the password from PGPASSWORD or ~/.pgpass
        ("postgresql://cron:${DB_PASSWORD}@db:5432/cron", True),  # not in the file
    ],
)
def test_a_state_url_with_its_password_is_never_kept(project, own_cache, state, kept) -> None:
    """The cache must not become a second copy of the state's password (issue 17)."""
    path = project.write(f'[defaults]\nstate = "{state}"\n[jobs.a]\ncommand = "x"\n')
    own_cache.mkdir(parents=True)
    (own_cache / _cache._entry_path(path.absolute()).name).write_bytes(b"an older entry")
    assert load_config_kept(path).state == state
    assert len(entries(own_cache)) == int(kept)
    assert not any(b"pw-in-file" in p.read_bytes() for p in entries(own_cache))
