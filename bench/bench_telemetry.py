"""Telemetry throughput and memory, each beside a plain-deque baseline measured in the same run.

    .venv/bin/python bench/bench_telemetry.py [--records 200000] [--runs 5] [--flood 1000000]

1. Records/s accepted by the pure ``Batcher.add`` vs ``deque(maxlen).append`` (the floor: the
   cheapest bounded queue Python has), and the ratio of per-record costs.
2. The whole producer path ``TelemetryPipeline.publish(event)``: event → record → redaction →
   batcher, for a state change and for a stderr line, with 50 known secrets.
3. Memory of a 1,000,000-record flood through ``publish`` (no yielding, so the queue stays full):
   tracemalloc peak and RSS growth, beside what an unbounded list of the same records costs.
Medians of ``--runs`` runs; the machine may be shared, so read ratios rather than absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from collections import deque
from collections.abc import Callable

import psutil

from mcp_marshal.events import ServerLog, ServerStateChanged
from mcp_marshal.telemetry import Batcher, BatchLimits, LspSink, Record, Redactor, TelemetryPipeline
from mcp_marshal.telemetry.record import record_from_event


def rate(fn: Callable[[int], None], n: int, runs: int) -> float:
    """Median records/s of ``fn(n)`` over ``runs`` runs."""
    results = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn(n)
        results.append(n / (time.perf_counter() - start))
    return statistics.median(results)


def bench_batcher(n: int, runs: int) -> None:
    record = Record("ServerLog", 0.0, {"name": "files", "stream": "stderr", "line": "x"})

    def baseline(count: int) -> None:
        q: deque[Record] = deque(maxlen=2048)
        append = q.append
        for _ in range(count):
            append(record)

    def batcher(count: int) -> None:
        b = Batcher(BatchLimits(100, 5.0, 2048))
        add = b.add
        for i in range(count):
            add(record, i * 1e-6)

    base = rate(baseline, n, runs)
    ours = rate(batcher, n, runs)
    print(f"1. accepting records (median of {runs} runs, {n} records each)")
    print(f"   {'deque(maxlen=2048).append':<36}{base:>14,.0f} rec/s {1e9 / base:>8.0f} ns/rec")
    print(f"   {'Batcher.add (drop-oldest, counted)':<36}{ours:>14,.0f} rec/s {1e9 / ours:>8.0f} ns/rec")
    print(f"   ratio of per-record cost: {base / ours:.1f}x the bare deque")


def make_pipeline(capture: list[dict]) -> TelemetryPipeline:
    redactor = Redactor([f"known-secret-value-{i:03d}" for i in range(50)])
    return TelemetryPipeline([LspSink(capture.append)], limits=BatchLimits(100, 3600.0, 2048), redactor=redactor)


def bench_publish(n: int, runs: int) -> None:
    state = ServerStateChanged(name="files", state="ready", previous="starting", pid=4242, restarts=1)
    logs = [
        ServerLog(name="files", stream="stderr", line=f"INFO request {i} served in {i % 97} ms from cache")
        for i in range(1000)
    ]
    leaky = ServerLog(name="files", stream="stderr", line="retrying with token=abc123def and Bearer xyz.987654")

    def producer(events: list) -> Callable[[int], None]:
        def run(count: int) -> None:
            p = make_pipeline([])
            publish = p.publish
            k = len(events)
            for i in range(count):
                publish(events[i % k])

        return run

    def floor(count: int) -> None:
        q: deque[ServerLog] = deque(maxlen=2048)
        append = q.append
        for i in range(count):
            append(logs[i % 1000])

    def conversion(count: int) -> None:
        q: deque[Record] = deque(maxlen=2048)
        for i in range(count):
            q.append(record_from_event(logs[i % 1000]))  # conversion only, no redaction/batcher

    print("2. producer path publish(event) → redacted record → batcher")
    base = rate(floor, n, runs)
    conv = rate(conversion, n, runs)
    print(f"   {'deque.append(event) (floor)':<36}{base:>14,.0f} rec/s {1e9 / base:>8.0f} ns/rec")
    print(f"   {'event → record, no redaction':<36}{conv:>14,.0f} rec/s {1e9 / conv:>8.0f} ns/rec")
    for label, events in (
        ("ServerStateChanged", [state]),
        ("ServerLog, clean stderr line", logs),
        ("ServerLog, line with credentials", [leaky]),
    ):
        r = rate(producer(events), n, runs)
        print(f"   {label:<36}{r:>14,.0f} rec/s {1e9 / r:>8.0f} ns/rec  ({base / r:.0f}x the floor)")


async def flood(n: int) -> None:
    pool = [
        ServerLog(name=f"s{i % 7}", stream="stderr", line=f"request {i} served in {i % 97} ms") for i in range(1000)
    ]
    payloads: list[dict] = []
    p = make_pipeline(payloads)
    await p.start()
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    tracemalloc.start()
    start = time.perf_counter()
    publish = p.publish
    for i in range(n):
        publish(pool[i % 1000])
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = proc.memory_info().rss - rss0
    report = await p.shutdown(timeout=30)
    delivered = sum(len(x["records"]) for x in payloads)
    assert report["dropped"] == n - 2048 and delivered == 2048, report

    # What the same records cost when kept (an unbounded queue), measured on 100k and scaled.
    sample = 100_000
    tracemalloc.start()
    kept = [record_from_event(pool[i % 1000], p.redactor) for i in range(sample)]
    unbounded = tracemalloc.get_traced_memory()[0] * (n / sample)
    tracemalloc.stop()
    del kept

    print(f"3. flood of {n:,} records through publish (queue 2048, producer never yields)")
    print(f"   tracemalloc peak during the flood  {peak / 1e6:>8.2f} MB")
    print(f"   the same records kept unbounded    {unbounded / 1e6:>8.0f} MB (estimated from 100k)")
    print(f"   RSS growth                         {rss / 1e6:>8.2f} MB")
    print(
        f"   dropped {report['dropped']:,} (exact: {n - 2048:,}), delivered {delivered:,}; "
        f"{n / elapsed:,.0f} rec/s under tracemalloc"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--flood", type=int, default=1_000_000)
    args = ap.parse_args()
    print(f"python telemetry bench; cpus={psutil.cpu_count()} load={psutil.getloadavg()[0]:.2f}")
    bench_batcher(args.records, args.runs)
    bench_publish(args.records // 2, args.runs)
    asyncio.run(flood(args.flood))


if __name__ == "__main__":
    main()
