"""Every command has help with an example and is documented in the README; the README
opens with the two quickstart commands and .ci/run runs the second one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cronplus.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert cli.commands[name].get_short_help_str().strip()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme(name):
    assert f"cronplus {name}" in README


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_opens_with_exactly_two_quickstart_commands():
    assert README.index("## Quickstart") < README.index("## A tour")
    run_cmd, test_cmd = quickstart_commands()
    assert "pip install ." in run_cmd and "examples/jobs.toml run" in run_cmd
    assert "[test]" in test_cmd and "pytest" in test_cmd


def test_ci_runs_the_readme_test_command():
    _, test_cmd = quickstart_commands()
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_example_jobs_file_is_valid():
    from cronplus.config import load_config

    config = load_config(ROOT / "examples" / "jobs.toml")
    assert any(j.after for j in config.jobs.values())
    assert any(j.python for j in config.jobs.values())


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_a_description(name):
    import click

    missing = [
        "/".join(p.opts)
        for p in cli.commands[name].params
        if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()
    ]
    assert missing == [], f"{name}: options without help: {missing}"


def first_sentence(text: str) -> str:
    """A help's first paragraph up to its first full stop, on one line."""
    paragraph = " ".join(text.split("\n\n")[0].split())
    return paragraph[: paragraph.find(". ") + 1] if ". " in paragraph else paragraph


def test_the_command_list_shows_each_first_sentence_whole():
    result = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    listing = " ".join(result.output.split("Commands:", 1)[1].split())
    assert "..." not in listing
    for name in COMMANDS:
        assert f"{name} {first_sentence(cli.commands[name].help or '')}" in listing, name


def test_run_help_says_what_sighup_does_where_the_log_goes_and_how_to_run_a_service():
    text = " ".join(CliRunner().invoke(cli, ["run", "--help"]).output.split())
    assert "SIGHUP" in text and "reads the jobs file again" in text
    assert "on stderr" in text and "logs/" in text
    assert "systemd" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text


def test_the_example_files_keep_their_histories_apart():
    # They share job names (extract, load, ...): one state would mix their runs.
    from cronplus.config import load_config
    from cronplus.paths import resolve_state_dir

    roots = set()
    for name in ("jobs.toml", "nightly.toml", "warehouse.toml"):
        config = load_config(ROOT / "examples" / name)
        roots.add(resolve_state_dir(None, config.state, config.folder).root)
    assert len(roots) == 3


def test_the_docs_refer_to_nothing_outside_the_repository():
    """Every relative link in the README, ARCHITECTURE.md and docs/ names a file that
    ships with the project, and neither they nor the code name a document that doesn't."""
    docs = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in docs:
        for target in re.findall(r"\]\(([^)#]+)\)", path.read_text()):
            if "://" not in target:
                assert (path.parent / target).resolve().is_relative_to(ROOT), target
                assert (path.parent / target).exists(), f"{path.name}: {target} is missing"
    for path in docs + sorted((ROOT / "cronplus").rglob("*.py")):
        for name in re.findall(r"[\w./-]*\b[A-Za-z-]+\.md\b", path.read_text()):
            assert not name.startswith(".."), f"{path.name} names {name}, outside the project"
            assert (ROOT / name).exists() or (ROOT / "docs" / name).exists(), (
                f"{path.name} names {name}, which is not in the repository"
            )


def test_the_command_table_lists_every_command_with_its_own_first_sentence():
    """`cronplus --help` lists the group's table without importing the commands: the
    table must name each command of each module, with that command's first sentence."""
    from cronplus.cli._root import COMMANDS as TABLE
    from cronplus.cli._root import module_commands

    defined = {
        cmd.name: (module, first_sentence(cmd.help or ""))
        for module in (
            "_read",
            "_act",
            "_web",
            "_import",
            "_metrics",
            "_service",
            "_init",
            "_prune",
            "_pools",
            "_migrate",
        )
        for cmd in module_commands(module)
    }
    assert defined == TABLE


def test_the_worked_example_of_pools_deadlines_and_intervals_is_the_shipped_file():
    """The README shows examples/warehouse.toml whole, and it is a valid jobs file with
    a pool, a pipeline with a deadline, and loads that read their interval."""
    from cronplus.config import load_config

    text = (ROOT / "examples" / "warehouse.toml").read_text()
    assert f"```toml\n{text}```" in (ROOT / "README.md").read_text()
    config = load_config(ROOT / "examples" / "warehouse.toml")
    assert config.pools == {"warehouse": 2}
    revenue = config.jobs["revenue"]
    assert revenue.pool == "warehouse" and revenue.pool_slots == 2
    assert revenue.deadline is not None and revenue.after == ("load_orders",)
    assert "$CRONPLUS_INTERVAL_START" in config.jobs["load_orders"].command
