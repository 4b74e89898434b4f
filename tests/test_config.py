"""jobs.toml: every problem located as FILE:LINE and reported at once; the model built."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from cronplus.config import load_config, parse_duration, pipeline_schedule, system_timezone
from cronplus.errors import ConfigError, ExitCode, UnknownJobError
from cronplus.graph import downstream, find_cycles, pipeline_roots, topological_order, upstream
from cronplus.model import AlertsConfig, Config, RetryPolicy
from cronplus.schedule import ScheduleError, parse_schedule


@pytest.fixture(autouse=True)
def utc_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs without a timezone take the system's; pin it so tests do not depend on the host."""
    monkeypatch.setenv("TZ", "UTC")


def load(project, text: str) -> Config:
    project.write(text)
    return project.config()


def problems(project, text: str) -> list[str]:
    """The error's lines, without the final count line."""
    project.write(text)
    with pytest.raises(ConfigError) as info:
        project.config()
    assert info.value.exit_code == ExitCode.USAGE
    return str(info.value).splitlines()[:-1]


def only_problem(project, text: str) -> str:
    lines = problems(project, text)
    assert len(lines) == 1, lines
    return lines[0]


# -- unknown keys and names -----------------------------------------------------------


def test_unknown_key_suggests_the_right_one(project):
    text = """
        [jobs.load]
        schedule = "@daily"
        comand = "true"
    """
    assert problems(project, text) == [
        'jobs.toml:1: job "load": has neither command nor python'
        ' (add command = "..." or python = "package.module:function")',
        'jobs.toml:3: job "load": unknown key "comand" (did you mean "command"?)',
    ]


def test_unknown_key_without_a_close_match_lists_the_valid_keys(project):
    line = only_problem(project, '[jobs.load]\ncommand = "true"\nfrobnicate = 1\n')
    assert line.startswith('jobs.toml:3: job "load": unknown key "frobnicate" (valid keys: after,')
    assert "timezone" in line


def test_unknown_top_level_table_suggests_jobs(project):
    line = only_problem(project, '[job.load]\ncommand = "true"\n')
    assert line == 'jobs.toml:1: unknown key "job" (did you mean "jobs"?)'


def test_unknown_top_level_key_without_match_says_what_is_expected(project):
    line = only_problem(project, 'colour = "blue"\n')
    assert line == (
        'jobs.toml:1: unknown key "colour" (expected [defaults], [alerts], [pools] or [jobs.NAME])'
    )


def test_defaults_only_key_on_a_job_says_where_it_goes(project):
    line = only_problem(project, '[jobs.a]\ncommand = "true"\nmax_parallel = 2\n')
    assert (
        line == 'jobs.toml:3: job "a": max_parallel can only be set in [defaults] (move it there)'
    )


@pytest.mark.parametrize(
    "header",
    [
        '[jobs."my job"]',
        "[jobs.'a.b']",
        '[jobs."é"]',
        '[jobs."ａ"]',  # a fullwidth letter: str.isalnum() says yes
        '[jobs."٣"]',  # an Arabic-Indic digit: \\d says yes
        "[jobs.-x]",  # the command line would read it as an option
        "[jobs.--help]",
        '[jobs.""]',
        f"[jobs.{'x' * 101}]",  # too long for a log folder's name on some filesystems
    ],
)
def test_job_name_must_be_ascii_letters_digits_underscore_dash(project, header):
    name = header[6:-1].strip("\"'")
    line = only_problem(project, f'{header}\ncommand = "true"\n')
    who = f' job "{name}":' if name else ""
    assert line == (
        f'jobs.toml:1:{who} name must be 1 to 100 ASCII letters, digits, "_" and "-",'
        ' not starting with "-" (rename the table)'
    )


@pytest.mark.parametrize("name", ["nightly-load_2", "_x", "9", "a-", "x" * 100])
def test_job_names_with_dash_and_underscore_are_fine(project, name):
    config = load(project, f'[jobs.{name}]\ncommand = "true"\n')
    assert list(config.jobs) == [name]


def test_job_that_is_not_a_table(project):
    line = only_problem(project, '[jobs]\nload = "true"\n')
    assert line == 'jobs.toml:2: job "load": must be a table [jobs.load] (got "true")'


# -- command / python -------------------------------------------------------------------


def test_both_command_and_python(project):
    line = only_problem(project, '[jobs.a]\ncommand = "true"\npython = "m:f"\n')
    assert line == 'jobs.toml:1: job "a": has both command and python (keep one)'


def test_neither_command_nor_python(project):
    line = only_problem(project, '# nightly\n[jobs.a]\nschedule = "@daily"\n')
    assert line == (
        'jobs.toml:2: job "a": has neither command nor python'
        ' (add command = "..." or python = "package.module:function")'
    )


@pytest.mark.parametrize("target", ["reports", "reports.daily", "reports:1main", "a..b:f", ":f"])
def test_python_must_look_like_module_colon_function(project, target):
    line = only_problem(project, f'[jobs.a]\npython = "{target}"\n')
    assert line == (
        f'jobs.toml:2: job "a": python "{target}" must look like "package.module:function"'
        ' (e.g. "reports.daily:main")'
    )


@pytest.mark.parametrize("target", ["m:f", "pkg.mod:func", "_p.m2:_f"])
def test_python_targets_accepted(project, target):
    assert load(project, f'[jobs.a]\npython = "{target}"\n').jobs["a"].python == target


def test_empty_command(project):
    line = only_problem(project, '[jobs.a]\ncommand = "  "\n')
    assert line == 'jobs.toml:2: job "a": command is empty (give it a value)'


# -- schedule and timezone ----------------------------------------------------------------


