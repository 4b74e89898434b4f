"""The layering rules of ARCHITECTURE.md, read from each module's imports with ast."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "cronplus"

# Lower number = lower layer. A module may import its own layer or lower ones.
LAYERS = {
    "cli": 1,
    "engine": 2,
    "engine_jobs": 2,
    "catchup": 2,
    "daemon": 2,
    "backfill": 2,
    "_backfill_run": 2,
    "render": 2,
    "report": 2,
    "pool_report": 2,
    "deadline_report": 2,
    "reading": 2,
    "manual": 2,
    "trigger": 2,
    "backfill_alert": 2,
    "crontab_import": 2,
    "crontab_names": 2,
    "web": 2,
    "webchild": 2,
    "metrics": 2,
    "follow": 2,
    "starter": 2,
    "dispatch": 3,
    "run_thread": 3,
    "lanes": 3,
    "jitter": 3,
    "runner": 3,
    "late": 3,
    "items": 3,
    "pools": 3,
    "starts": 3,
    "spawner": 3,
    "workers": 4,
    "run_control": 3,
    "recovery": 3,
    "job_share": 3,
    "sweep": 3,
    "retention": 3,
    "alerts": 3,
    "alert_texts": 3,
    "deadline_watch": 3,
    "file_watch": 3,
    "delivery": 3,
    "executor": 4,
    "_attempt": 4,
    "_wrapper": 4,
    "state_health": 4,
    "_pyjob": 4,
    "_logcap": 4,
    "_runas": 4,
    "store": 4,
    "schedule": 4,
    "_schedule_days": 4,
    "config": 4,
    "intervals": 4,
    "deadlines": 4,
    "_toml_lines": 4,
    "graph": 4,
    "paths": 4,
    "procs": 4,
    "leases": 4,
    "clock": 4,
    "due": 4,
    "events": 4,
    "zones": 4,
    "watch": 4,
    "redact": 4,
    "sdnotify": 4,
    "unit": 4,
    "model": 5,
    "errors": 5,
    "cluster": 3,  # issue 17
}
HEAVY = {"rich", "croniter", "apprise", "filelock", "psycopg"}


def modules() -> list[Path]:
    return sorted(
        p for p in PKG.rglob("*.py") if p.name != "__main__.py" and p != PKG / "__init__.py"
    )


def name_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import in the file."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, id(node) in top))
    return out


def cronplus_imports(path: Path) -> set[str]:
    return {
        m.split(".")[1] for m, _ in imports(path) if m.startswith("cronplus.") and m.count(".") >= 1
    }


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_modules_import_only_their_layer_or_lower(path):
    me = name_of(path)
    assert me in LAYERS, f"{me} has no layer in tests/test_layers.py"
    for other in cronplus_imports(path):
        assert LAYERS[other] >= LAYERS[me], f"{me} (layer {LAYERS[me]}) imports {other}"


def test_model_imports_nothing_from_cronplus():
    assert cronplus_imports(PKG / "model.py") == set()


def test_store_knows_nothing_about_scheduling():
    for path in (PKG / "store").glob("*.py"):
        assert not cronplus_imports(path) & {"schedule", "engine", "dispatch", "executor"}


def test_executor_never_touches_the_store():
    for name in ("executor.py", "_attempt.py"):
        assert "store" not in cronplus_imports(PKG / name)


def test_schedule_reads_neither_clock_nor_store():
    assert not cronplus_imports(PKG / "schedule.py") & {"clock", "store"}


def test_library_modules_never_import_cli_or_render():
    for path in modules():
        if name_of(path) in ("cli", "render"):
            continue
        # The web view is a presentation layer too: it serves render's shapes, never cli.
        forbidden = {"cli"} if name_of(path) == "web" else {"cli", "render"}
        assert not cronplus_imports(path) & forbidden, path.name


def dotted(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the cronplus modules it imports, lazy imports inside functions too."""
    known = {dotted(p) for p in modules()} | {"cronplus"}
    graph: dict[str, set[str]] = {}
    for path in modules():
        targets = set()
        for module, _ in imports(path):
            # `from cronplus.config import x` may name a module or a name in it.
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module and module != "cronplus":
                targets.add(module)
        graph[dotted(path)] = targets - {dotted(path)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_another_that_imports_it_back():
    # A package's __init__ may gather its own submodules; those must not import it.
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_heavy_libraries_are_imported_inside_functions_only(path):
    top = {m.split(".")[0] for m, at_top in imports(path) if at_top}
    assert not top & HEAVY, f"{path.name} imports {top & HEAVY} at module level"


def test_sql_lives_in_store_only():
    for path in modules():
        if path.parent.name == "store":
            continue
        assert "sqlite3" not in {m for m, _ in imports(path)}, path.name


# -- ARCHITECTURE.md matches the code ------------------------------------------------------


def architecture_rows() -> dict[str, tuple[int, int]]:
    """`module` -> (layer, lines) from the module table of ARCHITECTURE.md."""
    text = (PKG.parent / "ARCHITECTURE.md").read_text()
    rows = re.findall(r"^\| (\d) \| `([\w/.]+)` \| ([\d,]+) \|", text, flags=re.M)
    return {name: (int(layer), int(lines.replace(",", ""))) for layer, name, lines in rows}


def lines_of(name: str) -> int:
    target = PKG / name
    files = sorted(target.rglob("*.py")) if name.endswith("/") else [target]
    return sum(len(p.read_text().splitlines()) for p in files)


def test_architecture_lists_every_module_with_its_layer_and_size():
    rows = architecture_rows()
    for path in modules():
        rel = str(path.relative_to(PKG))
        owner = next((n for n in rows if n == rel or (n.endswith("/") and rel.startswith(n))), None)
        assert owner is not None, f"ARCHITECTURE.md has no row for {rel}"
        assert rows[owner][0] == LAYERS[name_of(path)], f"{owner}: layer differs from LAYERS"
    for name, (_, lines) in rows.items():
        assert (PKG / name).exists(), f"ARCHITECTURE.md lists {name}, which is gone"
        actual = lines_of(name)
        assert abs(actual - lines) <= max(10, actual // 10), (
            f"ARCHITECTURE.md says {name} has {lines} lines; it has {actual}"
        )


def test_only_the_clock_reads_the_time():
    """One injected clock all the way down: no other module reads the wall or the
    monotonic clock itself (a FakeClock would not reach it)."""
    reads = re.compile(r"datetime\.now\(|datetime\.utcnow\(|\btime\.time\(|\btime\.monotonic\(")
    offenders = [
        f"{path.relative_to(PKG)}:{n}"
        for path in modules()
        if path.name != "clock.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if reads.search(line)
    ]
    assert offenders == []
