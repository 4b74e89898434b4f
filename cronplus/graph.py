"""The `after` DAG: cycles by name, topological order, up- and downstream closures.

Every function takes `deps`, a mapping from each job to the jobs it is after
(as written in jobs.toml), and is pure. The mapping's order is the file order,
and every result that has a choice uses it, so messages and run order are the
same on every load. Names in `deps` values that are not keys of `deps` (unknown
jobs, reported elsewhere by config.py) are ignored rather than raised on, so
the functions can run on a file that still has other problems.

Paths read in the direction work flows: in `extract -> load`, load is after
extract. A cycle is written as that flow, ending where it starts.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

Deps = Mapping[str, Sequence[str]]


def _dependents(deps: Deps) -> dict[str, list[str]]:
    """name -> the jobs directly after it, in file order."""
    out: dict[str, list[str]] = {name: [] for name in deps}
    for name, before in deps.items():
        for dep in dict.fromkeys(before):
            if dep in out:
                out[dep].append(name)
    return out


def _reach(
    start: str, edges: Mapping[str, Sequence[str]], allowed: Mapping[str, object]
) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt in allowed and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def find_cycles(deps: Deps) -> list[list[str]]:
    """Every elementary cycle once, as a closed path: ["beta", "gamma", "beta"].

    Each cycle starts at its member that comes first in `deps`, and cycles are
    listed by that member, so the report is stable. A job after itself is the
    cycle [name, name]. Johnson's algorithm keeps this linear in the number of
    cycles found, which matters when a careless edit links many jobs together.
    """
    index = {name: i for i, name in enumerate(deps)}
    succ = _dependents(deps)
    pred = {name: [d for d in before if d in index] for name, before in deps.items()}
    cycles: list[list[str]] = []
    for start_i, start in enumerate(deps):
        later = {name: None for name in deps if index[name] >= start_i}
        # Only the strongly connected part around `start` can hold cycles through it.
        component = _reach(start, succ, later) & _reach(start, pred, later)
        if len(component) == 1 and start not in succ[start]:
            continue
        cycles.extend(
            _cycles_through(start, {n: [w for w in succ[n] if w in component] for n in component})
        )
    return cycles


def _cycles_through(start: str, succ: Mapping[str, list[str]]) -> list[list[str]]:
    """Johnson's circuit search from `start`; iterative, so long chains cannot hit
    the recursion limit."""
    found: list[list[str]] = []
    path = [start]
    blocked = {start}
    blocked_by: dict[str, set[str]] = {}
    stack = [(start, iter(succ[start]))]
    closed = [False]  # per stack frame: did some path from here get back to start?
    while stack:
        node, successors = stack[-1]
        nxt = next(successors, None)
        if nxt is not None:
            if nxt == start:
                found.append([*path, start])
                closed[-1] = True
            elif nxt not in blocked:
                path.append(nxt)
                blocked.add(nxt)
                stack.append((nxt, iter(succ[nxt])))
                closed.append(False)
            continue
        stack.pop()
        path.pop()
        got_back = closed.pop()
        if got_back:
            _unblock(node, blocked, blocked_by)
        else:
            for w in succ[node]:
                blocked_by.setdefault(w, set()).add(node)
        if closed:
            closed[-1] = closed[-1] or got_back
    return found


def _unblock(node: str, blocked: set[str], blocked_by: dict[str, set[str]]) -> None:
    todo = [node]
    while todo:
        n = todo.pop()
        if n in blocked:
            blocked.discard(n)
            todo.extend(blocked_by.pop(n, ()))


def topological_order(deps: Deps) -> list[str]:
    """Every job after all the jobs it is after; ties broken by file order.

    Raises ValueError naming a cycle, since no order exists then; config.py
    rejects cycles before anything asks for an order.
    """
    index = {name: i for i, name in enumerate(deps)}
    succ = _dependents(deps)
    waiting = {name: len({d for d in before if d in index}) for name, before in deps.items()}
    ready = [index[name] for name, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    names = list(deps)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for nxt in succ[name]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, index[nxt])
    if len(order) != len(names):
        cycle = find_cycles(deps)[0]
        raise ValueError(f"dependency cycle: {' -> '.join(cycle)}")
    return order


def downstream(deps: Deps, name: str) -> list[str]:
    """Jobs that run after `name`, directly or transitively, in run order (KeyError if unknown)."""
    if name not in deps:
        raise KeyError(name)
    closure = _reach(name, _dependents(deps), deps) - {name}
    return [n for n in topological_order(deps) if n in closure]


def upstream(deps: Deps, name: str) -> list[str]:
    """Jobs that `name` runs after, directly or transitively, in run order (KeyError if unknown)."""
    if name not in deps:
        raise KeyError(name)
    closure = _reach(name, deps, deps) - {name}
    return [n for n in topological_order(deps) if n in closure]


def pipeline_roots(deps: Deps, name: str) -> list[str]:
    """The jobs without `after` whose schedule drives `name`; a root is its own root."""
    if name not in deps:
        raise KeyError(name)
    if not deps[name]:
        return [name]
    return [n for n in upstream(deps, name) if not deps[n]]


def pipelines(deps: Deps) -> list[list[str]]:
    """Groups of jobs joined by `after` (ignoring direction), each in file order.

    A job with no `after` that nothing is after is not a pipeline and is left out.
    """
    undirected = {name: [d for d in before if d in deps] for name, before in deps.items()}
    for name, after in _dependents(deps).items():
        undirected[name].extend(after)
    seen: set[str] = set()
    groups: list[list[str]] = []
    for name in deps:
        if name in seen or not undirected[name]:
            continue
        members = _reach(name, undirected, deps)
        seen |= members
        groups.append([n for n in deps if n in members])
    return groups
