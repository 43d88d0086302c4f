"""A token bucket for lines of output: the core limits what a server's stderr puts on the bus,
the LSP limits what it forwards to the editor; both count what they hold back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """Allows ``burst`` lines at once and ``rate`` lines per second after that.

    Pure: the caller passes the time. ``take`` says whether a line may go out now, and counts
    the ones refused so the next allowed line can be preceded by "N lines suppressed".
    """

    rate: float = 20.0
    burst: float = 50.0
    tokens: float = -1.0
    last: float = 0.0
    suppressed: int = 0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.last = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.suppressed += 1
        return False

    def drain_suppressed(self) -> int:
        """The count of refused lines since the last call, reset to zero."""
        count, self.suppressed = self.suppressed, 0
        return count
