"""Telemetry: records/s and bytes/record through the pipeline to the JSONL file, beside a plain write.

Ours: ``TelemetryPipeline.publish(event)`` (event → record → redaction against 50 known secrets →
``Batcher``) with the ``JsonlFileSink`` on its own thread, timed from the first event to the
file closed (fsync) by ``shutdown``, the producer yielding to the loop once per batch as the
event bus does. Raw: the same events turned into the same redacted records and JSON lines,
written by one loop straight to a buffered file (fsync at the end): what the batcher, the
flusher and the sink thread cost is the ratio. Runs alternate ours and raw; medians.

Then a flood: events published without ever yielding, so the queue stays full; memory must stay
bounded and the drop count exact.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.common import Report, Size, median, rss_mb
from mcp_marshal.events import Event, ServerLog, ServerStateChanged
from mcp_marshal.redact import Redactor
from mcp_marshal.telemetry import BatchLimits, JsonlFileSink, TelemetryPipeline, record_from_event

GOAL_RECORDS_PER_S = 50_000  # why this figure: bench/README.md
LIMITS = BatchLimits()  # the defaults of mcpMarshal.telemetry: batches of 100, queue of 2048
BEHIND = 8 * LIMITS.batch_size
"""Records the sink may be behind before the lossless producer waits (its backlog holds 2 queues)."""


def _events() -> list[Event]:
    """1000 events as a busy workspace emits them: mostly stderr lines, some state changes,
    one line in a hundred carrying a credential (the pattern pass then has work to do)."""
    events: list[Event] = []
    for i in range(1000):
        if i % 10 == 9:
            events.append(ServerStateChanged(name=f"s{i % 7}", state="ready", previous="starting", pid=4000 + i))
        elif i % 100 == 42:
            events.append(ServerLog(name=f"s{i % 7}", stream="stderr", line=f"retry {i} with token=abc123def{i}"))
        else:
            line = f"INFO request {i} served in {i % 97} ms from cache"
            events.append(ServerLog(name=f"s{i % 7}", stream="stderr", line=line))
    return events


def _redactor() -> Redactor:
    return Redactor([f"known-secret-value-{i:03d}" for i in range(50)])


async def _ours(path: Path, events: list[Event], n: int) -> tuple[float, float, int, dict]:
    """Seconds spent in ``publish``, seconds from the first publish to the file closed, lines in
    the file, and the shutdown report.

    The producer yields once per batch, and waits while the sink is more than a few batches
    behind: without that the sink's bounded backlog drops whole batches (what a flood does,
    measured below), and this figure is the rate the file keeps up with.
    """
    sink = JsonlFileSink(path, max_bytes=1 << 40)
    pipeline = TelemetryPipeline([sink], limits=LIMITS, redactor=_redactor())
    await pipeline.start()
    publish, k, step = pipeline.publish, len(events), LIMITS.batch_size
    clock = time.perf_counter
    gc.collect()
    busy = 0.0
    t0 = clock()
    for start in range(0, n, step):
        t1 = clock()
        for i in range(start, min(n, start + step)):
            publish(events[i % k])
        busy += clock() - t1
        await asyncio.sleep(0)  # the loop runs the flusher and the sink worker between batches
        while pipeline.stats()["sinks"][sink.name]["backlog"] > BEHIND:
            await asyncio.sleep(0.0005)
    report = await pipeline.shutdown(timeout=60)
    elapsed = clock() - t0
    with path.open("rb") as f:
        lines = sum(1 for _ in f)
    return busy, elapsed, lines, dict(report)


def _raw(path: Path, events: list[Event], n: int) -> float:
    """The same records and JSON lines, written by one loop to a buffered file."""
    redactor, k = _redactor(), len(events)
    dumps = json.dumps
    gc.collect()
    t0 = time.perf_counter()
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            r = record_from_event(events[i % k], redactor)
            line = {"name": r.name, "ts": r.ts, "fields": r.fields}
            f.write(dumps(line, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t0


async def _flood(path: Path, events: list[Event], n: int) -> dict[str, float]:
    """``n`` events without yielding: the batcher keeps ``max_queue`` and counts the rest."""
    pipeline = TelemetryPipeline([JsonlFileSink(path, max_bytes=1 << 40)], limits=LIMITS, redactor=_redactor())
    await pipeline.start()
    publish, k = pipeline.publish, len(events)
    gc.collect()
    rss0 = rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    for i in range(n):
        publish(events[i % k])
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = rss_mb() - rss0
    report = await pipeline.shutdown(timeout=60)
    records = dropped_lines = 0
    with path.open("rb") as f:
        for raw in f:
            line = json.loads(raw)
            if line["name"] == "TelemetryDropped":
                dropped_lines += line["fields"]["count"]
            else:
                records += 1
    # what the same records would take if kept (an unbounded queue): measured on a sample
    sample = min(n, 50_000)
    redactor = _redactor()
    tracemalloc.start()
    kept = [record_from_event(events[i % k], redactor) for i in range(sample)]
    unbounded = tracemalloc.get_traced_memory()[0] * n / sample
    tracemalloc.stop()
    del kept
    return {
        "peak": peak / 1e6,
        "unbounded": unbounded / 1e6,
        "rss": rss,
        "rate": n / elapsed,
        "dropped": report["dropped"],
        "records": records,
        "dropped_lines": dropped_lines,
    }


def run(size: Size) -> list[Report]:
    n: int = size.pick(200_000, 20_000)
    runs: int = size.pick(5, 2)
    flood_n: int = size.pick(300_000, 20_000)
    events = _events()
    ours_s: list[float] = []
    publish_s: list[float] = []
    raw_s: list[float] = []
    lost: list[str] = []
    line_counts: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as name:
        tmp = Path(name)
        for i in range(runs):
            for kind in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
                path = tmp / f"{kind}-{i}.jsonl"
                if kind == "raw":
                    raw_s.append(_raw(path, events, n))
                    raw_bytes = path.stat().st_size / n
                else:
                    busy, elapsed, lines, report = asyncio.run(_ours(path, events, n))
                    publish_s.append(busy)
                    line_counts.append(lines)
                    ours_s.append(elapsed)
                    ours_bytes = path.stat().st_size / n
                    sink_dropped = report["sinks"]["file"]["dropped"]
                    if lines != n or report["dropped"] or sink_dropped:
                        lost.append(f"run {i}: {lines:,} of {n:,} lines, dropped {report['dropped']:,} queued, "
                                    f"{sink_dropped:,} in the sink's backlog")  # fmt: skip
                path.unlink()
        flood = asyncio.run(_flood(tmp / "flood.jsonl", events, flood_n))

    report = Report(f"telemetry: {n:,} events → JSONL file, and a flood of {flood_n:,}")
    publish_rate = report.row("ours: publish → batcher, JSONL sink draining", n / median(publish_s), "records/s",
                              "time spent in publish(): what the event loop pays per event")  # fmt: skip
    ours_rate = report.row("ours: end to end, publish → file closed", n / median(ours_s), "records/s",
                           "lossless: the producer waits when the sink falls behind")  # fmt: skip
    raw_rate = report.row("raw: record → JSON line → file", n / median(raw_s), "records/s", "same records, one loop")
    report.row("ours: bytes per record", ours_bytes, "B", "including the batch number")
    report.row("raw: bytes per record", raw_bytes, "B")
    report.row("lines in the file after shutdown, fewest of the runs", min(line_counts), f"of {n:,}",
               "every record written, none dropped" if not lost else "; ".join(lost))  # fmt: skip
    report.row("flood: tracemalloc peak while publishing", flood["peak"], "MB", f"queue of {LIMITS.max_queue}")
    report.row("flood: the same records kept unbounded", flood["unbounded"], "MB", "estimated from a sample")
    report.row("flood: RSS growth", flood["rss"], "MB")
    report.row("flood: dropped (reported)", flood["dropped"], "records", f"exact: {flood_n - LIMITS.max_queue:,}")
    report.row("flood: records in the file", flood["records"], "records",
               f"+ TelemetryDropped lines counting {flood['dropped_lines']:,}")  # fmt: skip
    report.row("flood: publish rate under tracemalloc", flood["rate"], "records/s")
    report.ratio("ours end to end / raw records/s", ours_rate, raw_rate)
    report.ratio(f"ours into the batcher / {GOAL_RECORDS_PER_S:,} records/s", publish_rate, GOAL_RECORDS_PER_S,
                 at_least=1)  # fmt: skip
    exact = flood["dropped"] == flood_n - LIMITS.max_queue == flood["dropped_lines"]
    if not exact or flood["records"] != LIMITS.max_queue:
        report.note("FLOOD ACCOUNTING WRONG: drops or records do not add up to the events published")
    if lost:
        report.note("RECORDS LOST in the lossless runs: " + "; ".join(lost))
    report.note(
        "The goal is judged on records/s into the batcher (the producer's cost, the sink writing meanwhile). "
        "End to end, the sink thread's JSON encoding shares the GIL with the producer, so the file takes "
        "what one core does for both."
    )
    return [report]
