"""The batching decisions (pure, clocked): what waits, what is dropped, when a batch is due.

No I/O and no clock of its own: every call that depends on time takes ``now`` (seconds, any
monotonic origin). The pipeline feeds it; tests drive it with plain numbers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp_marshal.telemetry.record import Batch, Record

if TYPE_CHECKING:
    from mcp_marshal.config.models import TelemetrySettings

QUEUE_FULL = "queue_full"


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """``batch_size`` records make a batch due; so does ``interval`` seconds after the first
    waiting record; at most ``max_queue`` records wait, the oldest are dropped beyond."""

    batch_size: int = 100
    interval: float = 5.0
    max_queue: int = 2048

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_queue < 1 or self.interval <= 0:
            raise ValueError(f"telemetry limits must be positive: {self}")

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> BatchLimits:
        """From ``mcpMarshal.telemetry``; a batch larger than the queue is capped to the queue."""
        return cls(
            batch_size=min(settings.batch_size, settings.max_queue),
            interval=settings.batch_interval_ms / 1000,
            max_queue=settings.max_queue,
        )


class Batcher:
    """A bounded queue of records with drop-oldest accounting.

    ``add`` is O(1), never blocks and never raises; its result tells the owner when to wake its
    flusher, so the flusher never polls.
    """

    def __init__(self, limits: BatchLimits | None = None) -> None:
        self.limits = limits or BatchLimits()
        self._queue: deque[Record] = deque(maxlen=self.limits.max_queue)
        self._pending: dict[str, int] = {}
        self._total: dict[str, int] = {}
        self._first_at: float | None = None
        self._seq = 0
        self.accepted = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def pending_dropped(self) -> dict[str, int]:
        """Drops not yet reported in a batch, by reason."""
        return dict(self._pending)

    @property
    def dropped_total(self) -> dict[str, int]:
        """Every drop since creation, by reason."""
        return dict(self._total)

    def add(self, record: Record, now: float) -> bool:
        """Queue ``record``; when full, the oldest waiting record is dropped and counted.

        True when the owner's flusher must wake: a batch became due by size, or this record
        started an interval (a sleeping flusher must arm its timer for it).
        """
        idle, waiting = self._first_at is None, len(self._queue)
        if waiting >= self.limits.max_queue:
            self.drop(QUEUE_FULL, 1, now)
        elif idle:
            self._first_at = now
        self._queue.append(record)
        self.accepted += 1
        return idle or waiting + 1 == self.limits.batch_size

    def drop(self, reason: str, count: int, now: float) -> None:
        """Count records lost (a full queue, or lost before they reached it, e.g. after shutdown)."""
        if count <= 0:
            return
        self._pending[reason] = self._pending.get(reason, 0) + count
        self._total[reason] = self._total.get(reason, 0) + count
        if self._first_at is None:
            self._first_at = now

    def next_due(self) -> float | None:
        """When the interval makes a batch due (None: nothing waits). Size is checked by ``due``."""
        if self._first_at is None:
            return None
        return self._first_at + self.limits.interval

    def due(self, now: float) -> bool:
        if len(self._queue) >= self.limits.batch_size:
            return True
        return self._first_at is not None and now >= self._first_at + self.limits.interval

    def take(self, now: float, *, force: bool = False) -> Batch | None:
        """The next batch if one is due (or anything waiting, with ``force``), else None.

        A batch holds at most ``batch_size`` records, oldest first, and every drop counted
        since the previous batch. Records left behind start a fresh interval at ``now``.
        """
        if not (force or self.due(now)) or (not self._queue and not self._pending):
            return None
        n = min(len(self._queue), self.limits.batch_size)
        records = tuple(self._queue.popleft() for _ in range(n))
        dropped, self._pending = self._pending, {}
        self._first_at = now if self._queue else None
        self._seq += 1
        return Batch(self._seq, records, dropped)

    def take_all(self, now: float) -> list[Batch]:
        """Everything waiting, as consecutive batches (flush and shutdown)."""
        batches: list[Batch] = []
        while (batch := self.take(now, force=True)) is not None:
            batches.append(batch)
        return batches

    def reconfigure(self, limits: BatchLimits, now: float) -> None:
        """Apply new limits; shrinking the queue drops (and counts) the oldest records."""
        excess = len(self._queue) - limits.max_queue
        self._queue = deque(self._queue, maxlen=limits.max_queue)  # keeps the newest
        if excess > 0:
            self.drop(QUEUE_FULL, excess, now)
        self.limits = limits
        if self._first_at is None and (self._queue or self._pending):
            self._first_at = now
