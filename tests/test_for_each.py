"""`for_each` (issue 16): one run, the job's command once per item, each item with
its own attempts and retries, recorded under the run; real runs through `trigger
--wait` and a real daemon."""

from __future__ import annotations

from cronplus.errors import ExitCode


def test_the_keys_are_checked_with_their_line(project, cli) -> None:
    project.write(
        """
        [defaults]
        for_each = "ls"

        [jobs.a]
        command = "true"
        for_each = ""
        for_each_max = 0
        item_parallel = "2"
        """
    )
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert "jobs.toml:2: [defaults] for_each can't be a default" in result.stderr
    assert 'jobs.toml:6: job "a": for_each is empty' in result.stderr
    assert 'jobs.toml:7: job "a": for_each_max must be a whole number, 1 or more' in result.stderr
    assert 'jobs.toml:8: job "a": item_parallel must be a whole number, 1 or more' in result.stderr
