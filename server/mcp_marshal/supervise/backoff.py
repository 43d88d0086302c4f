"""Restart decisions (DESIGN §4): exponential backoff with jitter, a cap, a budget, a reset.

Pure: the runner passes the time and the random draw and keeps the returned ``Budget``, so
every schedule, and every exit → backoff → failed sequence, is a row in a table test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mcp_marshal.config.models import RestartPolicy

JITTER = 0.10
#: Doublings past this are the cap anyway; bounding the exponent keeps any attempt count exact.
_MAX_DOUBLINGS = 64


def restart_delay_ms(policy: RestartPolicy, attempt: int, draw: float = 0.5) -> int:
    """Delay before restart number ``attempt`` (1-based): ``initial × 2^(attempt-1)`` ±10 %, capped.

    ``draw`` in [0, 1) picks the jitter (0.5 means none); the cap applies after jitter so the
    delay never exceeds ``maxDelayMs``. Saturates for any ``attempt``, however large.
    """
    base = policy.initial_delay_ms * (2 ** min(max(0, attempt - 1), _MAX_DOUBLINGS))
    jittered = min(base, policy.max_delay_ms * 2) * (1 + JITTER * (2 * draw - 1))
    return int(min(jittered, policy.max_delay_ms))


@dataclass(frozen=True, slots=True)
class RestartDecision:
    restart: bool
    attempt: int
    delay_ms: int


@dataclass(frozen=True, slots=True)
class Budget:
    """Restarts in a row, and since when the server has been ready (monotonic seconds).

    ``resetAfterMs`` of continuous readiness clears the count; a manual start begins afresh.
    """

    count: int = 0
    ready_since: float | None = None

    def ready(self, now: float) -> Budget:
        return replace(self, ready_since=now)

    def settled(self, now: float, policy: RestartPolicy) -> Budget:
        """The count cleared if the server has been ready for ``resetAfterMs``; else unchanged."""
        if self.ready_since is not None and (now - self.ready_since) * 1000 >= policy.reset_after_ms:
            return replace(self, count=0)
        return self

    def after_exit(self, now: float, policy: RestartPolicy, draw: float) -> tuple[Budget, RestartDecision]:
        """What an unexpected exit (or failed start) at ``now`` leads to: a restart after a delay,
        or giving up once ``maxRestarts`` restarts in a row are spent."""
        spent = replace(self.settled(now, policy), ready_since=None)
        if spent.count >= policy.max_restarts:
            return spent, RestartDecision(False, spent.count, 0)
        count = spent.count + 1
        return replace(spent, count=count), RestartDecision(True, count, restart_delay_ms(policy, count, draw))
