"""Where each job sits on the graph page (`/graph`), worked out on the server so the
page needs no script: the jobs joined by `after` in columns, a job's column its
longest path from the jobs without `after` (so every edge points right), the order
inside a column chosen to cross fewer edges (barycentres: a job moves towards the
jobs it is joined to, a few sweeps), and the jobs without edges in a grid below.

Boxes have one fixed size and a column's rows a fixed pitch, so no two boxes overlap
by construction; nothing compares boxes pairwise. Each sweep costs O(jobs + edges)
plus a sort per column: 1,000 jobs are laid out in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE_W = 200
NODE_H = 46
GAP_X = 64  # between columns: room for the edges and their arrowheads
GAP_Y = 16  # between rows (NODE_H + GAP_Y is even, so a centred column stays on whole pixels)
MARGIN = 12
MIN_COLUMNS = 5  # the grid of jobs without edges is this wide, or as wide as the columns
SWEEPS = 4  # down, up, down, up: crossings stop falling after a few


@dataclass(frozen=True, slots=True)
class Box:
    name: str
    x: int  # top left, in the drawing's units (pixels)
    y: int


@dataclass(frozen=True, slots=True)
class Edge:
    first: str  # the job that runs first
    then: str  # the job after it
    path: str  # SVG path data from `first`'s right side to `then`'s left side


@dataclass(frozen=True, slots=True)
class Layout:
    boxes: list[Box]  # in reading order: column by column, then the grid row by row
    edges: list[Edge]  # in file order of the job after, then its `after` list
    width: int
    height: int


def layout(deps: Mapping[str, Sequence[str]], order: Sequence[str]) -> Layout:
    """Lay out the jobs of `deps` (each job -> the jobs it is after, in file order);
    `order` is a topological order of them (`Dag.order`). Names in `after` that are
    not jobs are ignored, as `graph` ignores them."""
    pairs = [(d, n) for n, before in deps.items() for d in dict.fromkeys(before) if d in deps]
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for first, then in pairs:
        preds.setdefault(then, []).append(first)
        succs.setdefault(first, []).append(then)
    columns = _columns(order, preds, succs)
    pos = _order_columns(columns, preds, succs)
    tallest = max((len(c) for c in columns), default=0)
    pitch_x, pitch_y = NODE_W + GAP_X, NODE_H + GAP_Y
    boxes = [
        Box(name, MARGIN + i * pitch_x, MARGIN + round(pos[name] * pitch_y))
        for i, column in enumerate(columns)
        for name in column
    ]
    lone = [n for n in deps if n not in preds and n not in succs]
    width_in_boxes = max(len(columns), min(len(lone), MIN_COLUMNS))
    top = MARGIN + tallest * pitch_y + (GAP_Y if tallest else 0)
    boxes += [
        Box(name, MARGIN + (i % width_in_boxes) * pitch_x, top + (i // width_in_boxes) * pitch_y)
        for i, name in enumerate(lone)
    ]
    rows_below = -(-len(lone) // width_in_boxes) if lone else 0
    at = {b.name: b for b in boxes}
    edges = [Edge(first, then, _path(at[first], at[then])) for first, then in pairs]
    width = 2 * MARGIN + max(width_in_boxes * pitch_x - GAP_X, 0)
    height = top + rows_below * pitch_y - GAP_Y + MARGIN if boxes else 2 * MARGIN
    return Layout(boxes, edges, width, height)


def _columns(
    order: Sequence[str], preds: Mapping[str, list[str]], succs: Mapping[str, list[str]]
) -> list[list[str]]:
    """The jobs with edges by column: a job's column is its longest path from a job
    without `after` (its `after` jobs all sit in earlier columns), in `order`."""
    column: dict[str, int] = {}
    columns: list[list[str]] = []
    for name in order:
        if name not in preds and name not in succs:
            continue
        c = 1 + max((column[d] for d in preds.get(name, ())), default=-1)
        column[name] = c
        if c == len(columns):
            columns.append([])
        columns[c].append(name)
    return columns


def _order_columns(
    columns: list[list[str]], preds: Mapping[str, list[str]], succs: Mapping[str, list[str]]
) -> dict[str, float]:
    """Reorder each column in place by barycentre, sweeping right then left; returns
    each job's row, columns centred on the tallest (so rows compare across columns)."""
    tallest = max((len(c) for c in columns), default=0)
    pos: dict[str, float] = {}

    def place(column: list[str]) -> None:
        offset = (tallest - len(column)) / 2
        for i, name in enumerate(column):
            pos[name] = i + offset

    for column in columns:
        place(column)
    for sweep in range(SWEEPS):
        rightwards = sweep % 2 == 0
        near = preds if rightwards else succs
        todo = columns[1:] if rightwards else columns[-2::-1]
        for column in todo:
            keys = {}
            for name in column:
                others = near.get(name)
                keys[name] = sum(pos[o] for o in others) / len(others) if others else pos[name]
            column.sort(key=keys.__getitem__)  # stable: ties keep their order
            place(column)
    return pos


def _path(a: Box, b: Box) -> str:
    """A curve from the middle of `a`'s right side to the middle of `b`'s left side,
    leaving and arriving horizontally (the arrowhead then points along the flow)."""
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    bend = max((x2 - x1) // 2, GAP_X // 2)
    return f"M{x1} {y1}C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}"
