"""`for_each` (issue 16), its edges found in review: lines split on line ends
only, a cut-short run's reason, pools held by an item attempt across a crash."""

from __future__ import annotations

import json


def history_json(cli, job: str) -> list[dict]:
    result = cli("history", job, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_an_item_is_a_line_whatever_its_other_characters(project, cli) -> None:
    """Only `\\n` (or `\\r\\n`) ends an item: a form feed or a U+2028 inside a line
    (file names may hold them) does not split it in two."""
    listed = ["a b", "\"q\" 's'", "t\tab", "form\x0cfeed", "sep\u2028x", "fs\x1cy"]
    (project.root / "list.txt").write_bytes(
        b"".join(i.encode() + end for i, end in zip(listed, [b"\r\n", b"\n"] * 3, strict=True))
    )
    project.write(
        """
        [jobs.fan]
        for_each = "cat list.txt"
        command = 'printf "%s\\n" "$CRONPLUS_ITEM" >> done.txt'
        """
    )
    assert cli("trigger", "fan", "--wait").exit_code == 0
    [run] = history_json(cli, "fan")
    assert [i["item"] for i in run["items"]] == listed
    assert (project.root / "done.txt").read_text().split("\n")[:-1] == listed


def test_prune_counts_and_deletes_item_logs_even_once_for_each_is_gone(project, cli) -> None:
    """`prune --dry-run` counts the item logs `prune` deletes, and a job whose
    for_each was since removed still has its old runs' item logs deleted."""
    jobs = """
        [jobs.fan]
        for_each = "echo a; echo b"
        command = "echo $CRONPLUS_ITEM"
        keep_runs = 1
        """
    project.write(jobs)
    for _ in range(2):
        assert cli("trigger", "fan", "--wait").exit_code == 0
    folder = project.state / "logs" / "fan"
    firsts = {p.name for p in folder.iterdir() if p.name.startswith("1-")}
    assert len(firsts) >= 3  # the listing and two items' logs (each with a .status)
    planned = json.loads(cli("prune", "--dry-run", "--json").stdout)
    [fan] = [p for p in planned if p["job"] == "fan"]
    assert fan["logs_deleted"] == len(firsts), (fan, firsts)
    project.write(jobs.replace('for_each = "echo a; echo b"', ""))
    assert cli("prune").exit_code == 0
    assert not any(p.name.startswith("1-") for p in folder.iterdir())
