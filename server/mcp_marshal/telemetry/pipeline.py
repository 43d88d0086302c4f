"""The telemetry shell: events in (never blocking), batches out to isolated sinks.

``publish`` (an ``EventBus`` listener) turns an event into a redacted record and hands it to
the pure ``Batcher``; a flusher task owned by the pipeline takes due batches and offers each
to every sink's own worker. A worker delivers in order with the sink's timeout and counts its
errors; a slow sink only grows (and, past a bound, drops) its own backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, TypedDict

from mcp_marshal.events import Event, EventBus, TelemetryDropped
from mcp_marshal.redact import Redactor
from mcp_marshal.telemetry.batcher import Batcher, BatchLimits
from mcp_marshal.telemetry.record import Batch, Record, plain, record_from_event
from mcp_marshal.telemetry.sinks import Sink

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config

SINK_BACKLOG = "sink_backlog"
"""Drop reason for batches one slow sink lost from its own backlog (the other sinks still got them)."""

log = logging.getLogger(__name__)

SHUTDOWN = "shutdown"
RECORD_ERROR = "record_error"


@dataclass(slots=True)
class SinkStats:
    """Per-sink counters, in records (``errors``/``timeouts`` count failed deliveries)."""

    sent: int = 0
    errors: int = 0
    timeouts: int = 0
    skipped: int = 0
    dropped: int = 0
    backlog: int = 0
    enabled: bool = True


class FlushReport(TypedDict):
    """What ``flush``/``shutdown`` return (the ``mcpMarshal.flushTelemetry`` result).

    ``flushed``: records handed to the sinks by this call; ``dropped``/``reasons``: records lost
    since start (total, by reason); ``pending``: records still queued; ``complete``: every sink
    finished with everything flushed before the deadline.
    """

    flushed: int
    dropped: int
    reasons: dict[str, int]
    pending: int
    complete: bool
    sinks: dict[str, dict[str, Any]]


class _SinkWorker:
    """Delivers batches to one sink, in order, each bounded by the sink's timeout."""

    def __init__(self, sink: Sink, max_backlog: int) -> None:
        self.sink = sink
        self.stats = SinkStats()
        self.max_backlog = max_backlog
        self.done_seq = 0
        self._backlog: deque[Batch] = deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._errors_logged = 0
        self._unreported: dict[str, int] = {}
        """Drops this sink's output has not told yet: its own backlog losses, and the counts
        carried by the batches it lost. They ride in the next batch it delivers."""
        self.task: asyncio.Task[None] | None = None

    def offer(self, batch: Batch) -> None:
        self._backlog.append(batch)
        self.stats.backlog += len(batch.records)
        # A sink that cannot keep up loses its own oldest batches, never the others'.
        while self.stats.backlog > self.max_backlog and len(self._backlog) > 1:
            old = self._backlog.popleft()
            self.stats.backlog -= len(old.records)
            self.stats.dropped += len(old.records)
            self._count_unreported({**old.dropped, SINK_BACKLOG: len(old.records)})
        self._wake.set()

    def _count_unreported(self, dropped: Mapping[str, int]) -> None:
        for reason, count in dropped.items():
            self._unreported[reason] = self._unreported.get(reason, 0) + count

    async def run(self) -> None:
        while True:
            if not self._backlog:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._backlog.popleft()
            self.stats.backlog -= len(batch.records)
            if self._unreported:  # so a reader of this sink's output knows what it did not get
                self._count_unreported(batch.dropped)
                batch, self._unreported = replace(batch, dropped=self._unreported), {}
            await self._deliver(batch)
            async with self._progress:
                self.done_seq = batch.seq
                self._progress.notify_all()

    async def _deliver(self, batch: Batch) -> None:
        sink, stats = self.sink, self.stats
        if not sink.enabled:
            stats.skipped += len(batch.records)
            return
        try:
            async with asyncio.timeout(sink.timeout):
                await sink.deliver(batch)
        except TimeoutError:
            stats.errors += 1
            stats.timeouts += 1
            self._log_error(f"timed out after {sink.timeout:g} s")
        except Exception as exc:
            stats.errors += 1
            self._log_error(f"{type(exc).__name__}: {exc}")
        else:
            stats.sent += len(batch.records)

    def _log_error(self, what: str) -> None:
        # A broken sink fails on every batch: say so a few times, then only count.
        self._errors_logged += 1
        if self._errors_logged <= 3:
            log.warning("telemetry sink %r: batch %s", self.sink.name, what)

    async def wait_done(self, seq: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.done_seq >= seq)

    def snapshot(self) -> dict[str, Any]:
        self.stats.enabled = self.sink.enabled
        return asdict(self.stats)


