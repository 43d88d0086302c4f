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
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ready_pids: dict[str, int] = {}
        self.grandchildren: list[int] = []

    @classmethod
    async def start(cls) -> RawClient:
        proc = await asyncio.create_subprocess_exec(
            *SERVER_COMMAND, stdin=-1, stdout=-1, stderr=asyncio.subprocess.DEVNULL, env=SERVER_ENV
        )
        return cls(proc)

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while (line := await self.proc.stdout.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(await self.proc.stdout.readexactly(length))

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
    client.send(
        {
            "id": 1,
            "method": "initialize",
            "params": {
                "processId": None,
                "rootUri": tmp_path.as_uri(),
                "capabilities": {},
                "initializationOptions": {"workspaceFile": str(ws), "trusted": True},
            },
        }
    )
    client.send({"method": "initialized", "params": {}})
    await asyncio.wait_for(client.until_ready({"a", "b"}), TIMEOUT)
    assert client.grandchildren and all(pid_alive(p) for p in client.ready_pids.values())
    return client


@pytest.mark.parametrize("how", ["close-stdin", "exit-without-shutdown"])
async def test_no_process_outlives_a_vanished_client(tmp_path: Path, how: str) -> None:
    client = await _started(tmp_path)
    assert client.proc.stdin is not None
    if how == "exit-without-shutdown":
        client.send({"method": "exit"})
        await client.proc.stdin.drain()
    else:
        client.proc.stdin.close()
    code = await asyncio.wait_for(client.proc.wait(), TIMEOUT)
    assert code == (1 if how == "exit-without-shutdown" else 0)
    for pid in [*client.ready_pids.values(), *client.grandchildren]:
        assert not pid_alive(pid), f"pid {pid} outlived the language server ({how})"
