"""The start-order graph (``Config.deps``): who waits for whom, and the pure functions over it.

A server may start once every server it waits for is ready; independent branches never wait
for each other.
"""

from __future__ import annotations

import bisect
import graphlib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

Deps = Mapping[str, Collection[str]]


class Dependent(Protocol):
    """What the graph needs of a server: ``ServerSpec`` and the settings models both fit."""

    @property
    def depends_on(self) -> Sequence[str]: ...
    @property
    def tier(self) -> int | None: ...


@dataclass(frozen=True)
class DependencyGraph:
    """Who waits for whom: ``dependsOn`` edges plus tiers, held in memory linear in the file.

    ``tier: n`` means "waits for every server of a tier below ``n``"; that set is derived on
    demand, never stored per server (3,000 tiers would be 4.5 M edges). Servers without a tier
    take part in no tier edges. ``explicit`` lists every server in file order.
    """

    explicit: Mapping[str, frozenset[str]]
    tiers: Mapping[str, int] = field(default_factory=dict[str, int])

    @classmethod
    def of(cls, servers: Mapping[str, Dependent]) -> DependencyGraph:
        """The graph of ``servers``; names that are not servers are dropped (the loader reports them)."""
        explicit = {name: frozenset(d for d in s.depends_on if d in servers) for name, s in servers.items()}
        tiers = {name: s.tier for name, s in servers.items() if s.tier is not None}
        return cls(explicit, tiers)

    @cached_property
    def _by_tier(self) -> tuple[tuple[int, ...], tuple[str, ...]]:
        ordered = sorted((t, name) for name, t in self.tiers.items())
        return tuple(t for t, _ in ordered), tuple(name for _, name in ordered)

    @cached_property
    def _users(self) -> dict[str, frozenset[str]]:
        users: dict[str, set[str]] = {}
        for name, deps in self.explicit.items():
            for dep in deps:
                users.setdefault(dep, set()).add(name)
        return {name: frozenset(u) for name, u in users.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.explicit)

    def below(self, tier: int) -> tuple[str, ...]:
        """Servers of a tier lower than ``tier``, lowest tier first."""
        values, names = self._by_tier
        return names[: bisect.bisect_left(values, tier)]

    def above(self, tier: int) -> tuple[str, ...]:
        """Servers of a tier higher than ``tier``, lowest tier first."""
        values, names = self._by_tier
        return names[bisect.bisect_right(values, tier) :]

    def needs(self, name: str) -> frozenset[str]:
        """Every server ``name`` waits for directly: its ``dependsOn`` plus the lower tiers."""
        tier = self.tiers.get(name)
        lower = self.below(tier) if tier is not None else ()
        return self.explicit.get(name, frozenset()).union(lower)

    def users(self, name: str) -> frozenset[str]:
        """Every server that waits for ``name`` directly (``dependsOn`` or a higher tier)."""
        tier = self.tiers.get(name)
        higher = self.above(tier) if tier is not None else ()
        return self._users.get(name, frozenset()).union(higher)

    def dependents(self, names: Iterable[str]) -> frozenset[str]:
        """Every server that waits, directly or through others, for any of ``names`` (``names``
        themselves excluded unless they depend on each other)."""
        return self._reach(names, self._users, self.above, lowest=True)

    def dependencies(self, names: Iterable[str]) -> frozenset[str]:
        """Every server that any of ``names`` waits for, directly or through others."""
        return self._reach(names, self.explicit, self.below, lowest=False)

    def _reach(
        self,
        names: Iterable[str],
        edges: Mapping[str, frozenset[str]],
        across: Callable[[int], tuple[str, ...]],
        *,
        lowest: bool,
    ) -> frozenset[str]:
        # Tier edges are added once, from the most inclusive tier seen: linear, not quadratic.
        seen: set[str] = set()
        todo = list(names)
        widest: int | None = None
        while todo:
            name = todo.pop()
            nxt: set[str] = set(edges.get(name, ()))
            tier = self.tiers.get(name)
            if tier is not None and (widest is None or (tier < widest if lowest else tier > widest)):
                widest = tier
                nxt.update(across(tier))
            for other in nxt - seen:
                seen.add(other)
                todo.append(other)
        return frozenset(seen)

    def restricted(self, names: Iterable[str]) -> DependencyGraph:
        """The graph among ``names`` only (edges to other servers dropped), in file order."""
        keep = set(names)
        explicit = {n: deps & keep for n, deps in self.explicit.items() if n in keep}
        return DependencyGraph(explicit, {n: t for n, t in self.tiers.items() if n in keep})

    def _barriers(self, without: Collection[tuple[str, str]] = ()) -> dict[str, set[str]]:
        """The graph with one virtual node per tier value standing for "every lower tier": the
        same order as ``needs``, in linear size. ``without`` drops ``dependsOn`` edges."""
        graph: dict[str, set[str]] = {n: set(deps) for n, deps in self.explicit.items()}
        for name, dep in without:
            graph[name].discard(dep)
        values = sorted(set(self.tiers.values()))
        members: dict[int, list[str]] = {}
        for name, tier in self.tiers.items():
            members.setdefault(tier, []).append(name)
        for i, tier in enumerate(values):
            barrier = _barrier(tier)
            graph[barrier] = set(members[values[i - 1]]) | {_barrier(values[i - 1])} if i else set()
            for name in members[tier]:
                graph[name].add(barrier)
        return graph

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Every server after everything it waits for (a topological order: level by level, each level sorted).
        The graph must be acyclic (``graphlib.CycleError`` otherwise)."""
        return tuple(name for level in self.levels() for name in level)

    def levels(self) -> list[tuple[str, ...]]:
        """Servers by depth: layer 0 waits for nobody, layer k only for layers below k. Each layer
        is sorted. The graph must be acyclic (``graphlib.CycleError`` otherwise)."""
        graph = self._barriers()
        sorter = graphlib.TopologicalSorter(graph)
        sorter.prepare()
        depth: dict[str, int] = {}
        while sorter.is_active():
            for node in sorter.get_ready():
                if _is_barrier(node):  # the depth of the deepest server below it
                    depth[node] = max((depth[d] for d in graph[node]), default=-1)
                else:
                    depth[node] = max((depth[d] + 1 for d in graph[node]), default=0)
                sorter.done(node)
        out: dict[int, list[str]] = {}
        for name in self.explicit:
            out.setdefault(depth[name], []).append(name)
        return [tuple(sorted(out[k])) for k in sorted(out)]

    def cycles(self, without: Collection[tuple[str, str]] = ()) -> list[Cycle]:
        """One ``Cycle`` per set of servers that wait for each other (see ``find_cycles``), tier
        edges included, ``without`` the given ``dependsOn`` edges; a hop through a tier reads
        as a hop to the next server."""
        found = find_cycles(self._barriers(without))
        return [
            Cycle(
                tuple(n for n in c.path if not _is_barrier(n)),
                tuple(n for n in c.members if not _is_barrier(n)),
            )
            for c in found
        ]


def _barrier(tier: int) -> str:
    return f"\0tier<{tier}"  # a NUL: no server name in a JSON file can collide with it


def _is_barrier(node: str) -> bool:
    return node.startswith("\0")


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


@dataclass(frozen=True, slots=True)
class Cycle:
    """Servers that wait for each other: a strongly connected part of the graph.

    ``path`` is one cycle through it, ``(a, b, …)`` meaning a waits for b waits for … a; it
    starts at the member that comes first in the graph's (the file's) order and is the shortest
    such cycle. ``members`` is every node of the part, in the graph's order.
    """

    path: tuple[str, ...]
    members: tuple[str, ...]


def find_cycles(deps: Deps) -> list[Cycle]:
    """Every set of nodes that wait for each other, in the order of their first member.

    Linear in the graph (Tarjan's strongly connected components, without recursion, then one
    breadth-first search inside each), so a 3,000-server ring is one ``Cycle``, found at once.
    """
    order = {name: i for i, name in enumerate(deps)}
    found: list[Cycle] = []
    for part in _components(deps):
        members = sorted(part, key=lambda n: order.get(n, len(order)))
        found.append(Cycle(_shortest_cycle(deps, members[0], set(part)), tuple(members)))
    found.sort(key=lambda c: order.get(c.members[0], len(order)))
    return found


def _components(deps: Deps) -> list[list[str]]:
    """Tarjan's strongly connected components that hold a cycle (two nodes or more, or a node
    that waits for itself). An explicit stack stands in for recursion: a chain may be long."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in deps:
        if root in index:
            continue
        enter(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(deps.get(root, ())))]
        while work:
            node, nexts = work[-1]
            for nxt in nexts:
                if nxt not in index:
                    enter(nxt)
                    work.append((nxt, iter(deps.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    part: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1 or node in deps.get(node, ()):
                        parts.append(part)
    return parts


def _shortest_cycle(deps: Deps, start: str, part: set[str]) -> tuple[str, ...]:
    """The shortest cycle from ``start`` back to it inside ``part`` (breadth first; successors
    sorted, so the same file always reads the same)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(deps.get(node, ())):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return tuple(reversed(path))
            if nxt in part and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start!r} is in a strongly connected part but on no cycle")
