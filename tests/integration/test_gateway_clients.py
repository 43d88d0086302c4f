"""Real agents on the gateway: the official Python and TypeScript SDK clients list and call the
tools of an npm reference server (``@modelcontextprotocol/server-everything``) through it, over
Streamable HTTP and through ``mcp-marshal connect``; its ``get-env`` never shows a secret."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import mcp.types as types
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.integration.gateway_support import PY, agent, running_up, write_workspace

pytestmark = [pytest.mark.npm, pytest.mark.timeout(300)]
PACKAGES = ("@modelcontextprotocol/server-everything@2026.8.31", "@modelcontextprotocol/sdk@1.32.2")
CACHE = Path.home() / ".cache" / "mcp-marshal-tests" / "npm-gateway"
CANARY = "Everything-Canary-71c4d2"


@pytest.fixture(scope="module")
def node_tools() -> Path:
    """The pinned npm packages (and our client script beside them, where it can import them)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node are not installed")
    marker = CACHE / ".installed"
    if not marker.exists() or marker.read_text() != " ".join(PACKAGES):
        CACHE.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--ignore-scripts", *PACKAGES],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if res.returncode != 0:
            pytest.skip(f"npm could not install the reference server: {res.stderr.strip()[-300:]}")
        marker.write_text(" ".join(PACKAGES))
    shutil.copy(Path(__file__).parent / "node" / "ts_client.mjs", CACHE / "ts_client.mjs")
    return CACHE


def everything(tools: Path) -> dict[str, object]:
    index = tools / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    return {"command": "node", "args": [str(index), "stdio"], "env": {"API_TOKEN": CANARY}}


async def ts_client(tools: Path, *args: str) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        "node", str(tools / "ts_client.mjs"), *args, stdout=asyncio.subprocess.PIPE, env=os.environ.copy()
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out
    return json.loads(out.decode().strip().splitlines()[-1])


def check(answer: dict[str, object]) -> None:
    assert "echo" in answer["tools"] and "get-env" in answer["tools"]  # type: ignore[operator]
    assert answer["echo"] == "Echo: hello from the TypeScript SDK"
    env = str(answer["env"])
    assert CANARY not in env and '"API_TOKEN": "<redacted>"' in env


async def test_sdk_clients_through_the_gateway_and_connect(node_tools: Path, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"everything": everything(node_tools)})
    async with running_up(ws) as up:
        await up.ready("everything")
        # the TypeScript SDK over Streamable HTTP, and as a command (mcp-marshal connect)
        check(await ts_client(node_tools, "http", up.endpoint("everything")))
        connect = ["-m", "mcp_marshal", "connect", "everything", str(ws)]
        check(await ts_client(node_tools, "stdio", PY, *connect))
        # the Python SDK over Streamable HTTP, and as a command
        async with agent(up.endpoint("everything")) as session:
            await _python_checks(session)
        params = StdioServerParameters(
            command=PY, args=connect, env={"MCP_MARSHAL_STATE_DIR": os.environ["MCP_MARSHAL_STATE_DIR"]}
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await _python_checks(session)
        starts = [e for e in up.events if e["event"] == "ServerStateChanged" and e["state"] == "starting"]
        assert len(starts) == 1  # four agents, one server process


async def _python_checks(session: ClientSession) -> None:
    names = {tool.name for tool in (await session.list_tools()).tools}
    assert {"echo", "get-env"} <= names
    echo = (await session.call_tool("echo", {"message": "hello from Python"})).content[0]
    assert isinstance(echo, types.TextContent) and echo.text == "Echo: hello from Python"
    env = (await session.call_tool("get-env", {})).content[0]
    assert isinstance(env, types.TextContent) and CANARY not in env.text and "<redacted>" in env.text