def test_invalid_cron_expression_uses_the_schedule_layers_message(project):
    with pytest.raises(ScheduleError) as why:
        parse_schedule("61 3 * * *")
    line = only_problem(project, '[jobs.a]\ncommand = "true"\nschedule = "61 3 * * *"\n')
    assert line == (
        f'jobs.toml:3: job "a": schedule "61 3 * * *": {why.value}'
        " (see the README's schedule syntax)"
    )


@pytest.mark.parametrize(
    "expr",
    ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *", "0 0 30 2 ?", "0 0 0 31 2 *"],
)
def test_a_schedule_that_never_fires_is_a_problem(project, expr):
    line = only_problem(project, f'[jobs.a]\ncommand = "true"\nschedule = "{expr}"\n')
    assert line.startswith(f'jobs.toml:3: job "a": schedule "{expr}" never fires: no month has')


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 29 2 *",  # leap years
        "0 0 * 2 MON#5",  # a 29 February that is a Monday: 2016, 2044
        "0 0 31 2 MON",  # either day field: every Monday in February
        "0 0 L 2 *",
        "0 0 31 * *",
    ],
)
def test_a_schedule_that_fires_rarely_is_accepted(project, expr):
    load(project, f'[jobs.a]\ncommand = "true"\nschedule = "{expr}"\n')


