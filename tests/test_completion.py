"""Shell completion (issue 14): click's scripts, JOB arguments from the jobs file,
`--status`/`--trigger` words, the common requests answered without click exactly
as click answers them."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.shell_completion import shell_complete

from cronplus.cli import cli
from cronplus.cli._completion import (
    JOB_ARGUMENTS,
    STATUS_WORDS,
    TRIGGER_WORDS,
    WORD_OPTION_COMMANDS,
    WORD_OPTIONS,
    add_completions,
    fast_values,
    job_names,
)
from cronplus.model import RunStatus, Trigger

JOBS = """
    [jobs.extract]
    schedule = "@daily"
    command = "true"

    [jobs.export]
    schedule = "@daily"
    command = "true"

    [jobs.load]
    after = ["extract"]
    command = "true"
"""
OTHER = """
    [jobs.other_a]
    schedule = "@daily"
    command = "true"
"""


def request(words: str, shell: str = "bash") -> dict[str, str]:
    """The environment click's script sets for a Tab after `words`."""
    parts = words.split(" ")
    if shell == "fish":
        return {"COMP_WORDS": words, "COMP_CWORD": parts[-1]}
    return {"COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}


def answer(project, words: str, shell: str = "bash", **env: str) -> str:
    """What a real `cronplus` answers (the path without click where it applies)."""
    full = {**os.environ, **request(words, shell), **env, "_CRONPLUS_COMPLETE": f"{shell}_complete"}
    done = subprocess.run(
        [sys.executable, "-m", "cronplus"],
        env=full,
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def click_answer(project, monkeypatch, capsys, words: str, shell: str = "bash") -> str:
    """What click itself answers, in this process."""
    for key, value in request(words, shell).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert shell_complete(cli, {}, "cronplus", "_CRONPLUS_COMPLETE", f"{shell}_complete") == 0
    return capsys.readouterr().out


def values(text: str, shell: str = "bash") -> list[str]:
    if shell == "bash":
        return [line.split(",", 1)[1] for line in text.splitlines() if line]
    return text.splitlines()[1::3]


CASES = [
    "cronplus status ",
    "cronplus status ex",
    "cronplus status extract ",
    "cronplus -c jobs.toml history ",
    "cronplus --config=jobs.toml logs lo",
    "cronplus --state somewhere trigger e",
    "cronplus next ",
    "cronplus pause load ex",
    "cronplus mark ",
    "cronplus nothing ",
    "cronplus history extract ",
    "cronplus history extract --limit ",
    "cronplus st",
    "cronplus status --",
    "cronplus ",
]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_answers_without_click_are_byte_for_byte_clicks(project, monkeypatch, capsys, shell):
    project.write(JOBS)
    for words in CASES:
        ours = answer(project, words, shell)
        assert ours == click_answer(project, monkeypatch, capsys, words, shell), words


def test_job_arguments_complete_from_the_jobs_file(project, monkeypatch, capsys):
    project.write(JOBS)
    assert values(answer(project, "cronplus status ")) == ["extract", "export", "load"]
    assert values(answer(project, "cronplus history ex")) == ["extract", "export"]
    assert values(answer(project, "cronplus logs extract ")) == []  # one JOB only
    assert values(answer(project, "cronplus history extract ")) == ["extract", "export", "load"]
    assert values(answer(project, "cronplus pause load e")) == ["extract", "export"]
    assert "status" in values(answer(project, "cronplus st"))


def test_the_lines_own_config_else_the_environment(project, monkeypatch, capsys):
    project.write(JOBS)
    project.write(OTHER, "other.toml")
    assert values(answer(project, "cronplus -c other.toml logs ")) == ["other_a"]
    assert values(answer(project, "cronplus logs ", CRONPLUS_CONFIG="other.toml")) == ["other_a"]
    words = "cronplus -c other.toml logs "
    assert values(click_answer(project, monkeypatch, capsys, words)) == ["other_a"]
    assert answer(project, "cronplus -c missing.toml logs ") == "\n"  # nothing, no error


def test_status_and_trigger_complete_from_their_words(project):
    project.write(JOBS)
    assert values(answer(project, "cronplus history extract --status f")) == ["failed"]
    got = values(answer(project, "cronplus history extract --status failed,ti"))
    assert got == ["failed,timed_out"]
    assert values(answer(project, "cronplus history --trigger ")) == list(TRIGGER_WORDS)


def test_clicks_options_named_status_and_trigger_complete_the_same_words():
    @click.command()
    @click.argument("jobs", nargs=-1)
    @click.option("--status", multiple=True)
    @click.option("--trigger", multiple=True)
    def history(jobs, status, trigger):
        pass

    add_completions(history)
    ctx = click.Context(history)
    by_name = {p.name: p for p in history.params}
    got = [i.value for i in by_name["status"].shell_complete(ctx, "up")]
    assert got == ["upstream_failed"]
    got = [i.value for i in by_name["trigger"].shell_complete(ctx, "manual,b")]
    assert got == ["manual,backfill"]


def test_the_tables_match_the_commands_and_the_model():
    assert tuple(s.value for s in RunStatus) == STATUS_WORDS
    assert tuple(t.value for t in Trigger) == TRIGGER_WORDS
    found = {}
    for name, cmd in cli.commands.items():
        args = [p for p in cmd.params if isinstance(p, click.Argument)]
        jobs = [p for p in args if p.name in ("job", "jobs")]
        if jobs:
            assert args[: len(jobs)] == jobs, name  # the jobs come first
            found[name] = None if jobs[-1].nargs == -1 else len(jobs)
        words = tuple(o for p in cmd.params for o in p.opts if o in WORD_OPTIONS)
        assert words == WORD_OPTION_COMMANDS.get(name, ()), name
    assert found == JOB_ARGUMENTS


def test_a_word_option_a_command_lacks_is_left_to_click_and_bad_files_to_nothing(project):
    """`pause --trigger ` completes nothing special without click: pause has no such
    option, so the fast path leaves it to click (which offers jobs, as for any
    argument); a jobs file that is not UTF-8 completes no job, without a traceback."""
    project.write(JOBS)
    assert fast_values(["pause", "--trigger"], "") is None
    assert fast_values(["history", "--trigger"], "ma") == ["manual"]
    bad = project.root / "bad.toml"
    bad.write_bytes(b'[jobs.a]\ncommand = "true \xff"\n')
    assert job_names(str(bad)) == []


def test_the_answer_without_click_imports_no_click(project):
    project.write(JOBS)
    code = (
        "import os, sys\n"
        "from cronplus.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(str(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('click', 'rich', 'croniter', 'apprise', 'sqlite3'))))\n"
    )
    env = {**os.environ, **request("cronplus status e"), "_CRONPLUS_COMPLETE": "bash_complete"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=project.root, capture_output=True, text=True
    )
    assert done.stdout == "plain,extract\nplain,export\n"
    assert done.stderr == "[]"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_script(project, shell):
    project.write(JOBS)
    run = {"cwd": project.root, "capture_output": True, "text": True, "timeout": 60}
    ours = subprocess.run([sys.executable, "-m", "cronplus", "completion", shell], **run)
    env = {**os.environ, "_CRONPLUS_COMPLETE": f"{shell}_source"}
    clicks = subprocess.run([sys.executable, "-m", "cronplus"], env=env, **run)
    assert ours.returncode == 0 and clicks.returncode == 0
    assert ours.stdout == clicks.stdout
    assert "_CRONPLUS_COMPLETE" in ours.stdout


def test_a_real_bash_completes_job_names(project, tmp_path):
    project.write(JOBS)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "cronplus").write_text(f'#!/bin/sh\nexec {sys.executable} -m cronplus "$@"\n')
    (shim / "cronplus").chmod(0o755)
    script = (
        'eval "$(cronplus completion bash)"\n'
        "COMP_WORDS=(cronplus history ex); COMP_CWORD=2\n"
        "_cronplus_completion cronplus\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "--norc", "-c", script],
        env=env,
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["extract", "export"], done.stderr
