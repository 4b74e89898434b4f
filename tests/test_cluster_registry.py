"""The processes on a state (issue 17): each `cronplus run`, `trigger` and `backfill`
registered with a heartbeat every third of its lease, one live daemon per host name,
a stopped daemon gone from `status --daemons` at once and a dead one after its lease.
Real daemons on a real PostgreSQL server (and SQLite), real time."""

from __future__ import annotations

from cronplus.errors import ExitCode


def test_a_lease_under_3s_is_refused_at_its_line(project, cli):
    project.write('[defaults]\nlease = "2s"\n\n[jobs.a]\ncommand = "true"\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert 'jobs.toml:2: [defaults] lease must be at least "3s" (got "2s")' in result.stderr