def test_validate_refuses_a_schedule_that_never_fires(project, cli):
    project.write('[jobs.a]\ncommand = "true"\nschedule = "0 0 31 2 *"\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith('jobs.toml:3: job "a": schedule "0 0 31 2 *" never fires: ')


def test_schedule_must_be_a_string(project):
    line = only_problem(project, '[jobs.a]\ncommand = "true"\nschedule = 5\n')
    assert line == (
        'jobs.toml:3: job "a": schedule must be a cron expression like "0 3 * * *" or "@daily"'
        " (got 5)"
    )


def test_unknown_timezone_suggests_a_real_one(project):
    text = '[jobs.sync]\ncommand = "true"\nschedule = "@daily"\ntimezone = "Europe/Berln"\n'
    line = only_problem(project, text)
    assert line == (
        'jobs.toml:4: job "sync": timezone "Europe/Berln" is unknown'
        ' (did you mean "Europe/Berlin"?)'
    )


def test_unknown_timezone_without_a_match_gives_an_example(project):
    line = only_problem(project, '[jobs.a]\ncommand = "true"\ntimezone = "Nowhere"\n')
    assert line == (
        'jobs.toml:3: job "a": timezone "Nowhere" is unknown'
        ' (use an IANA name like "Europe/Berlin" or "UTC")'
    )


def test_timezone_defaults_to_defaults_then_system(project, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    text = """
        [defaults]
        timezone = "Europe/Berlin"
        [jobs.a]
        command = "true"
        [jobs.b]
        command = "true"
        timezone = "Asia/Tokyo"
    """
    config = load(project, text)
    assert config.jobs["a"].timezone == "Europe/Berlin"
    assert config.jobs["b"].timezone == "Asia/Tokyo"
    config = load(project, '[jobs.a]\ncommand = "true"\n')
    assert config.jobs["a"].timezone == "America/New_York"


# -- after, cycles, pipelines -----------------------------------------------------------


def test_after_unknown_job_suggests_a_name(project):
    text = """
        [jobs.load]
        command = "true"
        [jobs.report]
        command = "true"
        after = ["lod"]
    """
    line = only_problem(project, text)
    assert line == 'jobs.toml:5: job "report": after "lod": no such job (did you mean "load"?)'


def test_after_unknown_job_without_match(project):
    line = only_problem(project, '[jobs.a]\ncommand = "true"\nafter = ["zzz"]\n')
    assert line == 'jobs.toml:3: job "a": after "zzz": no such job (add [jobs.zzz] or fix the name)'


@pytest.mark.parametrize("value, shown", [('"load"', '"load"'), ("[1]", "a list")])
def test_after_must_be_a_list_of_names(project, value, shown):
    text = f'[jobs.load]\ncommand = "true"\n[jobs.b]\ncommand = "true"\nafter = {value}\n'
    line = only_problem(project, text)
    assert line == (
        f'jobs.toml:5: job "b": after must be a list of job names like ["extract"] (got {shown})'
    )


def test_job_after_itself(project):
    line = only_problem(project, '[jobs.a]\ncommand = "true"\nafter = ["a"]\n')
    assert line == 'jobs.toml:3: job "a": after "a": a job can\'t run after itself (remove it)'


def test_dependency_cycle_names_every_member(project):
    text = """
        [jobs.alpha]
        command = "true"
        schedule = "@daily"
        [jobs.beta]
        command = "true"
        after = ["gamma"]
        [jobs.gamma]
        command = "true"
        after = ["beta"]
    """
    line = only_problem(project, text)
    assert line == 'jobs.toml:6: job "beta": dependency cycle: beta -> gamma -> beta'


def test_longer_cycle_reads_in_run_order(project):
    text = """
        [jobs.a]
        command = "true"
        after = ["c"]
        [jobs.b]
        command = "true"
        after = ["a"]
        [jobs.c]
        command = "true"
        after = ["b"]
    """
    assert only_problem(project, text) == 'jobs.toml:3: job "a": dependency cycle: a -> b -> c -> a'


def test_after_job_may_not_declare_schedule_or_timezone(project):
    text = """
        [jobs.extract]
        command = "true"
        schedule = "0 3 * * *"
        [jobs.load]
        command = "true"
        after = ["extract"]
        schedule = "0 4 * * *"
        timezone = "UTC"
    """
    assert problems(project, text) == [
        'jobs.toml:7: job "load": has after, so it can\'t have its own schedule'
        " (it takes its pipeline's; remove schedule)",
        'jobs.toml:8: job "load": has after, so it can\'t have its own timezone'
        " (it takes its pipeline's; remove timezone)",
    ]


def test_pipeline_roots_disagreeing_on_schedule_are_named(project):
    text = """
        [jobs.extract_a]
        command = "true"
        schedule = "0 3 * * *"
        [jobs.extract_b]
        command = "true"
        schedule = "0 4 * * *"
        [jobs.load]
        command = "true"
        after = ["extract_a", "extract_b"]
    """
    line = only_problem(project, text)
    assert line == (
        'jobs.toml:6: job "extract_b": pipeline roots disagree on schedule:'
        ' "extract_a" has "0 3 * * *", "extract_b" has "0 4 * * *"'
        " (give every job in it without after the same schedule)"
    )


def test_pipeline_roots_disagreeing_through_a_longer_chain(project):
    text = """
        [jobs.a]
        command = "true"
        schedule = "@daily"
        [jobs.b]
        command = "true"
        [jobs.a2]
        command = "true"
        after = ["a"]
        [jobs.join]
        command = "true"
        after = ["a2", "b"]
    """
    line = only_problem(project, text)
    assert line == (
        'jobs.toml:4: job "b": pipeline roots disagree on schedule:'
        ' "a" has "@daily", "b" has none (give every job in it without after the same schedule)'
    )


def test_pipeline_roots_disagreeing_on_effective_timezone(project):
    text = """
        [defaults]
        timezone = "Europe/Berlin"
        [jobs.a]
        command = "true"
        schedule = "@daily"
        [jobs.b]
        command = "true"
        schedule = "@daily"
        timezone = "UTC"
        [jobs.c]
        command = "true"
        after = ["a", "b"]
    """
    line = only_problem(project, text)
    assert line == (
        'jobs.toml:9: job "b": pipeline roots disagree on timezone:'
        ' "a" has "Europe/Berlin", "b" has "UTC"'
        " (give every job in it without after the same timezone)"
    )


def test_fan_in_with_agreeing_roots_is_accepted(project):
    text = """
        [jobs.extract_a]
        command = "true"
        schedule = "0 3 * * *"
        timezone = "Europe/Berlin"
        [jobs.extract_b]
        command = "true"
        schedule = "0  3 * * *"
        timezone = "Europe/Berlin"
        [jobs.load]
        command = "true"
        after = ["extract_a", "extract_b"]
        [jobs.report]
        command = "true"
        after = ["load"]
    """
    config = load(project, text)
    assert config.jobs["load"].after == ("extract_a", "extract_b")
    assert config.jobs["load"].schedule is None
    assert config.jobs["report"].timezone == "Europe/Berlin"
    assert pipeline_schedule(config, "report") == ("0 3 * * *", "Europe/Berlin")
    assert pipeline_schedule(config, "extract_b") == ("0  3 * * *", "Europe/Berlin")


def test_after_job_takes_its_pipelines_timezone(project):
    text = """
        [defaults]
        timezone = "Asia/Tokyo"
        [jobs.extract]
        command = "true"
        schedule = "@daily"
        timezone = "America/New_York"
        [jobs.load]
        command = "true"
        after = ["extract"]
    """
    config = load(project, text)
    assert config.jobs["load"].timezone == "America/New_York"


def test_triggered_only_pipeline_needs_no_schedule(project):
    text = '[jobs.a]\ncommand = "true"\n[jobs.b]\ncommand = "true"\nafter = ["a"]\n'
    config = load(project, text)
    assert config.jobs["a"].schedule is None
    assert pipeline_schedule(config, "b") == (None, "UTC")


def test_pipeline_schedule_of_unknown_job(project):
    config = load(project, '[jobs.load]\ncommand = "true"\n')
    with pytest.raises(UnknownJobError, match='no job named "lod" \\(did you mean "load"\\?\\)'):
        pipeline_schedule(config, "lod")


# -- value types and ranges -------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, message",
    [
        ('retries = "3"', 'retries must be a whole number, 0 or more (got "3")'),
        ("retries = -1", "retries must be a whole number, 0 or more (got -1)"),
        ("retries = 1.5", "retries must be a whole number, 0 or more (got 1.5)"),
        ("retries = true", "retries must be a whole number, 0 or more (got true)"),
        ("retry_backoff = 0.5", "retry_backoff must be a number, 1 or more (got 0.5)"),
        ('retry_backoff = "2"', 'retry_backoff must be a number, 1 or more (got "2")'),
        ("retry_backoff = inf", "retry_backoff must be a number, 1 or more (got inf)"),
        (
            'retry_delay = "soon"',
            'retry_delay "soon" is not a duration'
            ' (write it like "90s", "15m", "1h30m", "2d", or a number of seconds)',
        ),
        ('retry_max_delay = "-5m"', 'retry_max_delay "-5m" is negative (durations are 0 or more)'),
        ("kill_grace = -1", "kill_grace -1 is negative (durations are 0 or more)"),
        ('timeout = "0s"', 'timeout must be more than 0 (got "0s")'),
        (
            "timeout = [1]",
            "timeout a list is not a duration"
            ' (write it like "90s", "15m", "1h30m", "2d", or a number of seconds)',
        ),
        ('enabled = "yes"', 'enabled must be true or false (got "yes")'),
        ("env = 1", 'env must be a table of NAME = "value" (got 1)'),
        ("env = { PORT = 8080 }", "env.PORT must be a string in quotes (got 8080)"),
        ("env = { DEBUG = true }", "env.DEBUG must be a string in quotes (got true)"),
        (
            'env = { "A=B" = "x" }',
            'env name "A=B" is not usable (names must be non-empty, without "=")',
        ),
        ("shell = 5", "shell must be a string (got 5)"),
        ("cwd = 5", "cwd must be a string (got 5)"),
        ("description = 5", "description must be a string (got 5)"),
        ("alerts = 5", "alerts must be false or a table with urls and/or on (got 5)"),
    ],
)
def test_wrong_values_on_a_job(project, setting, message):
    line = only_problem(project, f'[jobs.a]\ncommand = "true"\n{setting}\n')
    assert line == f'jobs.toml:3: job "a": {message}'


def test_env_value_problem_points_at_its_line_in_a_subtable(project):
    text = """
        [jobs.a]
        command = "true"

        [jobs.a.env]
        HOME_DIR = "/x"
        PORT = 8080
    """
    assert (
        only_problem(project, text)
        == 'jobs.toml:6: job "a": env.PORT must be a string in quotes (got 8080)'
    )


@pytest.mark.parametrize(
    "body, message",
    [
        (r'command = "echo a\u0000b"', 'jobs.toml:2: job "a": command contains a NUL character'),
        (
            'command = "true"\nshell = "/bin/sh\\u0000"',
            'jobs.toml:3: job "a": shell contains a NUL character',
        ),
        (
            'command = "true"\ncwd = "/tmp\\u0000x"',
            'jobs.toml:3: job "a": cwd contains a NUL character',
        ),
        (
            'command = "true"\nenv = { A = "x\\u0000y" }',
            'jobs.toml:3: job "a": env.A contains a NUL character',
        ),
        (
            'command = "true"\nenv = { "A\\u0000B" = "x" }',
            'jobs.toml:3: job "a": env name "A\\0B" contains a NUL character',
        ),
        (
            'python = "m:f\\u0000"',
            'jobs.toml:2: job "a": python contains a NUL character',
        ),
    ],
)
def test_a_nul_character_in_a_job_is_a_problem(project, body, message):
    # A NUL cannot be passed in argv, the environment or a path: every run would die.
    assert only_problem(project, f"[jobs.a]\n{body}\n") == f"{message} (remove it)"


@pytest.mark.parametrize(
    "setting, message",
    [
        ('shell = "/bin/sh\\u0000"', "shell contains a NUL character"),
        ('cwd = "\\u0000"', "cwd contains a NUL character"),
        ('env = { A = "\\u0000" }', "env.A contains a NUL character"),
        ('env_file = "a\\u0000.env"', "env_file contains a NUL character"),
        ('state = "st\\u0000"', "state contains a NUL character"),
    ],
)
def test_a_nul_character_in_defaults_is_a_problem(project, setting, message):
    text = f'[defaults]\n{setting}\n[jobs.a]\ncommand = "true"\n'
    assert only_problem(project, text) == f"jobs.toml:2: [defaults] {message} (remove it)"


def test_validate_and_trigger_refuse_a_nul_character_without_a_traceback(project, cli):
    project.write('[jobs.a]\ncommand = "true"\ncwd = "here\\u0000"\n')
    for args in (("validate",), ("trigger", "a")):
        result = cli(*args)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert result.stderr == (
            'jobs.toml:3: job "a": cwd contains a NUL character (remove it)\n'
            "1 problem in jobs.toml; nothing was started.\n"
        )
    assert not project.state.exists()


TOO_LONG = (
    "makes the delay before the last retry longer than 999,999,999 days"
    " (lower them, or cap it with retry_max_delay)"
)


@pytest.mark.parametrize(
    "settings, key_line, shown",
    [
        (
            "retries = 3\nretry_backoff = 1e308",
            4,
            "retry_backoff 1e+308 with retries = 3 and retry_delay 30s",
        ),
        (  # 2^2000 overflows a float: found without computing it
            "retries = 2001\nretry_delay = 1",
            3,
            "retry_backoff 2 with retries = 2001 and retry_delay 1s",
        ),
        (
            'retries = 1\nretry_delay = "999999999d 1s"',
            3,
            "retry_backoff 2 with retries = 1 and retry_delay 8.64e+13s",
        ),
    ],
)
def test_a_retry_delay_that_could_never_be_waited_is_a_problem(project, settings, key_line, shown):
    line = only_problem(project, f'[jobs.a]\ncommand = "false"\n{settings}\n')
    assert line == f'jobs.toml:{key_line}: job "a": {shown} {TOO_LONG}'


@pytest.mark.parametrize(
    "settings",
    [
        "retries = 1\nretry_backoff = 1e308",  # the only retry waits retry_delay
        'retries = 3\nretry_backoff = 1e308\nretry_max_delay = "1h"',
        "retries = 3\nretry_backoff = 1e308\nretry_delay = 0",
        'retries = 1\nretry_delay = "999999999d"',
        "retries = 0\nretry_backoff = 1e308",
    ],
)
def test_a_long_but_bounded_retry_delay_is_accepted(project, settings):
    load(project, f'[jobs.a]\ncommand = "false"\n{settings}\n')


def test_a_retry_delay_too_long_from_defaults_is_reported_once_there(project):
    text = """
        [defaults]
        retries = 3
        retry_backoff = 1e308

        [jobs.a]
        command = "false"
        [jobs.b]
        command = "false"
        [jobs.c]
        command = "false"
        retry_max_delay = "1d"
        [jobs.d]
        command = "false"
        retries = 4
    """
    assert problems(project, text) == [
        "jobs.toml:3: [defaults] retry_backoff 1e+308 with retries = 3 and retry_delay 30s"
        f" {TOO_LONG}",
        'jobs.toml:14: job "d": retry_backoff 1e+308 with retries = 4 and retry_delay 30s'
        f" {TOO_LONG}",
    ]


def test_validate_and_trigger_refuse_a_retry_backoff_that_overflows(project, cli):
    project.write('[jobs.a]\ncommand = "false"\nretries = 3\nretry_backoff = 1e308\n')
    for args in (("validate",), ("trigger", "a")):
        result = cli(*args)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert result.stderr.startswith('jobs.toml:4: job "a": retry_backoff 1e+308 ')
        assert "Traceback" not in result.output
    assert not project.state.exists()


def test_long_strings_are_shortened_in_messages(project):
    line = only_problem(project, f'[jobs.a]\ncommand = "true"\nretries = "{"x" * 60}"\n')
    assert f'(got "{"x" * 37}...")' in line


# -- [defaults] -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, fix",
    [
        ("schedule", '"@daily"', "set it on each job"),
        ("command", '"true"', "set it on each job"),
        ("python", '"m:f"', "set it on each job"),
        ("after", '["a"]', "set it on each job that needs it"),
        ("alerts", "false", "use the [alerts] table"),
    ],
)
def test_job_only_keys_cannot_be_defaults(project, key, value, fix):
    line = only_problem(project, f'[defaults]\n{key} = {value}\n[jobs.a]\ncommand = "true"\n')
    assert line == f"jobs.toml:2: [defaults] {key} can't be a default ({fix})"


