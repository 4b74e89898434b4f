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
    Only the strongly connected parts that hold a cycle are searched, so a file
    of 10,000 jobs without cycles costs one linear pass (issue 12).
    """
    index = {name: i for i, name in enumerate(deps)}
    succ = _dependents(deps)
    pred = {name: [d for d in before if d in index] for name, before in deps.items()}
    parts = _cyclic_parts(succ)
    cycles: list[list[str]] = []
    for start_i, start in enumerate(deps):
        if start not in parts:
            continue
        later = {name: None for name in parts[start] if index[name] >= start_i}
        # Only the strongly connected part around `start` can hold cycles through it.
        component = _reach(start, succ, later) & _reach(start, pred, later)
        if len(component) == 1 and start not in succ[start]:
            continue
        cycles.extend(
            _cycles_through(start, {n: [w for w in succ[n] if w in component] for n in component})
        )
    return cycles


def _cyclic_parts(succ: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """name -> its strongly connected part, for the names on some cycle (Tarjan's
    algorithm, iterative so long chains cannot hit the recursion limit)."""
    number: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: dict[str, list[str]] = {}
    for root in succ:
        if root in number:
            continue
        number[root] = low[root] = len(number)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(succ[root]))]
        while work:
            node, successors = work[-1]
            nxt = next(successors, None)
            if nxt is not None:
                if nxt not in number:
                    number[nxt] = low[nxt] = len(number)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(succ[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], number[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == number[node]:
                part = [stack.pop()]
                while part[-1] != node:
                    part.append(stack.pop())
                on_stack.difference_update(part)
                if len(part) > 1 or node in succ[node]:
                    out.update(dict.fromkeys(part, part))
    return out


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
    waiting = {
        name: len({d for d in before if d in index}) if before else 0
        for name, before in deps.items()
    }
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


class Dag:
    """One configuration's graph, worked out once: its order, and each job's pipeline
    roots. Asking `topological_order` again for every job made `status` quadratic in
    the number of jobs (issue 12). Raises ValueError on a cycle, as that does."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.order = topological_order(deps)
        self._rank = {name: i for i, name in enumerate(self.order)}
        self._succ = _dependents(deps)
        self._roots: dict[str, tuple[str, ...]] = {}
        for name in self.order:  # a job's roots are known once those before it are
            before = deps[name]
            if not before:
                self._roots[name] = (name,)
                continue
            found = {r for d in before if d in deps for r in self._roots[d]}
            self._roots[name] = tuple(sorted(found, key=self._rank.__getitem__))

    def _known(self, name: str) -> None:
        if name not in self.deps:
            raise KeyError(name)

    def dependents(self, name: str) -> list[str]:
        """The jobs directly after `name`, in file order."""
        self._known(name)
        return list(self._succ[name])

    def downstream(self, name: str) -> list[str]:
        """Jobs that run after `name`, directly or transitively, in run order
        (KeyError if unknown)."""
        self._known(name)
        closure = _reach(name, self._succ, self.deps) - {name}
        return sorted(closure, key=self._rank.__getitem__)

    def upstream(self, name: str) -> list[str]:
        """Jobs that `name` runs after, directly or transitively, in run order
        (KeyError if unknown)."""
        self._known(name)
        closure = _reach(name, self.deps, self.deps) - {name}
        return sorted(closure, key=self._rank.__getitem__)

    def pipeline_roots(self, name: str) -> list[str]:
        """The jobs without `after` whose schedule drives `name`; a root is its own root."""
        self._known(name)
        return list(self._roots[name])


def downstream(deps: Deps, name: str) -> list[str]:
    """`Dag.downstream`, for one question (build a `Dag` to ask many)."""
    return Dag(deps).downstream(name)


def upstream(deps: Deps, name: str) -> list[str]:
    """`Dag.upstream`, for one question (build a `Dag` to ask many)."""
    return Dag(deps).upstream(name)


def pipeline_roots(deps: Deps, name: str) -> list[str]:
    """`Dag.pipeline_roots`, for one question (build a `Dag` to ask many)."""
    return Dag(deps).pipeline_roots(name)


def pipelines(deps: Deps) -> list[list[str]]:
    """Groups of jobs joined by `after` (ignoring direction), each in file order.

    A job with no `after` that nothing is after is not a pipeline and is left out.
    """
    undirected = {name: [d for d in before if d in deps] for name, before in deps.items()}
    for name, after in _dependents(deps).items():
        undirected[name].extend(after)
    index = {name: i for i, name in enumerate(deps)}
    seen: set[str] = set()
    groups: list[list[str]] = []
    for name in deps:
        if name in seen or not undirected[name]:
            continue
        members = _reach(name, undirected, deps)
        seen |= members
        groups.append(sorted(members, key=index.__getitem__))
    return groups
