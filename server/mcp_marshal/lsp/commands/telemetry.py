"""``mcpMarshal.flushTelemetry``: deliver what is queued now and say what happened to it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_marshal.errors import NotNow
from mcp_marshal.lsp.commands.args import Args, Command

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession


async def flush_telemetry(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    """The flush report: ``flushed``, ``dropped``, ``reasons``, ``pending``, ``complete`` and
    per-sink counters (``sinks.lsp.skipped``: records withheld without the opt-in)."""
    args.at_most(0)
    await session.opened.wait()
    report = await session.telemetry.flush()
    if report is None:
        raise NotNow(
            f"telemetry is not running yet for {session.file.name} (no valid configuration, or it waits for trust)"
        )
    return dict(report)


COMMANDS: dict[str, Command] = {
    "mcpMarshal.flushTelemetry": Command("mcpMarshal.flushTelemetry", flush_telemetry),
}
