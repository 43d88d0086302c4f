"""The start-order graph: pure functions over ``deps`` (server name → names it waits for).

``Config.deps`` is such a mapping. A server may start once every server in its ``deps`` is
ready; independent branches never wait for each other.
"""

from __future__ import annotations

import graphlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

Deps = Mapping[str, Collection[str]]


class Dependent(Protocol):
    """What the graph needs of a server: ``ServerSpec`` and the settings models both fit."""

    @property
    def depends_on(self) -> Sequence[str]: ...
    @property
    def tier(self) -> int | None: ...


def effective_deps(servers: Mapping[str, Dependent]) -> dict[str, frozenset[str]]:
    """``dependsOn`` plus, for a server with ``tier: n``, every server of a tier below ``n``.

    Servers without a tier take part in no tier edges. Names that are not servers are dropped
    (the loader reports them).
    """
    tiers = sorted((s.tier, name) for name, s in servers.items() if s.tier is not None)
    out: dict[str, frozenset[str]] = {}
    for name, server in servers.items():
        deps = {d for d in server.depends_on if d in servers}
        if server.tier is not None:
            deps.update(n for t, n in tiers if t < server.tier)
        out[name] = frozenset(deps)
    return out


def tier_conflicts(servers: Mapping[str, Dependent]) -> list[tuple[str, str]]:
    """``(server, dependency)`` pairs where ``dependsOn`` names a server of a higher tier, which
    the tier barrier already makes wait for this one: a cycle with a clearer cause."""
    return [
        (name, dep)
        for name, s in servers.items()
        if s.tier is not None
        for dep in dict.fromkeys(s.depends_on)
        if dep in servers and (t := servers[dep].tier) is not None and t > s.tier
    ]


def find_cycles(deps: Deps) -> list[tuple[str, ...]]:
    """Every independent cycle, each as ``(a, b, …)`` meaning a waits for b waits for … a.

    Found one at a time with graphlib, breaking each before looking again, so a graph with
    several separate cycles reports all of them.
    """
    graph = {name: set(ds) for name, ds in deps.items()}
    cycles: list[tuple[str, ...]] = []
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return cycles
        except graphlib.CycleError as exc:
            # graphlib lists each node as a dependency of the next, closing on the first.
            found: list[str] = list(exc.args[1])[:-1]
            found.reverse()
            cycles.append(_rotate(found))
            graph[found[0]].discard(found[1 % len(found)])


def levels(deps: Deps) -> list[tuple[str, ...]]:
    """Servers by depth: layer 0 waits for nobody, layer k only for layers below k. Each layer
    is sorted. ``deps`` must be acyclic (``graphlib.CycleError`` otherwise)."""
    sorter = graphlib.TopologicalSorter({name: set(ds) for name, ds in deps.items()})
    sorter.prepare()
    out: list[tuple[str, ...]] = []
    while sorter.is_active():
        ready = tuple(sorted(sorter.get_ready()))
        out.append(ready)
        sorter.done(*ready)
    return out


def dependents(deps: Deps, names: Iterable[str]) -> frozenset[str]:
    """Every server that waits, directly or through others, for any of ``names`` (``names``
    themselves excluded unless they depend on each other)."""
    users: dict[str, set[str]] = {}
    for name, ds in deps.items():
        for d in ds:
            users.setdefault(d, set()).add(name)
    return _reach(users, names)


def dependencies(deps: Deps, names: Iterable[str]) -> frozenset[str]:
    """Every server that any of ``names`` waits for, directly or through others."""
    return _reach(deps, names)


def _reach(edges: Deps, names: Iterable[str]) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


def _rotate(cycle: list[str]) -> tuple[str, ...]:
    """Start the cycle at its smallest name, so the same cycle always reads the same."""
    i = cycle.index(min(cycle))
    return tuple(cycle[i:] + cycle[:i])