def test_defaults_problems(project):
    text = """
        [defaults]
        retrys = 3
        max_parallel = 0
        state = 7
        timezone = "Mars/Base"
        [jobs.a]
        command = "true"
    """
    assert problems(project, text) == [
        'jobs.toml:2: [defaults] unknown key "retrys" (did you mean "retries"?)',
        "jobs.toml:3: [defaults] max_parallel must be a whole number, 1 or more (got 0)",
        "jobs.toml:4: [defaults] state must be a string (got 7)",
        'jobs.toml:5: [defaults] timezone "Mars/Base" is unknown'
        ' (use an IANA name like "Europe/Berlin" or "UTC")',
    ]


def test_defaults_apply_and_job_values_win(project):
    text = """
        [defaults]
        retries = 2
        retry_delay = "1m"
        retry_backoff = 3
        timeout = "1h"
        kill_grace = 5
        shell = "/bin/bash"
        enabled = false
        env = { A = "from-defaults", B = "from-defaults" }
        max_parallel = 3

        [jobs.a]
        command = "true"
        retries = 5
        env = { B = "from-job", C = "job-only" }

        [jobs.b]
        command = "true"
        enabled = true
    """
    config = load(project, text)
    a, b = config.jobs["a"], config.jobs["b"]
    assert a.retry == RetryPolicy(
        retries=5, delay=timedelta(minutes=1), backoff=3.0, max_delay=None
    )
    assert b.retry.retries == 2
    assert a.timeout == timedelta(hours=1)
    assert a.kill_grace == timedelta(seconds=5)
    assert a.shell == "/bin/bash"
    assert a.env == {"A": "from-defaults", "B": "from-job", "C": "job-only"}
    assert b.env == {"A": "from-defaults", "B": "from-defaults"}
    assert (a.enabled, b.enabled) == (False, True)
    assert config.max_parallel == 3


