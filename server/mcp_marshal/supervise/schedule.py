"""What to start next, and who is blocked: a pure function of the dependency graph, the server
states and the servers waiting to start (DESIGN §4).

The orchestrator calls :func:`plan_starts` after every state change and carries out the answer;
nothing here awaits or reads a clock, so every rule is a row in a table test.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.supervise.states import ServerState

S = ServerState
#: Blockers named in one reason; the rest are counted.
MAX_NAMED = 3
#: States a server not waiting to start will not leave by itself.
_STUCK = frozenset({S.FAILED, S.STOPPED, S.BLOCKED, S.STOPPING})


@dataclass(frozen=True, slots=True)
class Starts:
    """``start``: waiting servers whose every dependency is ready (in start order).
    ``blocked``: waiting servers a dependency of which cannot become ready by itself, with why.
    Every other waiting server keeps waiting for a dependency that is on its way."""

    start: tuple[str, ...] = ()
    blocked: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())


@dataclass(slots=True)
class _Stuck:
    """Hopeless dependencies: the first few by name, and how many in all."""

    names: list[str] = field(default_factory=lambda: list[str]())
    count: int = 0

    def add(self, name: str) -> None:
        self.count += 1
        if len(self.names) < MAX_NAMED:
            self.names.append(name)

    def merged(self, other: _Stuck) -> _Stuck:
        return _Stuck((self.names + other.names)[:MAX_NAMED], self.count + other.count)


@dataclass(slots=True)
class _Tiers:
    """What is known of a run of tiers: the first server that is not ready, and the hopeless
    ones, so a tiered server is checked in O(1) however many tiers lie below it."""

    unready: str | None = None
    stuck: _Stuck = field(default_factory=_Stuck)

    def merged(self, other: _Tiers) -> _Tiers:
        return _Tiers(self.unready or other.unready, self.stuck.merged(other.stuck))


def plan_starts(
    graph: DependencyGraph,
    states: Mapping[str, ServerState],
    waiting: Collection[str],
    held: Collection[str] = (),
) -> Starts:
    """Which of ``waiting`` can start now and which are blocked (``held``: servers that wait
    for the user's approval, named so in a blocked server's reason).

    A dependency that is not ready *blocks* (rather than delays) a server when it cannot become
    ready by itself: it failed, is stopped or stopping and nobody waits to start it, or it is
    waiting itself behind such a dependency. Linear in the graph: one pass in start order, with
    tiers handled as running summaries (every tiered server comes after all lower tiers).
    """
    hopeless: dict[str, bool] = {}
    start: list[str] = []
    blocked: dict[str, str] = {}
    below, current, tier_now = _Tiers(), _Tiers(), None
    for name in graph.order:
        tier = graph.tiers.get(name)
        if tier is not None and tier != tier_now:  # a higher tier begins: the last one is now below
            below, current, tier_now = below.merged(current), _Tiers(), tier
        state = states.get(name, S.STOPPED)
        if name in waiting:
            stuck = _Stuck()
            unready = None
            for dep in sorted(graph.explicit.get(name, ())):
                if hopeless[dep]:
                    stuck.add(dep)
                if unready is None and states.get(dep) != S.READY:
                    unready = dep
            if tier is not None:
                stuck = stuck.merged(below.stuck)
                unready = unready or below.unready
            hopeless[name] = stuck.count > 0
            if stuck.count:
                blocked[name] = _reason(stuck, states, waiting, held)
            elif unready is None:
                start.append(name)
        else:
            hopeless[name] = state in _STUCK
        if tier is not None:
            if hopeless[name]:
                current.stuck.add(name)
            if current.unready is None and state != S.READY:
                current.unready = name
    return Starts(tuple(start), blocked)


def _reason(stuck: _Stuck, states: Mapping[str, ServerState], waiting: Collection[str], held: Collection[str]) -> str:
    named = ", ".join(f"{d} {_why(d, states, waiting, held)}" for d in stuck.names)
    more = stuck.count - len(stuck.names)
    return f"waiting for a dependency: {named}" + (f" and {more} more" if more > 0 else "")


def _why(name: str, states: Mapping[str, ServerState], waiting: Collection[str], held: Collection[str]) -> str:
    if name in held:
        return "needs approval"
    # a hopeless dependency that is itself waiting is blocked, whatever its state says yet
    return f"is {'blocked' if name in waiting else states.get(name, S.STOPPED).value}"
