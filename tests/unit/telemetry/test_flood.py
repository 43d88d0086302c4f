"""A million records as fast as a producer can push them: bounded memory, exact drop count."""

from __future__ import annotations

import gc
import time

import psutil

from mcp_marshal.events import ServerLog
from mcp_marshal.redact import Redactor
from mcp_marshal.telemetry import BatchLimits, LspSink, TelemetryPipeline

from .conftest import Capture

N = 1_000_000


async def test_a_million_records_keep_memory_bounded_and_drops_exact(capture: Capture) -> None:
    pool = [
        ServerLog(name=f"s{i % 7}", stream="stderr", line=f"request {i} served in {i % 97} ms") for i in range(1000)
    ]
    p = TelemetryPipeline([LspSink(capture)], limits=BatchLimits(100, 3600.0, 2048), redactor=Redactor(["hunter2-xyz"]))
    await p.start()
    gc.collect()
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    peak = rss_before
    started = time.perf_counter()
    publish = p.publish
    for i in range(N):  # never yields: the flusher cannot run, so the queue stays full
        publish(pool[i % 1000])
        if i % 100_000 == 0:
            peak = max(peak, proc.memory_info().rss)
    elapsed = time.perf_counter() - started
    peak = max(peak, proc.memory_info().rss)
    assert len(p.batcher) == 2048
    report = await p.shutdown(timeout=30)
    assert report["complete"] and report["flushed"] == 2048
    assert report["dropped"] == N - 2048 and report["reasons"] == {"queue_full": N - 2048}
    assert len(capture.records) == 2048 and capture.dropped() == N - 2048
    assert capture.records[-1]["fields"]["line"] == "request 999 served in 29 ms"
    # Unbounded, a million records would take hundreds of MB; the queue holds 2048.
    assert peak - rss_before < 64 * 1024 * 1024, (peak - rss_before, elapsed)


async def test_a_flood_interleaved_with_flushes_loses_nothing_uncounted(capture: Capture) -> None:
    import asyncio

    p = TelemetryPipeline([LspSink(capture)], limits=BatchLimits(100, 3600.0, 2048))
    await p.start()
    sent = 0
    for burst in range(60):
        for _ in range(1000 + burst * 37):
            p.publish(ServerLog(name="s", stream="stderr", line=str(sent)))
            sent += 1
        await asyncio.sleep(0)  # let the flusher take one batch between bursts
    report = await p.shutdown(timeout=30)
    got = [int(r["fields"]["line"]) for r in capture.records]
    assert got == sorted(got) and len(set(got)) == len(got)
    assert len(got) + report["dropped"] == sent == p.batcher.accepted
    assert capture.dropped() == report["dropped"]