def test_model_defaults_without_any_setting(project):
    config = load(project, '[jobs.a]\ncommand = "echo hi"\n')
    job = config.jobs["a"]
    assert job.retry == RetryPolicy()
    assert (job.timeout, job.kill_grace, job.shell) == (None, timedelta(seconds=10), "/bin/sh")
    assert (job.env, job.enabled, job.description, job.schedule) == ({}, True, None, None)
    assert (config.state, config.max_parallel, config.alerts) == (None, None, None)
    assert (job.alerts, job.alerts_enabled) == (None, True)


def test_state_is_resolved_against_the_files_folder_unless_a_url(project, tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    project.write('[defaults]\nstate = "../var/cronplus"\n', name="conf/jobs.toml")
    monkeypatch.chdir("/")
    config = load_config(tmp_path / "conf" / "jobs.toml")
    assert config.state == str(tmp_path / "var" / "cronplus")
    config = load(project, '[defaults]\nstate = "postgresql://db/cron"\n')
    assert config.state == "postgresql://db/cron"


# -- cwd and paths -------------------------------------------------------------------------


def test_cwd_is_resolved_against_the_jobs_files_folder(project, tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    text = """
        [defaults]
        cwd = "work"
        [jobs.rel]
        command = "true"
        cwd = "../data"
        [jobs.abs]
        command = "true"
        cwd = "/srv/x"
        [jobs.inherits]
        command = "true"
    """
    project.write(text, name="conf/jobs.toml")
    monkeypatch.chdir("/")
    config = load_config("../" + os.path.relpath(tmp_path / "conf" / "jobs.toml", "/"))
    assert config.path == tmp_path / "conf" / "jobs.toml"
    assert config.path.is_absolute()
    assert config.jobs["rel"].cwd == tmp_path / "data"  # need not exist
    assert config.jobs["abs"].cwd == Path("/srv/x")
    assert config.jobs["inherits"].cwd == tmp_path / "conf" / "work"


def test_cwd_defaults_to_the_files_folder(project, tmp_path):
    assert load(project, '[jobs.a]\ncommand = "true"\n').jobs["a"].cwd == tmp_path


# -- the model ----------------------------------------------------------------------------


def test_jobs_keep_file_order_and_header_lines(project):
    text = """
        # nightly jobs
        [jobs.zeta]
        command = "true"
        description = "last letter, first job"

        [jobs."alpha"]
        python = "tasks:alpha"
    """
    config = load(project, text)
    assert list(config.jobs) == ["zeta", "alpha"]
    assert (config.jobs["zeta"].line, config.jobs["alpha"].line) == (2, 6)
    assert config.jobs["zeta"].description == "last letter, first job"


# Each text: where a quick pass over the headers would get a job's line wrong.
HEADER_LINE_TRAPS = {
    "subtable first": '[jobs.x.env]\nA = "1"\n\n[jobs.x]\ncommand = "true"\n',
    "fake header in a string": '[jobs.a]\ncommand = """\n[jobs.x]\n"""\n[jobs.x]\ncommand = "t"\n',
    "dotted keys in [jobs]": '[jobs]\nx.command = "t"\n\n[jobs.x.alerts]\non = ["failure"]\n',
    "root-level dotted key": 'jobs.x.command = "t"\n\n[jobs.x.alerts]\non = ["failure"]\n',
    "CRLF": '# top\r\n\r\n[jobs.a]\r\ncommand = "true"\r\n[jobs.x]\r\ncommand = "t"\r\n',
    "a line break splitlines counts": '[jobs.a]\ncommand = "a\u2028b"\n[jobs.x]\ncommand = "t"\n',
}


@pytest.mark.parametrize("text", HEADER_LINE_TRAPS.values(), ids=HEADER_LINE_TRAPS)
def test_a_jobs_line_is_where_the_file_first_names_it(tmp_path, text):
    from cronplus._toml_lines import KeyLines

    path = tmp_path / "jobs.toml"
    path.write_bytes(text.encode())
    jobs = load_config(path).jobs
    assert {n: j.line for n, j in jobs.items()} == {
        n: KeyLines(text).line_of("jobs", n) for n in jobs
    }


def test_a_valid_file_is_loaded_without_the_full_line_scan(project, monkeypatch):
    """Issue 12: the full scan cost 11 ms of loading 1,000 jobs; a file of plain
    [jobs.NAME] tables takes its header lines from one quick pass."""
    from cronplus import _toml_lines

    def scan(self, text):
        raise AssertionError("scanned the whole file")

    monkeypatch.setattr(_toml_lines.KeyLines, "_scan", scan)
    config = load(project, '[defaults]\nretries = 1\n\n[jobs.a]\ncommand = "true"\n')
    assert config.jobs["a"].line == 4


def test_file_with_no_jobs_is_valid(project):
    assert load(project, "# nothing yet\n").jobs == {}


@pytest.mark.parametrize("text", ["# nothing yet\n", "[defaults]\nretries = 1\n", "[jobs]\n"])
def test_validate_warns_about_a_file_with_no_jobs(project, cli, text):
    project.write(text)
    result = cli("validate")
    assert result.exit_code == ExitCode.OK
    assert result.stdout == "jobs.toml: 0 jobs, no problems\n"
    assert result.stderr == "Warning: jobs.toml has no jobs (add a [jobs.NAME] table)\n"


# -- [alerts] -------------------------------------------------------------------------------


def test_alerts_table_is_parsed(project):
    text = """
        [alerts]
        urls = ["json://localhost:9/hook", "mailto://u:p@example.com"]
        on = ["failure", "recovery", "failure"]
        repeat_after = "30m"
        heartbeat = "https://hc-ping.com/${HC_UUID}"
        heartbeat_every = "5m"

        [jobs.quiet]
        command = "true"
        alerts = false

        [jobs.loud]
        command = "true"
        alerts = { on = ["success"] }

        [jobs.plain]
        command = "true"
    """
    config = load(project, text)
    assert config.alerts == AlertsConfig(
        urls=("json://localhost:9/hook", "mailto://u:p@example.com"),
        on=("failure", "recovery"),
        repeat_after=timedelta(minutes=30),
        heartbeat="https://hc-ping.com/${HC_UUID}",
        heartbeat_every=timedelta(minutes=5),
    )
    quiet, loud, plain = config.jobs["quiet"], config.jobs["loud"], config.jobs["plain"]
    assert (quiet.alerts_enabled, quiet.alerts) == (False, None)
    assert loud.alerts_enabled
    assert loud.alerts is not None
    assert loud.alerts.on == ("success",)
    assert loud.alerts.urls == config.alerts.urls  # not given: inherited from [alerts]
    assert (plain.alerts_enabled, plain.alerts) == (True, None)


def test_alerts_problems_never_show_a_url(project):
    text = """
        [alerts]
        urls = "slack://T000/B000/SECRETTOKEN"
        on = ["failur", "pager"]
        repeat_after = "often"
        every = "1m"

        [jobs.a]
        command = "true"
        [jobs.a.alerts]
        on = ["timeout"]
        repeat_after = "1h"
        url = ["x"]
    """
    events = "failure, timeout, missed, recovery, retry, success, late, deadline"
    lines = problems(project, text)
    assert lines == [
        'jobs.toml:2: [alerts] urls must be a list of URL strings like ["mailto://..."]'
        " (got a string)",
        f'jobs.toml:3: [alerts] on: "failur" is not one of {events} (did you mean "failure"?)',
        f'jobs.toml:3: [alerts] on: "pager" is not one of {events}',
        'jobs.toml:4: [alerts] repeat_after "often" is not a duration'
        ' (write it like "90s", "15m", "1h30m", "2d", or a number of seconds)',
        'jobs.toml:5: [alerts] unknown key "every"'
        " (valid keys: heartbeat, heartbeat_every, on, repeat_after, timeout, urls)",
        'jobs.toml:11: job "a": alerts.repeat_after can only be set in [alerts] (move it there)',
        'jobs.toml:12: job "a": unknown key "alerts.url" (did you mean "urls"?)',
    ]
    assert "SECRETTOKEN" not in "\n".join(lines)


# -- all at once; syntax; missing file ----------------------------------------------------


def test_all_problems_are_reported_at_once_sorted_by_line(project):
    text = """
        [jobs.report]
        command = "true"
        after = ["lod"]

        [jobs.load]
        schedule = "@daily"
        comand = "true"

        [jobs.sync]
        command = "true"
        timezone = "Europe/Berln"
    """
    project.write(text)
    with pytest.raises(ConfigError) as info:
        project.config()
    assert str(info.value) == "\n".join(
        [
            'jobs.toml:3: job "report": after "lod": no such job (did you mean "load"?)',
            'jobs.toml:5: job "load": has neither command nor python'
            ' (add command = "..." or python = "package.module:function")',
            'jobs.toml:7: job "load": unknown key "comand" (did you mean "command"?)',
            'jobs.toml:11: job "sync": timezone "Europe/Berln" is unknown'
            ' (did you mean "Europe/Berlin"?)',
            "4 problems in jobs.toml; nothing was started.",
        ]
    )
    assert len(info.value.problems) == 4


def test_one_problem_is_counted_in_the_singular(project):
    project.write('[jobs.a]\ncommand = "true"\nretries = -1\n')
    with pytest.raises(ConfigError) as info:
        project.config()
    assert str(info.value).endswith("\n1 problem in jobs.toml; nothing was started.")


def test_toml_syntax_error_has_line_and_column(project):
    project.write('[jobs.a]\ncommand = "true"\nretries = = 3\n')
    with pytest.raises(ConfigError) as info:
        project.config()
    assert str(info.value) == (
        "jobs.toml:3:11: Invalid value\n1 problem in jobs.toml; nothing was started."
    )


def test_duplicate_table_is_a_syntax_error(project):
    text = '[jobs.a]\ncommand = "true"\n[jobs.a]\ncommand = "false"\n'
    assert only_problem(project, text) == "jobs.toml:3:8: Cannot declare ('jobs', 'a') twice"


def test_unterminated_string_at_end_of_file(project):
    assert only_problem(project, '[jobs.a]\ncommand = "true') == (
        "jobs.toml:2: Unterminated string"
    )


def test_missing_file(project):
    with pytest.raises(ConfigError) as info:
        load_config(project.root / "nope.toml", display_path="nope.toml")
    assert str(info.value) == (
        "nope.toml: file not found (create it or pass -c/--config PATH)\n"
        "1 problem in nope.toml; nothing was started."
    )


def test_directory_instead_of_file(project):
    with pytest.raises(ConfigError, match=r"^dir: is a directory"):
        load_config(project.root, display_path="dir")


def test_not_utf8(project):
    project.jobs_file.write_bytes(b'[jobs.a]\ncommand = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        project.config()
    assert str(info.value).startswith("jobs.toml:2: is not UTF-8 text (save it as UTF-8)")


def test_file_is_named_as_given_without_display_path(project):
    project.write('[jobs.a]\ncommand = "true"\nretries = -1\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(project.jobs_file))
    assert str(info.value).startswith(f"{project.jobs_file}:3: ")


# -- line scanner corner cases ---------------------------------------------------------------


def test_key_like_lines_inside_strings_and_arrays_are_not_keys(project):
    text = '''
        [jobs.a]
        command = """
        retries = 1
        """
        after = [
          "b",
        ]
        retries = "x"
        [jobs.b]
        command = 'x = [ # not a comment'
        retries = -2
    '''
    assert problems(project, text) == [
        'jobs.toml:8: job "a": retries must be a whole number, 0 or more (got "x")',
        'jobs.toml:11: job "b": retries must be a whole number, 0 or more (got -2)',
    ]


def test_dotted_and_inline_forms_fall_back_to_the_nearest_line(project):
    text = """
        [jobs.b]
        command = "true"
        env = { PORT = 1 }
        [jobs]
        a.command = "true"
        a . "retries" = -1
        c = { command = "true", retries = -3 }
    """
    assert problems(project, text) == [
        'jobs.toml:3: job "b": env.PORT must be a string in quotes (got 1)',
        'jobs.toml:6: job "a": retries must be a whole number, 0 or more (got -1)',
        'jobs.toml:7: job "c": retries must be a whole number, 0 or more (got -3)',
    ]
    text = 'jobs.a.command = "true"\njobs.a.retries = -1\n'
    assert problems(project, text) == [
        'jobs.toml:2: job "a": retries must be a whole number, 0 or more (got -1)'
    ]


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2d", 172800),
        ("1d2h3m4s", 93784),
        ("1.5h", 5400),
        ("0s", 0),
        ("90", 90),
        (" 45s ", 45),
        (90, 90),
        (0.25, 0.25),
        (0, 0),
    ],
)
def test_parse_duration_accepts(value, seconds):
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "value, message",
    [
        ("soon", '"soon" is not a duration'),
        ("", '"" is not a duration'),
        ("15", None),
        ("30m1h", '"30m1h" is not a duration'),
        ("1m30m", '"1m30m" is not a duration'),
        ("15M", '"15M" is not a duration'),
        ("10ms", '"10ms" is not a duration'),
        ("-5m", '"-5m" is negative (durations are 0 or more)'),
        (-1, "-1 is negative (durations are 0 or more)"),
        (True, "true is not a duration"),
        (float("nan"), "nan is not a duration"),
        ("99999999999d", '"99999999999d" is too long'),
    ],
)
def test_parse_duration_rejects(value, message):
    if message is None:  # a bare number in a string is fine: the control case
        assert parse_duration(value) == timedelta(seconds=15)
        return
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value).startswith(message)


