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
