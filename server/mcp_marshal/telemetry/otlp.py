"""OTLP logs sink (optional extra ``otel``): each record becomes one OpenTelemetry log record.

The pipeline already batches, so batches go straight to the OTLP/HTTP exporter (one request
per batch) instead of through the SDK's own batch processor and its second queue. Endpoint,
headers, timeout and TLS come from the standard ``OTEL_EXPORTER_OTLP_*`` variables unless
given. OpenTelemetry is imported only when an ``OtlpSink`` is built.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from mcp_marshal.telemetry.record import Batch, Record, severity
from mcp_marshal.telemetry.sinks import ThreadedSink

log = logging.getLogger(__name__)

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

# OpenTelemetry severity numbers (logs data model).
_SEVERITY_NUMBER = {"INFO": 9, "WARN": 13, "ERROR": 17}


class OtlpUnavailable(ImportError):
    """The ``otel`` extra is not installed."""


class OtlpExportFailed(RuntimeError):
    """The collector refused or did not answer a batch (counted as a sink error)."""


def otlp_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when the standard variables ask for OTLP log export."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_LOGS_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(var) for var in ENDPOINT_VARS)


class OtlpSink(ThreadedSink):
    """Exports batches as OTLP/HTTP log records (``event_name`` = record name, body = fields)."""

    name = "otlp"

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        resource: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        try:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        except ImportError as exc:
            raise OtlpUnavailable("OTLP export needs the extra: pip install 'mcp-marshal[otel]'") from exc
        from mcp_marshal import __version__

        # Our own timeout must outlast the exporter's, so its retries end before we give up.
        self._exporter = OTLPLogExporter(endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout)
        self.timeout = timeout + 2.0
        attrs: dict[str, Any] = {"service.name": "mcp-marshal", "service.version": __version__}
        attrs.update(resource or {})
        self._resource = Resource.create(attrs)
        self._scope = InstrumentationScope("mcp_marshal.telemetry", __version__)

    def _log_record(self, record: Record, seq: int) -> Any:
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord

        text = severity(record.name, record.fields)
        attributes: dict[str, Any] = {"mcp_marshal.batch.seq": seq}
        for key, value in record.fields.items():
            if isinstance(value, str | bool | int | float):
                attributes[f"mcp_marshal.{key}"] = value
        ns = int(record.ts * 1e9)
        return ReadableLogRecord(
            LogRecord(
                timestamp=ns,
                observed_timestamp=ns,
                severity_number=SeverityNumber(_SEVERITY_NUMBER[text]),
                severity_text=text,
                body=dict(record.fields),
                attributes=attributes,
                event_name=record.name,
            ),
            resource=self._resource,
            instrumentation_scope=self._scope,
        )

    def write(self, batch: Batch) -> None:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        drops = batch.drop_records(batch.records[-1].ts if batch.records else 0.0)
        logs = [self._log_record(r, batch.seq) for r in (*drops, *batch.records)]
        if logs and self._exporter.export(logs) is not LogRecordExportResult.SUCCESS:
            raise OtlpExportFailed(f"OTLP export of batch {batch.seq} failed")

    def close(self) -> None:
        self._exporter.shutdown()


def otlp_sink_from_environ(environ: Mapping[str, str] | None = None) -> OtlpSink | None:
    """An ``OtlpSink`` when the ``OTEL_*`` variables ask for one and the extra is installed."""
    if not otlp_requested(environ):
        return None
    try:
        return OtlpSink()
    except OtlpUnavailable as exc:
        log.warning("%s", exc)
        return None
