"""OTLP: batches arrive at a local OTLP/HTTP receiver as log records; failures are counted."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToDict

from mcp_marshal.events import EventBus, ServerExited, ServerLog, ServerStateChanged
from mcp_marshal.telemetry import BatchLimits, TelemetryPipeline
from mcp_marshal.telemetry.otlp import OtlpSink, otlp_requested, otlp_sink_from_environ
from tests.unit.telemetry.conftest import until
from tests.unit.telemetry.otlp_receiver import OtlpReceiver


def attrs(kvs) -> dict:
    return {kv.key: MessageToDict(kv.value) for kv in kvs}


async def test_records_arrive_as_otlp_log_records(monkeypatch: pytest.MonkeyPatch) -> None:
    with OtlpReceiver() as rx:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint)  # the standard variable
        sink = otlp_sink_from_environ()
        assert sink is not None
        bus = EventBus()
        p = TelemetryPipeline([sink], limits=BatchLimits(3, 3600.0, 4))
        p.attach(bus)
        await p.start()
        for i in range(6):  # no await: with 8 events and room for 4, the 4 oldest are dropped
            bus.publish(ServerLog(name="files", stream="stderr", line=f"line {i}"))
        bus.publish(ServerStateChanged(name="files", state="ready", previous="starting", pid=42))
        bus.publish(ServerExited(name="files", code=1, signal=None, expected=False, stderr_tail=("boom",)))
        report = await p.shutdown(timeout=20)
        assert report["complete"] and report["sinks"]["otlp"]["errors"] == 0

    assert {post.path for post in rx.posts} == {"/v1/logs"}
    assert all(post.headers["content-type"] == "application/x-protobuf" for post in rx.posts)
    got = list(rx.log_records())
    names = [lr.event_name for _, _, lr in got]
    assert names == ["TelemetryDropped", "ServerLog", "ServerLog", "ServerStateChanged", "ServerExited"]
    assert report["sinks"]["otlp"]["sent"] == 4
    dropped = got[0][2]
    assert dropped.severity_text == "WARN"
    assert attrs(dropped.attributes)["mcp_marshal.count"] == {"intValue": "4"}
    resource, scope, first = got[1]
    assert attrs(resource.attributes)["service.name"] == {"stringValue": "mcp-marshal"}
    assert scope.name == "mcp_marshal.telemetry"
    assert first.severity_text == "INFO" and first.time_unix_nano > 0
    body = MessageToDict(first.body)["kvlistValue"]["values"]
    assert {v["key"]: v["value"] for v in body}["line"] == {"stringValue": "line 4"}
    assert attrs(first.attributes)["mcp_marshal.name"] == {"stringValue": "files"}
    assert attrs(got[3][2].attributes)["mcp_marshal.pid"] == {"intValue": "42"}
    assert got[-1][2].severity_text == "WARN"


async def test_a_refusing_collector_is_counted_not_raised() -> None:
    with OtlpReceiver(status=400) as rx:
        sink = OtlpSink(endpoint=f"{rx.endpoint}/v1/logs", timeout=5)
        async with TelemetryPipeline([sink]) as p:
            p.publish(ServerLog(name="files", stream="stderr", line="x"))
            report = await p.flush(timeout=20)
        await until(lambda: len(rx.posts) >= 1)
    assert report["sinks"]["otlp"]["errors"] == 1 and report["sinks"]["otlp"]["sent"] == 0


def test_otlp_only_when_the_standard_variables_ask_for_it() -> None:
    assert not otlp_requested({})
    assert otlp_requested({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://c:4318/v1/logs"})
    assert not otlp_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not otlp_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_LOGS_EXPORTER": "none"})
    assert otlp_sink_from_environ({}) is None
