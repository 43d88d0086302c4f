"""Backoff and the restart budget as tables: delays, and exit → backoff → failed sequences."""

from __future__ import annotations

import pytest

from mcp_marshal.config.models import RestartPolicy
from mcp_marshal.supervise.backoff import Budget, RestartDecision, restart_delay_ms
from mcp_marshal.supervise.states import TRANSITIONS, ServerState, can_transition

POLICY = RestartPolicy(max_restarts=5, initial_delay_ms=1000, max_delay_ms=30000, reset_after_ms=300000)


def test_delay_doubles_and_caps() -> None:
    assert [restart_delay_ms(POLICY, k) for k in range(1, 8)] == [1000, 2000, 4000, 8000, 16000, 30000, 30000]


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 9])
def test_jitter_stays_within_ten_percent_and_under_cap(attempt: int) -> None:
    base = min(1000 * 2 ** (attempt - 1), 30000)
    lo, hi = restart_delay_ms(POLICY, attempt, 0.0), restart_delay_ms(POLICY, attempt, 0.999999)
    assert int(base * 0.9) - 1 <= lo <= hi <= min(int(base * 1.1) + 1, 30000)


@pytest.mark.parametrize("attempt", [1024, 1025, 10**6, 10**12])
def test_delay_saturates_for_any_attempt(attempt: int) -> None:
    # 2**1024 overflowed a float and killed supervision after ~8.5 h of crash looping
    assert restart_delay_ms(POLICY, attempt, 0.0) == restart_delay_ms(POLICY, attempt, 0.99) == 30000


def test_zero_initial_delay_restarts_at_once() -> None:
    assert restart_delay_ms(RestartPolicy(initial_delay_ms=0), 1, 0.9) == 0


def run(steps: str, policy: RestartPolicy = POLICY) -> list[RestartDecision]:
    """Apply ``exit@T``, ``ready@T`` and ``tick@T`` steps (seconds) to a fresh budget."""
    budget, out = Budget(), []
    for step in steps.split():
        kind, at = step.split("@")
        now = float(at)
        if kind == "exit":
            budget, decision = budget.after_exit(now, policy, 0.5)
            out.append(decision)
        elif kind == "ready":
            budget = budget.ready(now)
        else:
            budget = budget.settled(now, policy)
    return out


def restart(attempt: int) -> RestartDecision:
    return RestartDecision(True, attempt, restart_delay_ms(POLICY, attempt))


def give_up(count: int) -> RestartDecision:
    return RestartDecision(False, count, 0)


@pytest.mark.parametrize(
    ("steps", "decisions"),
    [
        ("exit@0", [restart(1)]),
        ("exit@0 exit@1 exit@2 exit@3 exit@4 exit@5 exit@6", [*map(restart, range(1, 6)), give_up(5), give_up(5)]),
        # a short spell of readiness does not reset the count
        ("exit@0 exit@1 exit@2 exit@3 exit@4 ready@10 exit@20", [*map(restart, range(1, 6)), give_up(5)]),
        # resetAfterMs (300 s) of readiness does, noticed at the exit or at a health tick
        ("exit@0 exit@1 exit@2 exit@3 exit@4 ready@100 exit@401", [*map(restart, range(1, 6)), restart(1)]),
        ("exit@0 exit@1 ready@100 tick@401 exit@500", [restart(1), restart(2), restart(1)]),
        ("exit@0 exit@1 ready@100 tick@399 exit@500", [restart(1), restart(2), restart(1)]),
        ("exit@0 exit@1 ready@100 tick@399 exit@399.5", [restart(1), restart(2), restart(3)]),
        # readiness counts from the latest ready: a crash in between starts the clock again
        ("ready@0 exit@299 ready@300 exit@599", [restart(1), restart(2)]),
    ],
)
def test_exit_backoff_failed_sequences(steps: str, decisions: list[RestartDecision]) -> None:
    assert run(steps) == decisions


def test_no_restarts_means_the_first_exit_fails() -> None:
    assert run("exit@0", RestartPolicy(max_restarts=0)) == [give_up(0)]


def test_delays_grow_with_the_attempts_in_a_row() -> None:
    delays = [d.delay_ms for d in run("exit@0 exit@1 exit@2 exit@3 exit@4")]
    assert delays == [1000, 2000, 4000, 8000, 16000]


def test_state_table_is_closed_and_stopping_always_ends_stopped() -> None:
    assert set(TRANSITIONS) == set(ServerState)
    assert TRANSITIONS[ServerState.STOPPING] == {ServerState.STOPPED}
    assert can_transition(ServerState.READY, ServerState.UNHEALTHY)
    assert not can_transition(ServerState.FAILED, ServerState.READY)
