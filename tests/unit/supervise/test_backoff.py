import random

from mcp_marshal.config.models import RestartPolicy
from mcp_marshal.supervise.backoff import RestartBudget, restart_delay_ms
from mcp_marshal.supervise.states import TRANSITIONS, ServerState, can_transition

POLICY = RestartPolicy(max_restarts=5, initial_delay_ms=1000, max_delay_ms=30000, reset_after_ms=300000)


def test_delay_doubles_and_caps() -> None:
    assert [restart_delay_ms(POLICY, k) for k in range(1, 8)] == [1000, 2000, 4000, 8000, 16000, 30000, 30000]


def test_jitter_stays_within_ten_percent_and_under_cap() -> None:
    for k in range(1, 10):
        base = min(1000 * 2 ** (k - 1), 30000)
        lo, hi = restart_delay_ms(POLICY, k, 0.0), restart_delay_ms(POLICY, k, 0.999999)
        assert lo >= int(base * 0.9) - 1 if base < 30000 else True
        assert hi <= 30000
        assert lo <= hi


def test_zero_initial_delay_restarts_at_once() -> None:
    policy = RestartPolicy(initial_delay_ms=0)
    assert restart_delay_ms(policy, 1, 0.9) == 0


def test_budget_allows_exactly_max_restarts_then_gives_up() -> None:
    budget = RestartBudget(POLICY, random.Random(1))
    decisions = [budget.on_exit(now=float(i)) for i in range(7)]
    assert [d.restart for d in decisions] == [True] * 5 + [False, False]
    assert [d.attempt for d in decisions[:5]] == [1, 2, 3, 4, 5]
    delays = [d.delay_ms for d in decisions[:5]]
    assert delays == sorted(delays)


def test_budget_resets_after_stable_readiness() -> None:
    budget = RestartBudget(POLICY)
    for i in range(5):
        budget.on_exit(now=float(i))
    budget.on_ready(now=100.0)
    assert not budget.maybe_reset(now=100.0 + 299.0)
    decision = budget.on_exit(now=100.0 + 301.0)
    assert decision.restart and decision.attempt == 1


def test_short_readiness_does_not_reset() -> None:
    budget = RestartBudget(POLICY)
    for i in range(5):
        budget.on_exit(now=float(i))
    budget.on_ready(now=10.0)
    assert not budget.on_exit(now=20.0).restart


def test_state_table_is_closed_and_stopping_always_ends_stopped() -> None:
    assert set(TRANSITIONS) == set(ServerState)
    assert TRANSITIONS[ServerState.STOPPING] == {ServerState.STOPPED}
    assert can_transition(ServerState.READY, ServerState.UNHEALTHY)
    assert not can_transition(ServerState.FAILED, ServerState.READY)