class TelemetryPipeline:
    """Owns the batcher, the flusher task and one worker per sink.

    Producers call ``publish(event)`` (or ``emit``) on the event loop's thread; both return at
    once and never raise. ``start`` needs a running loop; ``flush``/``shutdown`` take a timeout
    in seconds and return a ``FlushReport``. Usable as ``async with``.
    """

    def __init__(
        self,
        sinks: Sequence[Sink] = (),
        *,
        limits: BatchLimits | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
        sink_backlog: int | None = None,
    ) -> None:
        self.batcher = Batcher(limits)
        self.redactor = redactor if redactor is not None else Redactor()
        self._clock = clock
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique: {names}")
        backlog = sink_backlog if sink_backlog is not None else 2 * self.batcher.limits.max_queue
        self._workers = [_SinkWorker(s, backlog) for s in sinks]
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._bus: EventBus | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._reporting_drops = False
        self._closed = False
        self._last_seq = 0
        self._final: FlushReport | None = None

    @classmethod
    def for_config(cls, config: Config, sinks: Sequence[Sink], **kwargs: Any) -> TelemetryPipeline:
        """Limits from ``mcpMarshal.telemetry`` and a redactor knowing the config's secrets."""
        kwargs.setdefault("redactor", Redactor.from_config(config))
        return cls(sinks, limits=BatchLimits.from_settings(config.telemetry), **kwargs)

    @property
    def sinks(self) -> Mapping[str, Sink]:
        return {w.sink.name: w.sink for w in self._workers}

    # --- producers -----------------------------------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        """Record every event published on ``bus`` (until ``shutdown``), and report this
        pipeline's own drops there as ``TelemetryDropped``."""
        self._bus = bus
        self._unsubscribe = bus.subscribe(self.publish)

    def publish(self, event: Event) -> None:
        """Queue a record of ``event``. Never blocks, never raises."""
        if self._reporting_drops and isinstance(event, TelemetryDropped):
            return  # our own drop report: it already travels in the batch's ``dropped``
        try:
            record = record_from_event(event, self.redactor)
        except Exception:
            self._record_failed(type(event).__name__)
            return
        self._accept(record)

    def emit(self, name: str, fields: Mapping[str, Any], ts: float | None = None) -> None:
        """Queue a record that is not a core event (e.g. a shell's own measurement); ``fields``
        are made JSON-ready and redacted as an event's are."""
        try:
            redacted = self.redactor.redact_fields({k: plain(v) for k, v in fields.items()})
            record = Record(name, time.time() if ts is None else ts, redacted)
        except Exception:
            self._record_failed(name)
            return
        self._accept(record)

    def _record_failed(self, what: str) -> None:
        log.exception("telemetry could not record %s", what)
        self.batcher.drop(RECORD_ERROR, 1, self._clock())

    def _accept(self, record: Record) -> None:
        if self._closed:
            self.batcher.drop(SHUTDOWN, 1, self._clock())
            return
        if self.batcher.add(record, self._clock()):
            self._poke()

    def _poke(self) -> None:
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the flusher and the sink workers (idempotent)."""
        if self._flusher is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        for w in self._workers:
            w.task = asyncio.create_task(w.run(), name=f"telemetry-sink-{w.sink.name}")
        self._flusher = asyncio.create_task(self._run(), name="telemetry-flusher")

    async def __aenter__(self) -> TelemetryPipeline:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def _run(self) -> None:
        while True:
            now = self._clock()
            batch = self.batcher.take(now)
            if batch is not None:
                self._dispatch(batch)
                await asyncio.sleep(0)  # yield to producers between batches of a backlog
                continue
            due = self.batcher.next_due()
            self._wake.clear()
            if due is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, due - now)):
                        await self._wake.wait()

    def _dispatch(self, batch: Batch) -> None:
        self._last_seq = batch.seq
        for w in self._workers:
            w.offer(batch)
        if batch.dropped and self._bus is not None:
            self._reporting_drops = True
            try:
                for reason, count in batch.dropped.items():
                    self._bus.publish(TelemetryDropped(count=count, reason=reason))
            finally:
                self._reporting_drops = False

    async def flush(self, timeout: float = 5.0) -> FlushReport:
        """Hand everything queued to the sinks and wait (at most ``timeout`` s) until every
        sink delivered it, failed, or timed out. Records queued after the call may ride along."""
        await self.start()
        deadline = asyncio.get_running_loop().time() + timeout
        batches = self.batcher.take_all(self._clock())
        for batch in batches:
            self._dispatch(batch)
        complete = await self._await_sinks(self._last_seq, deadline)
        return self._report(sum(len(b.records) for b in batches), complete)

    async def _await_sinks(self, seq: int, deadline: float) -> bool:
        waits = [w.wait_done(seq) for w in self._workers]
        if not waits:
            return True
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.gather(*waits)
        except TimeoutError:
            return False
        return True

    async def shutdown(self, timeout: float = 5.0) -> FlushReport:
        """Stop intake, drain the queue to every sink, close the sinks; all within ``timeout``.

        Later calls return the first report. Events published afterwards are counted as
        dropped (reason ``shutdown``) and never delivered.
        """
        if self._final is not None:
            return self._final
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        # Drain, keeping a little time to close the sinks (files flushed, exporters shut).
        report = await self.flush(max(0.0, (deadline - loop.time()) * 0.9))
        for w in self._workers:
            if w.task is not None:
                w.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w.task
        await asyncio.gather(*(self._close_sink(w.sink, deadline) for w in self._workers))
        self._final = report
        return report

    @staticmethod
    async def _close_sink(sink: Sink, deadline: float) -> None:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(0.01, min(sink.timeout, remaining))):
                await sink.aclose()
        except Exception as exc:
            log.warning("telemetry sink %r did not close cleanly: %s", sink.name, exc)

    # --- reporting and reconfiguration -----------------------------------------------------------

    def _report(self, flushed: int, complete: bool) -> FlushReport:
        reasons = dict(self.batcher.dropped_total)
        return {
            "flushed": flushed,
            "dropped": sum(reasons.values()),
            "reasons": reasons,
            "pending": len(self.batcher),
            "complete": complete,
            "sinks": {w.sink.name: w.snapshot() for w in self._workers},
        }

    def stats(self) -> FlushReport:
        """Current counters without flushing (``flushed`` is 0)."""
        return self._report(0, complete=len(self.batcher) == 0)

    def reconfigure(self, config: Config) -> None:
        """Apply a reloaded configuration: new secrets and limits. The sinks stay as built."""
        self.redactor.add_config(config)
        self.batcher.reconfigure(BatchLimits.from_settings(config.telemetry), self._clock())
        self._poke()
