"""Telemetry (DESIGN §9): redacted records, bounded batching, isolated sinks.

Typical use by a shell::

    pipeline = build_pipeline(config, bus=bus, send=notify, telemetry_enabled=opted_in)
    await pipeline.start()
    ...
    report = await pipeline.flush(timeout=5)      # mcpMarshal.flushTelemetry
    report = await pipeline.shutdown(timeout=5)   # before replying to LSP ``shutdown``

OpenTelemetry is imported only by ``OtlpSink`` (extra ``otel``).
"""

from mcp_marshal.telemetry.batcher import QUEUE_FULL, Batcher, BatchLimits
from mcp_marshal.telemetry.pipeline import FlushReport, SinkStats, TelemetryPipeline
from mcp_marshal.telemetry.record import Batch, Record, record_from_event
from mcp_marshal.telemetry.sinks import JsonlFileSink, LspSink, Sink, ThreadedSink
from mcp_marshal.telemetry.workspace import build_pipeline, telemetry_file

__all__ = [
    "QUEUE_FULL",
    "Batch",
    "BatchLimits",
    "Batcher",
    "FlushReport",
    "JsonlFileSink",
    "LspSink",
    "Record",
    "Sink",
    "SinkStats",
    "TelemetryPipeline",
    "ThreadedSink",
    "build_pipeline",
    "record_from_event",
    "telemetry_file",
]
