"""The pipeline shell with real sinks: flushing, isolation, drop reporting, shutdown."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from mcp_marshal.events import Event, EventBus, ServerLog, ServerStateChanged, TelemetryDropped
from mcp_marshal.redact import PLACEHOLDER, Redactor
from mcp_marshal.telemetry import (
    BatchLimits,
    JsonlFileSink,
    LspSink,
    TelemetryPipeline,
)

from .conftest import BlockedThreadSink, Capture, HangingSink, RaisingSink, until


def log_event(i: int) -> ServerLog:
    return ServerLog(name="files", stream="stderr", line=f"line {i}")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


async def test_size_wakes_the_flusher_long_before_the_interval(capture: Capture) -> None:
    async with TelemetryPipeline([LspSink(capture)], limits=BatchLimits(10, 3600.0, 100)) as p:
        for i in range(25):
            p.publish(log_event(i))
        await until(lambda: len(capture.records) == 20)
        assert [len(x["records"]) for x in capture.payloads] == [10, 10]
        first = capture.payloads[0]
        assert first["v"] == 1 and first["seq"] == 1 and first["dropped"] == {}
        assert first["records"][0]["name"] == "ServerLog"
        assert first["records"][0]["fields"] == {"name": "files", "stream": "stderr", "line": "line 0"}
        report = await p.flush()
    assert report["flushed"] == 5 and report["complete"] and report["pending"] == 0
    assert report["sinks"]["lsp"]["sent"] == 25


async def test_interval_flushes_a_lone_record(capture: Capture) -> None:
    async with TelemetryPipeline([LspSink(capture)], limits=BatchLimits(100, 0.05, 100)) as p:
        p.publish(log_event(1))
        await until(lambda: len(capture.records) == 1)


async def test_flush_reports_counts_for_every_sink(tmp_path: Path, capture: Capture) -> None:
    path = tmp_path / "t.jsonl"
    p = TelemetryPipeline([LspSink(capture), JsonlFileSink(path)], limits=BatchLimits(100, 3600.0, 100))
    for i in range(7):
        p.publish(log_event(i))
    report = await p.flush(timeout=10)
    assert report == {
        "flushed": 7,
        "dropped": 0,
        "reasons": {},
        "pending": 0,
        "complete": True,
        "sinks": {
            name: {"sent": 7, "errors": 0, "timeouts": 0, "skipped": 0, "dropped": 0, "backlog": 0, "enabled": True}
            for name in ("lsp", "file")
        },
    }
    assert [x["fields"]["line"] for x in lines(path)] == [f"line {i}" for i in range(7)]
    await p.shutdown()


async def test_disabled_lsp_sink_sends_nothing_until_enabled(capture: Capture) -> None:
    sink = LspSink(capture, enabled=False)
    async with TelemetryPipeline([sink]) as p:
        p.publish(log_event(1))
        report = await p.flush()
        assert capture.payloads == [] and report["sinks"]["lsp"]["skipped"] == 1
        p.sinks["lsp"].enabled = True  # the user opted in later
        p.publish(log_event(2))
        report = await p.flush()
    assert [r["fields"]["line"] for r in capture.records] == ["line 2"]
    assert report["sinks"]["lsp"]["sent"] == 1


async def test_async_lsp_send_is_awaited() -> None:
    got: list[dict] = []

    async def send(params: dict) -> None:
        got.append(params)

    async with TelemetryPipeline([LspSink(send)]) as p:
        p.publish(log_event(1))
        await p.flush()
    assert len(got) == 1


async def test_failing_and_timing_out_sinks_are_counted_and_others_get_everything(
    tmp_path: Path, capture: Capture
) -> None:
    path = tmp_path / "t.jsonl"
    blocked = BlockedThreadSink(timeout=0.2)
    sinks = [RaisingSink(), HangingSink(timeout=0.2), blocked, LspSink(capture), JsonlFileSink(path)]
    try:
        async with TelemetryPipeline(sinks, limits=BatchLimits(10, 3600.0, 100)) as p:
            for i in range(30):
                p.publish(log_event(i))
            report = await p.flush(timeout=30)
    finally:
        blocked.release.set()
    assert report["complete"]
    s = report["sinks"]
    assert s["raising"]["errors"] == 3 and s["raising"]["sent"] == 0 and s["raising"]["timeouts"] == 0
    assert s["hanging"]["errors"] == 3 and s["hanging"]["timeouts"] == 3
    assert s["blocked"]["timeouts"] == 3
    assert s["lsp"]["sent"] == 30 and s["file"]["sent"] == 30
    assert len(lines(path)) == 30 and len(capture.records) == 30


async def test_a_hung_sink_does_not_hold_the_others_back(tmp_path: Path, capture: Capture) -> None:
    """With a 60 s timeout on the hung sinks, the others still receive every batch at once."""
    path = tmp_path / "t.jsonl"
    blocked = BlockedThreadSink(timeout=60)
    sinks = [HangingSink(timeout=60), blocked, LspSink(capture), JsonlFileSink(path)]
    p = TelemetryPipeline(sinks, limits=BatchLimits(10, 3600.0, 100))
    await p.start()
    try:
        for i in range(50):
            p.publish(log_event(i))
        await until(lambda: len(capture.records) == 50 and path.exists() and len(lines(path)) == 50)
        started = time.monotonic()
        report = await p.shutdown(timeout=1.0)  # bounded by its deadline, not by the 60 s sinks
        assert time.monotonic() - started < 10
    finally:
        blocked.release.set()
    assert not report["complete"]
    assert report["sinks"]["file"]["sent"] == 50 and report["sinks"]["lsp"]["sent"] == 50
    assert report["sinks"]["hanging"]["sent"] == 0


async def test_a_slow_sink_drops_its_own_backlog_only(capture: Capture) -> None:
    blocked = BlockedThreadSink(timeout=60)
    p = TelemetryPipeline([blocked, LspSink(capture)], limits=BatchLimits(10, 3600.0, 100), sink_backlog=30)
    await p.start()
    try:
        for i in range(100):
            p.publish(log_event(i))
        await until(lambda: len(capture.records) == 100)
        stats = p.stats()["sinks"]
        # One batch is stuck in the sink; at most 30 records wait behind it; the rest are dropped.
        assert stats["blocked"]["backlog"] <= 30
        assert stats["blocked"]["dropped"] == 100 - 10 - stats["blocked"]["backlog"]
        assert stats["lsp"]["dropped"] == 0
    finally:
        blocked.release.set()
        await p.shutdown(timeout=5.0)
    # the next batch the slow sink got told it exactly what it lost; the other sink lost nothing
    assert blocked.told_dropped == {"sink_backlog": stats["blocked"]["dropped"]}
    assert capture.dropped() == 0


async def test_drops_are_exact_and_announced_on_the_bus_without_feedback(capture: Capture) -> None:
    bus = EventBus()
    seen: list[TelemetryDropped] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, TelemetryDropped) else None)
    p = TelemetryPipeline([LspSink(capture)], limits=BatchLimits(5, 3600.0, 10))
    p.attach(bus)
    await p.start()
    for i in range(25):  # no await: the flusher cannot run, 15 must be dropped
        bus.publish(log_event(i))
    report = await p.flush()
    assert [r["fields"]["line"] for r in capture.records] == [f"line {i}" for i in range(15, 25)]
    assert capture.payloads[0]["dropped"] == {"queue_full": 15}
    assert capture.dropped() == 15
    assert report["dropped"] == 15 and report["reasons"] == {"queue_full": 15}
    assert [(e.count, e.reason) for e in seen] == [(15, "queue_full")]
    assert (await p.flush())["flushed"] == 0  # our own TelemetryDropped was not recorded
    # Someone else's TelemetryDropped (e.g. the LSP log limiter) is an ordinary record.
    bus.publish(TelemetryDropped(count=3, reason="log_rate"))
    await p.flush()
    assert capture.records[-1]["name"] == "TelemetryDropped"
    assert capture.records[-1]["fields"] == {"count": 3, "reason": "log_rate"}
    await p.shutdown()
    bus.publish(log_event(99))  # unsubscribed: no effect, no error
    assert p.stats()["reasons"] == {"queue_full": 15}


@dataclasses.dataclass(frozen=True, slots=True)
class Weird(Event):
    thing: object


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


async def test_producers_never_raise_and_bad_events_are_counted(capture: Capture) -> None:
    async with TelemetryPipeline([LspSink(capture)]) as p:
        p.publish(Weird(thing=Unprintable()))
        p.publish(Weird(thing=object()))
        report = await p.flush()
    assert report["reasons"] == {"record_error": 1}
    assert capture.records[0]["name"] == "Weird"


async def test_publish_after_shutdown_is_counted_never_delivered(capture: Capture) -> None:
    p = TelemetryPipeline([LspSink(capture)])
    await p.start()
    p.publish(log_event(1))
    first = await p.shutdown()
    p.publish(log_event(2))
    assert await p.shutdown() is first
    assert [r["fields"]["line"] for r in capture.records] == ["line 1"]
    assert p.stats()["reasons"] == {"shutdown": 1}


async def test_emit_and_reconfigure_redact(capture: Capture) -> None:
    from .test_redact import ENV_SECRET, make_config

    p = TelemetryPipeline([LspSink(capture)], redactor=Redactor())
    async with p:
        p.emit("CommandRun", {"name": "x", "arg": f"value {ENV_SECRET}"}, ts=1.0)  # not known yet
        p.reconfigure(make_config())
        p.publish(ServerStateChanged(name="files", state="ready", previous="starting", detail=ENV_SECRET))
        await p.flush()
    assert capture.records[0] == {
        "name": "CommandRun",
        "ts": 1.0,
        "fields": {"name": "x", "arg": f"value {ENV_SECRET}"},
    }
    assert capture.records[1]["fields"]["detail"] == PLACEHOLDER
    assert p.batcher.limits == BatchLimits(100, 5.0, 2048)
