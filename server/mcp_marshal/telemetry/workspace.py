"""The usual pipeline of one workspace: LSP sink (if given), JSONL file, OTLP (if asked for)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_marshal.telemetry.otlp import otlp_sink_from_environ
from mcp_marshal.telemetry.pipeline import TelemetryPipeline
from mcp_marshal.telemetry.sinks import JsonlFileSink, LspSink, Sink

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config
    from mcp_marshal.events import EventBus
    from mcp_marshal.redact import Redactor

FILE_NAME = "telemetry.jsonl"


def telemetry_file(workspace_file: Path, setting: str | None = None) -> Path:
    """``mcpMarshal.telemetry.file`` (relative to the workspace file, ``~`` expanded), else
    ``telemetry.jsonl`` in the workspace's state directory."""
    if setting:
        path = Path(os.path.expandvars(setting)).expanduser()
        return path if path.is_absolute() else (workspace_file.parent / path).resolve()
    from mcp_marshal.paths import workspace_state_dir

    return workspace_state_dir(workspace_file) / FILE_NAME


def build_pipeline(
    config: Config,
    *,
    bus: EventBus | None = None,
    send: Callable[[dict[str, Any]], Awaitable[object] | object] | None = None,
    telemetry_enabled: bool = False,
    environ: Mapping[str, str] | None = None,
    redactor: Redactor | None = None,
    file: bool = True,
) -> TelemetryPipeline:
    """Build (not start) the workspace's pipeline, attached to ``bus`` when given.

    ``send`` is the LSP ``telemetry/event`` notifier; its sink starts enabled only when the
    editor opted in (``telemetry_enabled``); toggle later with ``pipeline.sinks["lsp"].enabled``.
    OTLP is added when ``OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT`` is set and the extra is installed.
    """
    sinks: list[Sink] = []
    if send is not None:
        sinks.append(LspSink(send, enabled=telemetry_enabled))
    if file:  # without one when the state directory cannot be written (StateUnavailable)
        sinks.append(JsonlFileSink(telemetry_file(config.file, config.telemetry.file)))
    otlp = otlp_sink_from_environ(environ)
    if otlp is not None:
        sinks.append(otlp)
    pipeline = TelemetryPipeline.for_config(config, sinks, **({"redactor": redactor} if redactor else {}))
    if bus is not None:
        pipeline.attach(bus)
    return pipeline
