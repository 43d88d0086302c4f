"""After ``initialized``: find the workspace file and open its session, or stay idle and say so."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from mcp_marshal.config import WorkspaceNotFound, find_workspace_file
from mcp_marshal.lsp.session import WorkspaceSession

if TYPE_CHECKING:
    from mcp_marshal.lsp.server import MarshalServer


async def open_workspace(ls: MarshalServer) -> None:
    file = ls.options.workspace_file or _find(ls)
    if file is None:
        return
    ls.session = WorkspaceSession(ls, file, trusted=ls.options.trusted, telemetry=ls.options.telemetry)
    await ls.session.open()


def _find(ls: MarshalServer) -> Path | None:
    if not ls.folders:
        _idle(ls, "no workspace folder is open")
        return None
    try:
        return find_workspace_file(ls.folders[0]).resolve()
    except WorkspaceNotFound as exc:
        _idle(ls, str(exc))
        return None


def _idle(ls: MarshalServer, why: str) -> None:
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=f"MCP Marshal is idle: {why}."))
