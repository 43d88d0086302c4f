"""Telemetry in the editor: the workspace's pipeline, with batches sent as ``telemetry/event``
only when the editor opted in (``initializationOptions.telemetry``).

Its redactor is the one set of secrets of the session: the orchestrator (stderr lines, input
values), telemetry records and ``window/logMessage`` text all go through it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pygls.lsp.server import LanguageServer

from mcp_marshal.events import EventBus

if TYPE_CHECKING:
    from mcp_marshal.config import Config
    from mcp_marshal.redact import Redactor
    from mcp_marshal.telemetry import FlushReport, TelemetryPipeline

log = logging.getLogger(__name__)

#: Bound on draining the queue at ``shutdown`` and on ``mcpMarshal.flushTelemetry``.
DRAIN_TIMEOUT_S = 5.0


def opens_untrusted(config: Config) -> bool:
    """Whether the pipeline may start before the workspace is trusted: only when it writes to
    our own state directory, not to a ``mcpMarshal.telemetry.file`` the untrusted file names."""
    return config.telemetry.file is None


class Telemetry:
    """Builds the pipeline on the first usable configuration; later ones reconfigure it."""

    def __init__(self, ls: LanguageServer, bus: EventBus, *, enabled: bool) -> None:
        self._ls = ls
        self._bus = bus
        self._enabled = enabled
        self.pipeline: TelemetryPipeline | None = None

    @property
    def redactor(self) -> Redactor | None:
        return self.pipeline.redactor if self.pipeline is not None else None

    async def configure(self, config: Config, *, trusted: bool) -> None:
        if self.pipeline is not None:
            self.pipeline.reconfigure(config)  # new secrets and limits; the sinks stay as built
            return
        if not trusted and not opens_untrusted(config):
            return
        from mcp_marshal.telemetry import build_pipeline

        self.pipeline = build_pipeline(config, bus=self._bus, send=self._send, telemetry_enabled=self._enabled)
        await self.pipeline.start()

    def _send(self, batch: dict[str, Any]) -> None:
        self._ls.telemetry_event(batch)

    async def flush(self) -> FlushReport | None:
        """Deliver everything queued now; ``None`` when no pipeline runs yet."""
        if self.pipeline is None:
            return None
        return await self.pipeline.flush(timeout=DRAIN_TIMEOUT_S)

    async def close(self, *, client_gone: bool = False) -> None:
        """Drain the queue to every sink (bounded) and close them; nothing queued is lost."""
        if self.pipeline is None:
            return
        if client_gone and "lsp" in self.pipeline.sinks:
            self.pipeline.sinks["lsp"].enabled = False  # nobody reads telemetry/event any more
        report = await self.pipeline.shutdown(timeout=DRAIN_TIMEOUT_S)
        if not report["complete"]:
            log.warning("telemetry was not fully drained at shutdown: %s", report)
