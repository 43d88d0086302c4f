"""The workspace's telemetry as a feature of the supervisor: the pipeline, built on the first
usable configuration and reconfigured by the later ones. With a ``send`` (the language
server's ``telemetry/event``), batches also go to the editor, only when it opted in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp_marshal.events import EventBus, ServiceDegraded
from mcp_marshal.paths import StateUnavailable
from mcp_marshal.redact import Redactor

if TYPE_CHECKING:
    from mcp_marshal.config import Config
    from mcp_marshal.telemetry import FlushReport, TelemetryPipeline

log = logging.getLogger(__name__)

#: Bound on draining the queue at ``shutdown`` and on ``mcpMarshal.flushTelemetry``.
DRAIN_TIMEOUT_S = 5.0


def opens_untrusted(config: Config) -> bool:
    """Whether the pipeline may start before the workspace is trusted: only when it writes to
    our own state directory, not to a ``mcpMarshal.telemetry.file`` the untrusted file names."""
    return config.telemetry.file is None


class WorkspaceTelemetry:
    """Builds the pipeline on the first usable configuration; later ones reconfigure it."""

    def __init__(
        self,
        bus: EventBus,
        redactor: Redactor,
        *,
        send: Callable[[dict[str, Any]], object] | None = None,
        enabled: bool = False,
    ) -> None:
        self._bus = bus
        self._redactor = redactor
        self._send = send
        self._enabled = enabled
        self.pipeline: TelemetryPipeline | None = None

    async def configure(self, config: Config, *, trusted: bool) -> None:
        if self.pipeline is not None:
            self.pipeline.reconfigure(config)  # new secrets and limits; the sinks stay as built
            return
        if not trusted and not opens_untrusted(config):
            return
        from mcp_marshal.telemetry import build_pipeline

        try:
            self.pipeline = build_pipeline(
                config, bus=self._bus, send=self._send, telemetry_enabled=self._enabled, redactor=self._redactor
            )
        except StateUnavailable as exc:  # no file: the other sinks still get every batch
            self._bus.publish(ServiceDegraded("telemetry file", str(exc)))
            self.pipeline = build_pipeline(
                config,
                bus=self._bus,
                send=self._send,
                telemetry_enabled=self._enabled,
                redactor=self._redactor,
                file=False,
            )
        await self.pipeline.start()

    def client_gone(self) -> None:
        """Nobody reads ``telemetry/event`` any more: the rest goes to the other sinks only."""
        if self.pipeline is not None and "lsp" in self.pipeline.sinks:
            self.pipeline.sinks["lsp"].enabled = False

    async def flush(self) -> FlushReport | None:
        """Deliver everything queued now; ``None`` when no pipeline runs yet."""
        if self.pipeline is None:
            return None
        return await self.pipeline.flush(timeout=DRAIN_TIMEOUT_S)

    async def close(self) -> None:
        """Drain the queue to every sink (bounded) and close them; nothing queued is lost."""
        if self.pipeline is None:
            return
        report = await self.pipeline.shutdown(timeout=DRAIN_TIMEOUT_S)
        if not report["complete"]:
            log.warning("telemetry was not fully drained at shutdown: %s", report)
