"""The layering rules of STYLE.md, read from each module's imports with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "cronplus"

# Lower number = lower layer. A module may import its own layer or lower ones.
LAYERS = {
    "cli": 1,
    "engine": 2,
    "backfill": 2,
    "render": 2,
    "report": 2,
    "manual": 2,
    "dispatch": 3,
    "recovery": 3,
    "alerts": 3,
    "executor": 4,
    "_pyjob": 4,
    "store": 4,
    "schedule": 4,
    "config": 4,
    "_config_check": 4,
    "_toml_lines": 4,
    "graph": 4,
    "paths": 4,
    "procs": 4,
    "clock": 4,
    "watch": 4,
    "model": 5,
    "errors": 5,
}
HEAVY = {"rich", "croniter", "apprise", "filelock", "psycopg"}


def modules() -> list[Path]:
    return sorted(
        p
        for p in PKG.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") or p.parent.name == "store"
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
    assert "store" not in cronplus_imports(PKG / "executor.py")


def test_schedule_reads_neither_clock_nor_store():
    assert not cronplus_imports(PKG / "schedule.py") & {"clock", "store"}


def test_engine_never_imports_cli_or_render():
    for name in ("engine.py", "dispatch.py"):
        assert not cronplus_imports(PKG / name) & {"cli", "render"}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_heavy_libraries_are_imported_inside_functions_only(path):
    top = {m.split(".")[0] for m, at_top in imports(path) if at_top}
    assert not top & HEAVY, f"{path.name} imports {top & HEAVY} at module level"


def test_sql_lives_in_store_only():
    for path in modules():
        if path.parent.name == "store":
            continue
        assert "sqlite3" not in {m for m, _ in imports(path)}, path.name
