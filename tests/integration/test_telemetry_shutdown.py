"""Graceful shutdown drains a full queue to the JSONL file: every record is there, or counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.config.models import Config, ServerSpec, TelemetrySettings
from mcp_marshal.events import EventBus, ServerLog
from mcp_marshal.telemetry import build_pipeline, telemetry_file
from tests.unit.telemetry.conftest import Capture


def config(tmp_path: Path, **telemetry: object) -> Config:
    ws = tmp_path / "demo.code-workspace"
    ws.write_text("{}")
    return Config(
        file=ws,
        folders=(),
        servers={"files": ServerSpec(name="files", type="stdio", command="node")},
        deps=DependencyGraph({"files": frozenset()}),
        telemetry=TelemetrySettings(**telemetry),
    )


def read_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("published", [2048, 5000])
async def test_shutdown_with_a_full_queue_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, published: int
) -> None:
    monkeypatch.setenv("MCP_MARSHAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", raising=False)
    cfg = config(tmp_path, batch_interval_ms=3_600_000)  # only size and shutdown flush
    bus = EventBus()
    capture = Capture()
    pipeline = build_pipeline(cfg, bus=bus, send=capture, telemetry_enabled=True)
    assert list(pipeline.sinks) == ["lsp", "file"]
    await pipeline.start()
    for i in range(published):  # no await between: the queue fills to maxQueue (2048)
        bus.publish(ServerLog(name="files", stream="stderr", line=str(i)))
    assert len(pipeline.batcher) == 2048

    report = await pipeline.shutdown(timeout=30)

    path = telemetry_file(cfg.file)
    assert path.parent.parent.parent == tmp_path / "state"
    lines = read_lines(path)
    records = [x for x in lines if x["name"] == "ServerLog"]
    drops = [x for x in lines if x["name"] == "TelemetryDropped"]
    assert [int(x["fields"]["line"]) for x in records] == list(range(published - 2048, published))
    assert sum(x["fields"]["count"] for x in drops) == published - 2048
    assert len(records) + report["dropped"] == published
    assert report["complete"] and report["pending"] == 0 and report["flushed"] == 2048
    assert report["sinks"]["file"] == report["sinks"]["lsp"] | {"sent": 2048}
    assert len(capture.records) == 2048
    bus.publish(ServerLog(name="files", stream="stderr", line="late"))  # after shutdown: ignored
    assert len(read_lines(path)) == len(lines)


async def test_configured_file_is_relative_to_the_workspace_file(tmp_path: Path) -> None:
    cfg = config(tmp_path, file="logs/t.jsonl", batch_size=2)
    pipeline = build_pipeline(cfg)
    async with pipeline:
        pipeline.publish(ServerLog(name="files", stream="stderr", line="x"))
    assert read_lines(tmp_path / "logs" / "t.jsonl")[0]["fields"]["line"] == "x"
    assert telemetry_file(cfg.file, "~/t.jsonl") == Path.home() / "t.jsonl"
