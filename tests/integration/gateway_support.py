"""Running ``mcp-marshal up`` with its gateway, and reaching it as agents do (the official SDK
client, or raw HTTP for what no well-behaved client would send)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_marshal.paths import workspace_state_dir
from tests.support import FIXTURES

CONFORMANCE = str(FIXTURES / "conformance_server.py")
FAKE = str(FIXTURES / "fake_server.py")
PY = sys.executable
FAST = {
    "mcpMarshal.restart": {"maxRestarts": 5, "initialDelayMs": 0, "maxDelayMs": 100},
    "mcpMarshal.health": {"startTimeoutMs": 15000, "pingIntervalMs": 0},
    "mcpMarshal.stop": {"stdinGraceMs": 500, "termGraceMs": 500},
}


def conformance(**extra: Any) -> dict[str, Any]:
    return {"command": PY, "args": [CONFORMANCE], **extra}


def write_workspace(tmp: Path, servers: dict[str, Any], **settings: Any) -> Path:
    path = tmp / "gw.code-workspace"
    merged = {**FAST, "mcpMarshal.servers": servers, **{f"mcpMarshal.{k}": v for k, v in settings.items()}}
    path.write_text(json.dumps({"folders": [{"path": "."}], "settings": merged}))
    return path


@dataclass
class Up:
    """A running ``mcp-marshal up --json`` and where its gateway serves."""

    proc: asyncio.subprocess.Process
    workspace: Path
    url: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @property
    def token(self) -> str:
        return (workspace_state_dir(self.workspace) / "gateway.token").read_text().strip()

    def endpoint(self, server: str, *, capability: bool = True) -> str:
        return f"{self.url}/{self.token}/mcp/{server}" if capability else f"{self.url}/mcp/{server}"

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))
                self._changed.set()
        self._changed.set()

    async def event(self, predicate: Any, timeout: float = 30, *, after: int = 0) -> dict[str, Any]:
        """The first event (from index ``after`` on) matching ``predicate``."""
        async with asyncio.timeout(timeout):
            while True:
                for e in self.events[after:]:
                    if predicate(e):
                        return e
                if self._reader is not None and self._reader.done():
                    raise AssertionError(f"up ended ({self.proc.returncode})")
                self._changed.clear()
                await self._changed.wait()

    async def ready(self, *names: str, after: int = 0) -> dict[str, int]:
        pids = {}
        for name in names:
            e = await self.event(
                lambda e, n=name: e["event"] == "ServerStateChanged" and e["name"] == n and e["state"] == "ready",
                after=after,
            )
            pids[name] = e["pid"]
        return pids

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        if self._reader is not None:
            await self._reader
        return code


@contextlib.asynccontextmanager
async def running_up(workspace: Path, *args: str, env: dict[str, str] | None = None) -> AsyncIterator[Up]:
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "mcp_marshal", "up", str(workspace), "--trust", "--json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, limit=2**22,
    )  # fmt: skip
    up = Up(proc, workspace)
    up._reader = asyncio.create_task(up._read())
    try:
        serving = await up.event(lambda e: e["event"] == "GatewayServing")
        up.url = serving["url"]
        yield up
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(BaseException):
            await up._reader


@contextlib.asynccontextmanager
async def agent(url: str, **callbacks: Any) -> AsyncIterator[ClientSession]:
    """One agent session through the official SDK client (Streamable HTTP)."""
    async with streamable_http_client(url) as (read, write), ClientSession(read, write, **callbacks) as session:
        await session.initialize()
        yield session


def http(up: Up) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=up.url, timeout=30)


def headers(up: Up | None = None, **extra: str) -> dict[str, str]:
    out = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if up is not None:
        out["Authorization"] = f"Bearer {up.token}"
    return {**out, **{k.replace("_", "-"): v for k, v in extra.items()}}


def initialize(req_id: int = 1) -> dict[str, Any]:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    return {"jsonrpc": "2.0", "id": req_id, "method": "initialize", "params": params}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
