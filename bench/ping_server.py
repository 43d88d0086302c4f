"""Stdlib-only MCP server that answers on stdio AND on a TCP loopback port (benchmark fixture).

Why a second transport: to compare supervisors we need one definition of "the server answers a
ping" that does not depend on either supervisor's own view of it. The benchmark connects to the
TCP port and sends ``ping``; any supervisor (ours speaks MCP on stdio, supervisord speaks nothing)
can run the very same command. Both transports speak newline-delimited JSON-RPC (initialize,
notifications/initialized, ping, tools/list, tools/call). A TCP ``ping`` answer carries ``_meta.pid`` so the
benchmark knows which process answered (the one to kill next).

Tools (for the gateway benchmark): ``noop`` answers ``ok`` at once; ``whoami`` answers its pid;
``sleep`` (``{"ms": N}``) first writes its pid as a line to the FIFO named by ``PING_CALLED_FIFO``
(if set: the caller then knows the call reached this process, through any relay, even one that
drops progress notifications), then answers after N ms.

``--start-delay-ms N`` sleeps before listening, like a server loading its code. The port comes
from ``--port N`` or ``PING_PORT``; it is bound with SO_REUSEADDR before stdin is
read, so a restarted process can bind at once. With a port, stdin EOF is ignored (supervisord
may give no useful stdin): the process lives until it is signalled. Without one, EOF ends it, as
it ends any stdio MCP server.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from typing import Any, TextIO

TOOLS = [
    {"name": "noop", "inputSchema": {"type": "object"}},
    {"name": "whoami", "inputSchema": {"type": "object"}},
    {"name": "sleep", "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}}},
]


def call_tool(params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    if name == "noop":
        text = "ok"
    elif name == "whoami":
        text = str(os.getpid())
    elif name == "sleep":
        fifo = os.environ.get("PING_CALLED_FIFO")
        if fifo:
            with open(fifo, "w") as f:
                f.write(f"{os.getpid()}\n")
        ms = int(params.get("arguments", {}).get("ms", 0))
        time.sleep(ms / 1000)
        text = f"slept {ms} ms"
    else:
        return {"content": [{"type": "text", "text": f"unknown tool: {name}"}], "isError": True}
    return {"content": [{"type": "text", "text": text}]}


def answer(msg: dict[str, Any], *, tcp: bool) -> dict[str, Any] | None:
    """The reply to one request, or None for notifications and non-requests."""
    if "id" not in msg or "method" not in msg:
        return None
    method = msg["method"]
    if method == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": msg.get("params", {}).get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": os.environ.get("PING_NAME", "ping"), "version": "0"},
        }
    elif method == "ping":
        result = {"_meta": {"pid": os.getpid()}} if tcp else {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        result = call_tool(msg.get("params", {}))
    else:
        return {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": f"Method not found: {method}"}}
    return {"jsonrpc": "2.0", "id": msg["id"], "result": result}


def serve_lines(lines: Any, out: TextIO, *, tcp: bool) -> None:
    for line in lines:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        reply = answer(msg, tcp=tcp) if isinstance(msg, dict) else None
        if reply is not None:
            out.write(json.dumps(reply) + "\n")
            out.flush()


def serve_client(conn: socket.socket) -> None:
    with conn, conn.makefile("r", encoding="utf-8") as rd, conn.makefile("w", encoding="utf-8") as wr:
        try:
            serve_lines(rd, wr, tcp=True)
        except OSError:
            pass


def serve_tcp(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_client, args=(conn,), daemon=True).start()


def main() -> None:
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1]) if "--port" in args else int(os.environ.get("PING_PORT", "0"))
    if "--start-delay-ms" in args:  # a server's own start-up (loading its code) before it can answer
        time.sleep(int(args[args.index("--start-delay-ms") + 1]) / 1000)
    if port:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        threading.Thread(target=serve_tcp, args=(listener,), daemon=True).start()
    serve_lines(sys.stdin, sys.stdout, tcp=False)
    while port:  # stdin closed: keep serving TCP until signalled
        time.sleep(3600)


if __name__ == "__main__":
    main()
