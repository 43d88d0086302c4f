"""When a server is unhealthy: the verdict on each health check, the same for every transport.

Pure: the runner feeds it the outcome of each ping (``ok``) and acts on the verdict: a stdio
server found unhealthy is killed and restarted; a remote one is marked and checked again.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    HEALTHY = "healthy"
    """Answered; nothing to do."""
    RECOVERED = "recovered"
    """Answered after having been declared unhealthy: ready again."""
    MISSED = "missed"
    """No answer, but fewer misses in a row than the threshold."""
    UNHEALTHY = "unhealthy"
    """``threshold`` misses in a row (or more, for a remote server still being checked)."""


def health_step(misses: int, ok: bool, threshold: int) -> tuple[int, Verdict]:
    """The misses in a row after this check, and what it means."""
    if ok:
        return 0, Verdict.RECOVERED if misses >= threshold else Verdict.HEALTHY
    misses += 1
    return misses, Verdict.UNHEALTHY if misses >= threshold else Verdict.MISSED
