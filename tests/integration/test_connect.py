"""``mcp-marshal connect``: an agent that only takes a command reaches the shared server through
it, and keeps its session across a restart of the supervisor."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import mcp.types as types
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client

from tests.integration.gateway_support import PY, conformance, running_up, write_workspace

pytestmark = pytest.mark.timeout(120)


def command(server: str, workspace: Path) -> StdioServerParameters:
    # the SDK gives a child only a few variables: the test's state directory must be passed on
    args = ["-m", "mcp_marshal", "connect", server, str(workspace)]
    return StdioServerParameters(
        command=PY, args=args, env={"MCP_MARSHAL_STATE_DIR": os.environ["MCP_MARSHAL_STATE_DIR"]}
    )


@contextlib.asynccontextmanager
async def connected(server: str, workspace: Path) -> AsyncIterator[ClientSession]:
    params = command(server, workspace)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def text(result: types.CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


async def test_connect_relays_and_survives_a_restart_of_the_supervisor(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"conf": conformance()})
    async with running_up(ws) as up:
        await up.ready("conf")
        async with connected("conf", ws) as session:
            names = {tool.name for tool in (await session.list_tools()).tools}
            assert {"echo", "test_tool_with_progress"} <= names
            progress: list[float] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)

            await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            assert progress == [0, 50, 100]
            assert text(await session.call_tool("echo", {"text": "one"})) == "one"
            await up.stop()  # the supervisor goes away, and a new one takes its place
            async with running_up(ws) as again:
                await again.ready("conf")
                assert text(await session.call_tool("echo", {"text": "two"})) == "two"  # same client session
                pids = [e["pid"] for e in again.events if e["event"] == "ServerStateChanged" and e["state"] == "ready"]
                assert text(await session.call_tool("whoami", {})) == str(pids[-1])


async def test_connect_without_a_running_supervisor_says_so(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"conf": conformance()})
    async with stdio_client(command("conf", ws)) as (read, write), ClientSession(read, write) as session:
        with pytest.raises(MCPError, match=r"no supervisor serves gw\.code-workspace"):
            await session.initialize()