# -- system time zone ---------------------------------------------------------------------------


def test_system_timezone_prefers_a_valid_tz_variable(tmp_path):
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    assert system_timezone({"TZ": "Europe/Berlin"}, link) == "Europe/Berlin"
    assert system_timezone({"TZ": ":America/New_York"}, link) == "America/New_York"


def test_system_timezone_falls_back_to_the_localtime_link(tmp_path):
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    assert system_timezone({}, link) == "Asia/Tokyo"
    assert system_timezone({"TZ": "CET-1CEST"}, link) == "Asia/Tokyo"


def test_system_timezone_is_utc_when_nothing_says_otherwise(tmp_path):
    assert system_timezone({}, tmp_path / "missing") == "UTC"
    plain = tmp_path / "copied-localtime"
    plain.write_bytes(b"TZif")
    assert system_timezone({"TZ": "Not/AZone"}, plain) == "UTC"


def test_system_timezone_reads_the_real_machine():
    assert system_timezone() == "UTC"  # the autouse fixture sets TZ


# -- the after graph -----------------------------------------------------------------------------


def test_graph_cycles_are_each_reported_once_in_file_order():
    deps = {"a": ["b"], "b": ["a", "c"], "c": ["b"], "d": ["d"], "e": []}
    assert find_cycles(deps) == [["a", "b", "a"], ["b", "c", "b"], ["d", "d"]]
    assert find_cycles({"x": [], "y": ["x"]}) == []


