"""The start-order graph: tiers as barriers, levels, dependents, cycles."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from mcp_marshal.config import dag
from mcp_marshal.config.dag import Cycle, DependencyGraph


@dataclass
class S:
    depends_on: list[str] = field(default_factory=list[str])
    tier: int | None = None


def graph_of(**servers: S) -> DependencyGraph:
    return DependencyGraph.of(servers)


def test_tiers_are_barriers_and_untiered_servers_take_no_part() -> None:
    g = graph_of(a=S(tier=0), b=S(tier=0), c=S(tier=1), d=S(tier=2), free=S(), e=S(["a"]))
    assert {n: g.needs(n) for n in g.names} == {
        "a": frozenset(),
        "b": frozenset(),
        "c": {"a", "b"},
        "d": {"a", "b", "c"},
        "free": frozenset(),
        "e": {"a"},
    }
    assert {n: g.users(n) for n in g.names} == {
        "a": {"c", "d", "e"},
        "b": {"c", "d"},
        "c": {"d"},
        "d": frozenset(),
        "free": frozenset(),
        "e": frozenset(),
    }
    assert g.levels() == [("a", "b", "free"), ("c", "e"), ("d",)]


def test_levels_follow_the_deepest_path_through_tiers_and_edges() -> None:
    g = graph_of(a=S(), b=S(["a"]), c=S(["b"], tier=0), d=S(tier=1), e=S(tier=5), f=S(["e"]))
    assert g.levels() == [("a",), ("b",), ("c",), ("d",), ("e",), ("f",)]


def test_unknown_names_are_dropped_from_the_graph() -> None:
    assert graph_of(a=S(["ghost"])).needs("a") == frozenset()


def test_dependents_and_dependencies_are_transitive() -> None:
    g = graph_of(db=S(), api=S(["db"]), web=S(["api"]), other=S())
    assert g.dependents(["db"]) == {"api", "web"}
    assert g.dependents(["web"]) == set()
    assert g.dependencies(["web"]) == {"api", "db"}


def test_dependents_and_dependencies_cross_tiers() -> None:
    g = graph_of(t0=S(tier=0), t1=S(tier=1), t2=S(tier=2), side=S(["t1"]), base=S(), low=S(["base"], tier=0))
    assert g.dependents(["t1"]) == {"t2", "side"}
    assert g.dependents(["base"]) == {"low", "t1", "t2", "side"}
    assert g.dependencies(["side"]) == {"t1", "t0", "low", "base"}


def test_restricted_keeps_only_the_named_servers() -> None:
    g = graph_of(a=S(tier=0), b=S(["a"], tier=1), c=S(["b"]))
    sub = g.restricted(["a", "b"])
    assert sub.names == ("a", "b") and sub.needs("b") == {"a"}


CYCLES: list[tuple[dag.Deps, list[Cycle]]] = [
    ({"a": set(), "b": {"a"}}, []),
    ({"s": {"s"}}, [Cycle(("s",), ("s",))]),
    (
        {"ok": set(), "c": {"a"}, "a": {"b"}, "b": {"c"}, "x": {"y"}, "y": {"x"}, "self": {"self"}},
        [Cycle(("c", "a", "b"), ("c", "a", "b")), Cycle(("x", "y"), ("x", "y")), Cycle(("self",), ("self",))],
    ),
    # A figure eight is one tangle: its shortest cycle through the first member, and all members.
    ({"a": {"b", "c"}, "b": {"a"}, "c": {"d"}, "d": {"a"}}, [Cycle(("a", "b"), ("a", "b", "c", "d"))]),
    # A node that leads into a cycle is not in it.
    ({"in": {"a"}, "a": {"b"}, "b": {"a", "out"}, "out": set()}, [Cycle(("a", "b"), ("a", "b"))]),
    ({"a": {"ghost"}}, []),  # an edge to a name that is no node
]


@pytest.mark.parametrize(("deps", "cycles"), CYCLES)
def test_find_cycles_gives_one_cycle_per_tangle_in_file_order(deps: dag.Deps, cycles: list[Cycle]) -> None:
    assert dag.find_cycles(deps) == cycles


def test_find_cycles_is_linear_on_a_long_ring() -> None:
    n = 100_000
    ring = {f"s{i}": {f"s{(i + 1) % n}"} for i in range(n)}
    start = time.perf_counter()
    [cycle] = dag.find_cycles(ring)
    assert time.perf_counter() - start < 5  # about 0.3 s; one graphlib pass per cycle was quadratic
    assert cycle.path[:3] == ("s0", "s1", "s2") and len(cycle.path) == len(cycle.members) == n


def test_cycles_through_a_tier_read_as_server_hops() -> None:
    g = graph_of(hi=S(tier=2), lo=S(["free"], tier=1), free=S(["hi"]))
    assert g.cycles() == [Cycle(("hi", "lo", "free"), ("hi", "lo", "free"))]


def test_tier_conflict_is_a_dependency_on_a_higher_tier() -> None:
    servers = {"low": S(["high", "same"], tier=1), "high": S(tier=2), "same": S(tier=1), "x": S(["high"])}
    assert dag.tier_conflicts(servers) == [("low", "high")]
    assert DependencyGraph.of(servers).cycles(without=dag.tier_conflicts(servers)) == []
