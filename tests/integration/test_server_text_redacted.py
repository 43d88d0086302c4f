"""What a server says back (serverInfo, JSON-RPC errors, over stdio or HTTP) is redacted before
it is stored: a server that echoes its token never puts it into a listing, an event or a result."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import fake, run, start_up, workspace

CANARY = "canary-Tok3n-9f2c1e"


def leaky(**env: str) -> dict[str, Any]:
    """A fake server given CANARY in its env, which it echoes in its serverInfo (and errors)."""
    return fake(TOKEN=CANARY, FAKE_ECHO_ENV="TOKEN", **env)


def test_probe_never_shows_what_a_server_echoes(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"echoes": leaky(), "refuses": leaky(FAKE_REFUSE_INIT="1")})
    for args in (("--json",), ()):
        res = run("probe", ws, "--trust", *args)
        assert res.returncode == 1  # "refuses" failed
        assert CANARY not in res.stdout + res.stderr
        assert "<redacted>" in res.stdout
    rows = {r["name"]: r for r in map(json.loads, run("probe", ws, "--trust", "--json").stdout.splitlines())}
    assert rows["echoes"]["ok"] and rows["echoes"]["server"] == "fake built with <redacted>"
    assert "handshake refused: refusing: the token <redacted> is not valid here" in rows["refuses"]["reason"]


class _EchoingAuth(BaseHTTPRequestHandler):
    """An HTTP MCP server that refuses initialize, quoting the Authorization header it got."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = {
            "jsonrpc": "2.0",
            "id": body.get("id"),
            "error": {"code": -32001, "message": f"bad credentials: {self.headers['Authorization']}"},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_http() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingAuth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


async def test_up_events_never_carry_what_a_server_echoes(tmp_path: Path, echoing_http: int, cleanup: list) -> None:
    remote = {"url": f"http://127.0.0.1:{echoing_http}/mcp", "headers": {"Authorization": "Bearer ${input:tok}"}}
    inputs = '"mcpMarshal.inputs": [{"id": "tok", "password": true}],'
    ws = workspace(
        tmp_path, {"echoes": leaky(), "refuses": leaky(FAKE_REFUSE_INIT="1"), "remote": remote}, extra=inputs
    )
    up = await start_up(ws, env={**os.environ, "MCP_MARSHAL_INPUT_TOK": CANARY})
    cleanup.append(up.proc)
    for name in ("refuses", "remote"):
        failed = await up.next_event(lambda e, name=name: e["event"] == "ServerFailed" and e["name"] == name)
        assert "<redacted>" in failed["reason"]
    ready = await up.next_event(lambda e: e["event"] == "ServerReady" and e["name"] == "echoes")
    assert ready["server_info"]["name"] == "fake built with <redacted>"
    up.proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(up.proc.communicate(), 30)
    everything = json.dumps(up.events) + out.decode()
    assert CANARY not in everything
    details = [e["detail"] for e in up.events if e["event"] == "ServerStateChanged" and e["detail"]]
    assert any("<redacted>" in d for d in details)
