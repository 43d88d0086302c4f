"""No orphans however the editor leaves: ``exit`` without ``shutdown``, or stdin closed abruptly.

These drive ``mcp-marshal lsp`` with raw JSON-RPC framing so the client can misbehave.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.lsp.conftest import SERVER_COMMAND, SERVER_ENV, TIMEOUT, fake, workspace_text
from tests.support import pid_alive


class RawClient:
    """A JSON-RPC peer over any pair of streams (the server's stdio, or a TCP connection)."""

    def __init__(
        self, proc: asyncio.subprocess.Process, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proc = proc
        self.reader = reader
        self.writer = writer
        self.ready_pids: dict[str, int] = {}
        self.grandchildren: list[int] = []

    @classmethod
    async def start(cls) -> RawClient:
        proc = await asyncio.create_subprocess_exec(
            *SERVER_COMMAND, stdin=-1, stdout=-1, stderr=asyncio.subprocess.DEVNULL, env=SERVER_ENV
        )
        assert proc.stdout is not None and proc.stdin is not None
        return cls(proc, proc.stdout, proc.stdin)

    def initialize(self, workspace_file: Path, root: Path | None = None) -> None:
        """Send ``initialize`` (id 1) and ``initialized`` for a trusted ``workspace_file``."""
        params: dict[str, Any] = {
            "processId": None,
            "capabilities": {},
            "initializationOptions": {"workspaceFile": str(workspace_file), "trusted": True},
        }
        if root is not None:
            params["rootUri"] = root.as_uri()
        self.send({"id": 1, "method": "initialize", "params": params})
        self.send({"method": "initialized", "params": {}})

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def read(self) -> dict[str, Any]:
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(await self.reader.readexactly(length))

    async def until_ready(self, names: set[str]) -> None:
        """Read messages (answering requests with null) until every name reported ready."""
        while not names <= self.ready_pids.keys():
            msg = await self.read()
            method, params = msg.get("method"), msg.get("params") or {}
            if "id" in msg and method:
                self.send({"id": msg["id"], "result": None})
            elif method == "mcpMarshal/serverStateChanged" and params["state"] == "ready":
                self.ready_pids[params["name"]] = params["pid"]
            elif method == "window/logMessage" and (m := re.search(r"grandchild (\d+)", params["message"])):
                self.grandchildren.append(int(m.group(1)))


async def _started(tmp_path: Path) -> RawClient:
    ws = tmp_path / "x.code-workspace"
    ws.write_text(workspace_text({"a": fake(FAKE_GRANDCHILD=1), "b": {**fake(), "dependsOn": ["a"]}}))
    client = await RawClient.start()
    client.initialize(ws, root=tmp_path)
    await asyncio.wait_for(client.until_ready({"a", "b"}), TIMEOUT)
    assert client.grandchildren and all(pid_alive(p) for p in client.ready_pids.values())
    return client


@pytest.mark.parametrize("how", ["close-stdin", "exit-without-shutdown", "sigterm"])
async def test_no_process_outlives_a_vanished_client(tmp_path: Path, how: str) -> None:
    client = await _started(tmp_path)
    if how == "exit-without-shutdown":
        client.send({"method": "exit"})
        await client.writer.drain()
    elif how == "sigterm":
        client.proc.terminate()
    else:
        client.writer.close()
    code = await asyncio.wait_for(client.proc.wait(), TIMEOUT)
    assert code == (1 if how == "exit-without-shutdown" else 0)
    for pid in [*client.ready_pids.values(), *client.grandchildren]:
        assert not pid_alive(pid), f"pid {pid} outlived the language server ({how})"


async def test_tcp_mode_serves_one_client_and_stops_its_servers(tmp_path: Path) -> None:
    ws = tmp_path / "tcp.code-workspace"
    ws.write_text(workspace_text({"a": fake()}))
    proc = await asyncio.create_subprocess_exec(
        *SERVER_COMMAND, "--tcp", "127.0.0.1:0", stdin=asyncio.subprocess.DEVNULL, stderr=-1, env=SERVER_ENV
    )
    assert proc.stderr is not None
    line = (await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)).decode()
    port = int(re.search(r"listening on [\d.]+:(\d+)", line).group(1))  # type: ignore[union-attr]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = RawClient(proc, reader, writer)
    client.initialize(ws)
    await asyncio.wait_for(client.until_ready({"a"}), TIMEOUT)
    client.send({"id": 2, "method": "shutdown"})
    while (await asyncio.wait_for(client.read(), TIMEOUT)).get("id") != 2:
        pass
    assert not pid_alive(client.ready_pids["a"])  # stopped before the shutdown reply
    client.send({"method": "exit"})
    assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
    writer.close()
