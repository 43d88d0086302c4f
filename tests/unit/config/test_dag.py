"""The start-order graph: tiers as barriers, levels, dependents, cycles."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_marshal.config import dag


@dataclass
class S:
    depends_on: list[str] = field(default_factory=list)
    tier: int | None = None


def test_tiers_are_barriers_and_untiered_servers_take_no_part() -> None:
    servers = {"a": S(tier=0), "b": S(tier=0), "c": S(tier=1), "d": S(tier=2), "free": S(), "e": S(["a"])}
    deps = dag.effective_deps(servers)
    assert deps == {
        "a": frozenset(),
        "b": frozenset(),
        "c": {"a", "b"},
        "d": {"a", "b", "c"},
        "free": frozenset(),
        "e": {"a"},
    }
    assert dag.levels(deps) == [("a", "b", "free"), ("c", "e"), ("d",)]


def test_unknown_names_are_dropped_from_the_graph() -> None:
    assert dag.effective_deps({"a": S(["ghost"])}) == {"a": frozenset()}


def test_dependents_and_dependencies_are_transitive() -> None:
    deps = {"db": set(), "api": {"db"}, "web": {"api"}, "other": set()}
    assert dag.dependents(deps, ["db"]) == {"api", "web"}
    assert dag.dependents(deps, ["web"]) == set()
    assert dag.dependencies(deps, ["web"]) == {"api", "db"}


def test_find_cycles_reports_each_independent_cycle_in_waiting_order() -> None:
    deps = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "self": {"self"}, "x": {"y"}, "y": {"x"}, "ok": set()}
    assert sorted(dag.find_cycles(deps)) == [("a", "b", "c"), ("self",), ("x", "y")]
    assert dag.find_cycles({"a": set(), "b": {"a"}}) == []


def test_tier_conflict_is_a_dependency_on_a_higher_tier() -> None:
    servers = {"low": S(["high", "same"], tier=1), "high": S(tier=2), "same": S(tier=1), "x": S(["high"])}
    assert dag.tier_conflicts(servers) == [("low", "high")]
