"""Issue 16: every run JSON, not only `history --json`, holds a `for_each` run's
items: `status --json` (last and running), `status --on --json`, `backfill --json`,
`/api/runs/ID` and `/api/jobs/NAME/history`."""

from __future__ import annotations

import json

FAN = """
    [jobs.fan]
    schedule = "0 3 * * *"
    timezone = "UTC"
    for_each = "seq 1 3"
    command = "true"
    """
ITEMS = ["1", "2", "3"]


def items_of(run: dict) -> list[str]:
    return [i["item"] for i in run["items"]]


def cli_json(cli, *args: str):
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def fanned(project, cli) -> None:
    project.write(FAN)
    assert cli("trigger", "fan", "--wait").exit_code == 0


def test_status_json_last_run_holds_its_items(project, cli) -> None:
    fanned(project, cli)
    [row] = cli_json(cli, "status", "fan")
    assert items_of(row["last_run"]) == ITEMS


def test_status_on_a_day_json_runs_hold_their_items(project, cli) -> None:
    fanned(project, cli)
    [run] = cli_json(cli, "history", "fan")
    [day] = cli_json(cli, "status", "--on", run["scheduled_for"][:10], "fan")
    assert [items_of(r) for r in day["runs"]] == [ITEMS]


def test_backfill_json_runs_hold_their_items(project, cli) -> None:
    project.write(FAN)
    out = cli_json(cli, "backfill", "fan", "--from", "2026-11-02", "--to", "2026-11-02")
    assert [items_of(r) for r in out["runs"]] == [ITEMS]


def test_api_run_holds_its_items(project, cli, web) -> None:
    fanned(project, cli)
    [run] = cli_json(cli, "history", "fan")
    status, _, body = web().get(f"/api/runs/{run['id']}")
    assert status == 200 and items_of(json.loads(body)) == ITEMS


def test_api_history_runs_hold_their_items(project, cli, web) -> None:
    fanned(project, cli)
    status, _, body = web().get("/api/jobs/fan/history")
    assert status == 200 and [items_of(r) for r in json.loads(body)] == [ITEMS]