def test_graph_orders_and_closures():
    deps = {
        "report": ["load"],
        "extract_a": [],
        "load": ["extract_a", "extract_b"],
        "extract_b": [],
    }
    assert topological_order(deps) == ["extract_a", "extract_b", "load", "report"]
    assert downstream(deps, "extract_b") == ["load", "report"]
    assert upstream(deps, "report") == ["extract_a", "extract_b", "load"]
    assert pipeline_roots(deps, "report") == ["extract_a", "extract_b"]
    assert pipeline_roots(deps, "extract_a") == ["extract_a"]
    with pytest.raises(ValueError, match="dependency cycle: a -> b -> a"):
        topological_order({"a": ["b"], "b": ["a"]})


@pytest.mark.skipif(os.geteuid() != 0, reason="the trust rule applies to root only")
@pytest.mark.parametrize(
    ("mode", "owner", "message"),
    [
        (0o666, 0, "writable by other users (mode 0666; chmod go-w it)"),
        (0o664, 0, "writable by other users (mode 0664; chmod go-w it)"),
        (0o644, 1000, "owned by uid 1000, not root"),
    ],
)
def test_root_refuses_a_jobs_file_others_can_write(project, cli, mode, owner, message):
    path = project.write('[jobs.a]\nschedule = "* * * * *"\ncommand = "true"\n')
    os.chmod(path, mode)
    os.chown(path, owner, owner)
    # status too: it reads nothing from a file it does not trust, and no daemon ran it.
    for args in (("validate",), ("run",), ("trigger", "a"), ("status",)):
        result = cli(*args)
        assert result.exit_code == 2
        assert f"jobs.toml: refused: running as root, and the file is {message}" in result.stderr
    assert not project.state.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the trust rule applies to root only")
