"""Restart decisions (DESIGN §4): exponential backoff with jitter, a cap, a budget, a reset.

Pure: the caller passes the time and the random draw, so every schedule is testable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mcp_marshal.config.models import RestartPolicy

JITTER = 0.10


def restart_delay_ms(policy: RestartPolicy, attempt: int, draw: float = 0.5) -> int:
    """Delay before restart number ``attempt`` (1-based): ``initial × 2^(attempt-1)`` ±10 %, capped.

    ``draw`` in [0, 1) picks the jitter (0.5 means none); the cap applies after jitter so the
    delay never exceeds ``maxDelayMs``.
    """
    base = policy.initial_delay_ms * (2 ** max(0, attempt - 1))
    jittered = base * (1 + JITTER * (2 * draw - 1))
    return int(min(jittered, policy.max_delay_ms))


@dataclass(frozen=True, slots=True)
class RestartDecision:
    restart: bool
    attempt: int
    delay_ms: int


class RestartBudget:
    """Counts restarts in a row; ``resetAfterMs`` of continuous readiness clears the count."""

    def __init__(self, policy: RestartPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.count = 0
        self._ready_since: float | None = None
        self._rng = rng or random.Random()

    def on_ready(self, now: float) -> None:
        self._ready_since = now

    def on_not_ready(self) -> None:
        self._ready_since = None

    def maybe_reset(self, now: float) -> bool:
        """Clear the count if the server has been ready long enough; True when it did."""
        if self._ready_since is not None and (now - self._ready_since) * 1000 >= self.policy.reset_after_ms:
            self.count = 0
            return True
        return False

    def on_exit(self, now: float) -> RestartDecision:
        """Decide what an unexpected exit (or failed start) at ``now`` leads to."""
        self.maybe_reset(now)
        self._ready_since = None
        if self.count >= self.policy.max_restarts:
            return RestartDecision(False, self.count, 0)
        self.count += 1
        return RestartDecision(True, self.count, restart_delay_ms(self.policy, self.count, self._rng.random()))

    def reset(self) -> None:
        self.count = 0
        self._ready_since = None
