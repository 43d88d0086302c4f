"""The start scheduler as a table: (graph, states, waiting) → which start, which are blocked."""

from __future__ import annotations

import pytest

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.supervise.schedule import plan_starts
from mcp_marshal.supervise.states import ServerState

R, ST, F, B, STOP, X, BO, ING, UN = (
    ServerState.READY,
    ServerState.STARTING,
    ServerState.FAILED,
    ServerState.BLOCKED,
    ServerState.STOPPED,
    ServerState.EXITED,
    ServerState.BACKOFF,
    ServerState.STOPPING,
    ServerState.UNHEALTHY,
)


def graph(deps: dict[str, str] | None = None, tiers: dict[str, int] | None = None, names: str = "") -> DependencyGraph:
    """``deps`` as {"b": "a c"}: b depends on a and c; ``names`` adds servers without edges."""
    deps = deps or {}
    tiers = tiers or {}
    everyone = dict.fromkeys([*names.split(), *deps, *tiers, *(d for ds in deps.values() for d in ds.split())])
    return DependencyGraph({n: frozenset(deps.get(n, "").split()) for n in everyone}, tiers)


CHAIN = graph({"b": "a", "c": "b"})
DIAMOND = graph({"b": "a", "c": "a", "d": "b c"})
TIERS = graph(tiers={"a": 0, "b": 0, "c": 1, "d": 2}, names="free")

CASES = [
    # (id, graph, states, waiting, start, blocked)
    ("chain: only the root starts", CHAIN, {}, "a b c", "a", {}),
    ("chain: the next one once its dependency is ready", CHAIN, {"a": R}, "b c", "b", {}),
    ("chain: a starting dependency delays, never blocks", CHAIN, {"a": ST}, "b c", "", {}),
    ("chain: restarting dependencies delay", CHAIN, {"a": R, "b": BO}, "c", "", {}),
    ("chain: exited and unhealthy delay too", CHAIN, {"a": X, "b": UN}, "c", "", {}),
    (
        "chain: a failed root blocks its dependents",
        CHAIN,
        {"a": F},
        "b c",
        "",
        {"b": "waiting for a dependency: a is failed", "c": "waiting for a dependency: b is blocked"},
    ),
    ("chain: a stopped root nobody starts blocks", CHAIN, {}, "b", "", {"b": "waiting for a dependency: a is stopped"}),
    ("chain: a stopping root blocks", CHAIN, {"a": ING}, "b", "", {"b": "waiting for a dependency: a is stopping"}),
    ("chain: a blocked dependency blocks", CHAIN, {"b": B}, "c", "", {"c": "waiting for a dependency: b is blocked"}),
    ("chain: a revived root unblocks, dependents wait", CHAIN, {"b": B, "c": B}, "a b c", "a", {}),
    ("chain: nothing waiting, nothing to do", CHAIN, {"a": R, "b": R, "c": R}, "", "", {}),
    ("diamond: both branches start together", DIAMOND, {"a": R}, "b c d", "b c", {}),
    ("diamond: the join waits for the slower branch", DIAMOND, {"a": R, "b": R, "c": ST}, "d", "", {}),
    ("diamond: the join starts when both are ready", DIAMOND, {"a": R, "b": R, "c": R}, "d", "d", {}),
    (
        "diamond: one failed branch blocks the join only",
        DIAMOND,
        {"a": R, "b": F},
        "c d",
        "c",
        {"d": "waiting for a dependency: b is failed"},
    ),
    ("tiers: tier 0 and the untiered start at once", TIERS, {}, "a b c d free", "a b free", {}),
    ("tiers: a tier waits for all of the lower one", TIERS, {"a": R, "b": ST}, "c d", "", {}),
    ("tiers: tier 1 once tier 0 is ready", TIERS, {"a": R, "b": R}, "c d", "c", {}),
    ("tiers: tier 2 waits for tier 0 too", TIERS, {"a": R, "b": X, "c": R}, "d", "", {}),
    (
        "tiers: a failed tier-0 server blocks every higher tier",
        TIERS,
        {"a": F, "b": R},
        "c d",
        "",
        {"c": "waiting for a dependency: a is failed", "d": "waiting for a dependency: a is failed, c is blocked"},
    ),
    ("tiers: untiered servers ignore the barrier", TIERS, {"a": F}, "free", "free", {}),
    (
        "autoStart false: a stopped dependency nobody starts blocks",
        graph({"api": "db"}),
        {},
        "api",
        "",
        {"api": "waiting for a dependency: db is stopped"},
    ),
    ("a stopped dependency that will start is waited for", graph({"api": "db"}), {}, "db api", "db", {}),
    ("unknown waiting names are ignored", CHAIN, {}, "a ghost", "a", {}),
]


@pytest.mark.parametrize(
    ("graph_", "states", "waiting", "start", "blocked"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_starts(
    graph_: DependencyGraph, states: dict[str, ServerState], waiting: str, start: str, blocked: dict[str, str]
) -> None:
    plan = plan_starts(graph_, states, set(waiting.split()))
    assert plan.start == tuple(start.split())
    assert dict(plan.blocked) == blocked


HELD = [
    # (id, graph, states, waiting, held, start, blocked): servers waiting for the user's approval
    ("a held root blocks its dependents, named so", CHAIN, {}, "b c", "a", "", {
        "b": "waiting for a dependency: a needs approval", "c": "waiting for a dependency: b is blocked"}),
    ("a held tier-0 server blocks the next tier", TIERS, {"b": R}, "c", "a", "", {
        "c": "waiting for a dependency: a needs approval"}),
    ("a held server beside the graph blocks nobody", DIAMOND, {"a": R}, "b c", "free", "b c", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("graph_", "states", "waiting", "held", "start", "blocked"), [c[1:] for c in HELD], ids=[c[0] for c in HELD]
)
def test_plan_starts_with_held_servers(
    graph_: DependencyGraph,
    states: dict[str, ServerState],
    waiting: str,
    held: str,
    start: str,
    blocked: dict[str, str],
) -> None:
    plan = plan_starts(graph_, states, set(waiting.split()), set(held.split()))
    assert plan.start == tuple(start.split())
    assert dict(plan.blocked) == blocked


def test_many_hopeless_lower_tiers_are_counted_not_listed() -> None:
    g = DependencyGraph(
        {f"s{i}": frozenset() for i in range(10)} | {"top": frozenset()}, {**{f"s{i}": i for i in range(10)}, "top": 10}
    )
    plan = plan_starts(g, {f"s{i}": ServerState.FAILED for i in range(10)}, {"top"})
    assert plan.blocked == {"top": "waiting for a dependency: s0 is failed, s1 is failed, s2 is failed and 7 more"}


def test_three_thousand_tiers_plan_in_linear_time() -> None:
    n = 3000
    g = DependencyGraph({f"s{i:04}": frozenset() for i in range(n)}, {f"s{i:04}": i for i in range(n)})
    states = {f"s{i:04}": ServerState.READY for i in range(n // 2)}
    plan = plan_starts(g, states, {f"s{i:04}" for i in range(n // 2, n)})
    assert plan.start == (f"s{n // 2:04}",) and not plan.blocked