def test_root_refuses_an_env_file_others_can_write(project, cli):
    env = project.root / "alerts.env"
    env.write_text("HOOK=x\n")
    os.chmod(env, 0o666)
    project.write(
        '[defaults]\nenv_file = "alerts.env"\n[alerts]\nurls = ["json://127.0.0.1:9/${HOOK}"]\n'
        '[jobs.a]\ncommand = "true"\n'
    )
    result = cli("validate")
    assert result.exit_code == 2
    assert "env_file" in result.stderr and "writable by other users (mode 0666" in result.stderr


# -- ${NAME} and env_file: read once per load ---------------------------------------------


def test_a_load_reads_the_env_file_once_and_keeps_what_alert_urls_lack(project, monkeypatch):
    from cronplus.config import _env

    reads = []
    real = _env._env_text
    monkeypatch.setattr(_env, "_env_text", lambda path: reads.append(path) or real(path))
    monkeypatch.setenv("FROM_ENV", "e")
    monkeypatch.delenv("NOBODY", raising=False)
    (project.root / "alerts.env").write_text("HOOK='h00k'\nFROM_ENV=file\n")
    config = load(
        project,
        '[defaults]\nenv_file = "alerts.env"\n'
        '[alerts]\nurls = ["json://x/${HOOK}/${FROM_ENV}", "json://x/${NOBODY}"]\n'
        '[jobs.a]\ncommand = "true"\n',
    )
    assert len(reads) == 1
    found = config.alert_env
    assert (found.values["HOOK"], found.values["FROM_ENV"]) == ("h00k", "e")  # env wins
    assert found.env_file_error is None
    assert found.unset == (
        (None, '[alerts] urls: variable "NOBODY" is not set '
         "(export it, or set it in [defaults] env_file)"),
    )  # fmt: skip
    assert "h00k" not in repr(config)


def test_an_unreadable_env_file_is_found_at_load_and_refused_when_checked(project):
    from cronplus.config import check_alert_env

    (project.root / "alerts.env").write_bytes(b"HOOK=\xff\n")
    config = load(
        project,
        '[defaults]\nenv_file = "alerts.env"\n[alerts]\nurls = ["json://x/${HOOK}"]\n'
        '[jobs.a]\ncommand = "true"\n',
    )
    assert config.alert_env.env_file_error.endswith("alerts.env: it is not UTF-8 text")
    with pytest.raises(ConfigError) as e:
        check_alert_env(config, "jobs.toml")
    (problem,) = e.value.problems
    assert problem.file == "alerts.env" and "[defaults] env_file" in problem.message


def test_overlap_catchup_and_alert_events_are_enums_that_read_as_their_words(project):
    from cronplus.model import AlertEvent, Catchup, Overlap

    config = load(
        project,
        '[alerts]\nurls = ["json://x"]\non = ["late", "failure"]\n'
        '[jobs.a]\ncommand = "true"\noverlap = "queue"\ncatchup = "all"\n',
    )
    job = config.jobs["a"]
    assert job.overlap is Overlap.QUEUE and job.overlap == "queue"
    assert job.catchup is Catchup.ALL and f"{job.catchup}" == "all"
    assert config.alerts.on == (AlertEvent.LATE, AlertEvent.FAILURE)
    assert all(type(e) is AlertEvent for e in config.alerts.on)
