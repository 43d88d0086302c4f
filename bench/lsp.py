"""The language server end to end over stdio: ``listServers`` round trips beside an empty request.

One real ``mcp-marshal lsp`` supervises 50 stdlib fake servers (trusted through
``initializationOptions``). Once every server is ready, the client alternates
``workspace/executeCommand mcpMarshal.listServers`` with ``workspace/executeCommand`` of an
unknown command (pygls answers it with an error): the second is the floor any request to this
server pays (framing, JSON, pygls dispatch, the event loop), so the ratio is what listing costs.

Also: spawn → ``initialize`` answered, beside a bare pygls server (interpreter + pygls + our
imports); and a file save → reload applied (one server added).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, Report, Size, fake_server, median, percentile, state_dir, write_workspace

RELOADED = "MCP: configuration reloaded: +1"  # the toast of an applied reload

GOAL_P50_MS = 5.0
FAST = {
    "mcpMarshal.restart": {"maxRestarts": 3, "initialDelayMs": 100},
    "mcpMarshal.health": {"pingIntervalMs": 0},
    "mcpMarshal.stop": {"stdinGraceMs": 1000, "termGraceMs": 1000},
}
OURS = ("-m", "mcp_marshal", "lsp")
BARE = (
    "-c",
    "from pygls.lsp.server import LanguageServer\nLanguageServer('bare', '0').start_io()\n",
)
"""The floor of any pygls server's start: interpreter, pygls, lsprotocol; no features."""
TIMEOUT = 60.0


class LspError(Exception):
    pass


class Client:
    """Just enough LSP client: framing, request ids, a queue of notifications, deadlines on every wait."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.notes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.next_id = 0
        self.reader = asyncio.ensure_future(self._read_loop())

    @classmethod
    async def spawn(cls, command: tuple[str, ...] = OURS) -> Client:
        proc = await asyncio.create_subprocess_exec(
            PYTHON, *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=dict(os.environ),
        )  # fmt: skip
        return cls(proc)

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """The whole response message: ``result`` or ``error``."""
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        self._send({"id": self.next_id, "method": method, "params": params})
        return await asyncio.wait_for(future, TIMEOUT)

    async def request(self, method: str, params: Any = None) -> Any:
        reply = await self.call(method, params)
        if "error" in reply:
            raise LspError(f"{method}: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"method": method, "params": params})

    async def _read_loop(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            length = 0
            while (line := await stdout.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not length:
                for future in self.pending.values():
                    if not future.done():
                        future.set_exception(LspError("the server closed its output"))
                return
            msg = json.loads(await stdout.readexactly(length))
            if "method" in msg and "id" in msg:  # a request to us: accept progress, dismiss prompts
                self._send({"id": msg["id"], "result": None})
            elif "method" in msg:
                self.notes.put_nowait(msg)
            elif (future := self.pending.pop(msg["id"], None)) is not None and not future.done():
                future.set_result(msg)

    async def until(self, method: str, predicate: Any = lambda params: True) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while True:
            async with asyncio.timeout_at(deadline):
                msg = await self.notes.get()
            if msg["method"] == method and predicate(msg.get("params")):
                return msg

    async def close(self) -> None:
        """``shutdown`` + ``exit``; the process is killed when it does not exit in time."""
        try:
            with contextlib.suppress(LspError, TimeoutError, ConnectionError):
                await asyncio.wait_for(self.call("shutdown"), 20)
                self.notify("exit")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 20)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            self.reader.cancel()


def init_params(ws: Path | None) -> dict[str, Any]:
    options = {"workspaceFile": str(ws), "trusted": True} if ws else {}
    return {
        "processId": os.getpid(),
        "rootUri": ws.parent.as_uri() if ws else None,
        "capabilities": {"window": {"workDoneProgress": True}},
        "initializationOptions": options,
    }


async def _initialize(ws: Path | None, command: tuple[str, ...]) -> float:
    """Seconds from spawn to the ``initialize`` answer."""
    t0 = time.perf_counter()
    client = await Client.spawn(command)
    try:
        await client.request("initialize", init_params(ws))
        elapsed = time.perf_counter() - t0
        client.notify("initialized", {})
    finally:
        await client.close()
    return elapsed


async def _all_ready(client: Client, names: set[str]) -> None:
    ready: set[str] = set()
    while not names <= ready:
        msg = await client.until("mcpMarshal/serverStateChanged", lambda p: p["state"] == "ready")
        ready.add(msg["params"]["name"])


async def _session(
    ws: Path, servers: dict[str, Any], pairs: int, reloads: int
) -> tuple[float, list[float], list[float], list[float]]:
    """Start ``servers``; time readiness, ``pairs`` interleaved round trips, and ``reloads`` saves."""
    client = await Client.spawn()
    try:
        await client.request("initialize", init_params(ws))
        t0 = time.perf_counter()
        client.notify("initialized", {})
        await _all_ready(client, set(servers))
        ready_s = time.perf_counter() - t0
        listed = await client.request("workspace/executeCommand", {"command": "mcpMarshal.listServers"})
        states = {s["state"] for s in listed["servers"]}
        if len(listed["servers"]) != len(servers) or states != {"ready"}:
            raise LspError(f"expected {len(servers)} ready servers, listServers says {listed}")

        list_rtt, empty_rtt = [], []
        clock = time.perf_counter
        for i in range(pairs):
            for kind in ("list", "empty") if i % 2 == 0 else ("empty", "list"):
                if kind == "list":
                    t1 = clock()
                    reply = await client.call("workspace/executeCommand", {"command": "mcpMarshal.listServers"})
                    list_rtt.append(clock() - t1)
                    if len(reply["result"]["servers"]) != len(servers):
                        raise LspError(f"listServers: {reply}")
                else:
                    t1 = clock()
                    reply = await client.call("workspace/executeCommand", {"command": "bench.noSuchCommand"})
                    empty_rtt.append(clock() - t1)
                    if "error" not in reply:
                        raise LspError(f"an unknown command should be an error: {reply}")

        reload_s = []
        for i in range(reloads):
            servers = {**servers, f"extra{i}": fake_server(f"extra{i}")}
            t1 = clock()
            write_workspace(ws, servers, **FAST)  # a rename-over save, as editors do
            await client.until("window/showMessage", lambda p: p["message"].startswith(RELOADED))
            reload_s.append(clock() - t1)
    finally:
        await client.close()
    return ready_s, list_rtt, empty_rtt, reload_s


async def _main(tmp: Path, size: Size) -> Report:
    n_servers: int = size.pick(50, 10)
    pairs: int = size.pick(1000, 100)
    inits: int = size.pick(8, 2)
    reloads: int = size.pick(5, 1)

    empty_ws = tmp / "empty.code-workspace"
    write_workspace(empty_ws, {}, **FAST)
    ours_init, bare_init = [], []
    for i in range(inits):  # alternate, so noise hits both
        for command in (OURS, BARE) if i % 2 == 0 else (BARE, OURS):
            ws = empty_ws if command is OURS else None
            (ours_init if command is OURS else bare_init).append(await _initialize(ws, command))

    ws = tmp / "fifty.code-workspace"
    servers = {f"s{i:02}": fake_server(f"s{i:02}") for i in range(n_servers)}
    write_workspace(ws, servers, **FAST)
    ready_s, list_rtt, empty_rtt, reload_s = await _session(ws, servers, pairs, reloads)

    ms = 1000.0
    report = Report(f"lsp: listServers with {n_servers} servers vs an empty request, over stdio")
    list_p50 = report.row("listServers round trip p50", median(list_rtt) * ms, "ms", f"n={len(list_rtt)}")
    list_p99 = report.row("listServers round trip p99", percentile(list_rtt, 99) * ms, "ms")
    empty_p50 = report.row("unknown command (error) round trip p50", median(empty_rtt) * ms, "ms",
                           f"n={len(empty_rtt)}, interleaved with listServers")  # fmt: skip
    empty_p99 = report.row("unknown command (error) round trip p99", percentile(empty_rtt, 99) * ms, "ms")
    ours_i = report.row("spawn → initialize answered, ours", median(ours_init) * ms, "ms", f"median of {inits}")
    bare_i = report.row("spawn → initialize answered, bare pygls", median(bare_init) * ms, "ms", "no features")
    report.row(f"initialized → {n_servers} fake servers ready", ready_s * ms, "ms", "one run")
    report.row("file save → reload applied (+1 server)", median(reload_s) * ms, "ms", f"median of {len(reload_s)}")
    report.ratio(f"listServers p50 / {GOAL_P50_MS:g} ms", list_p50, GOAL_P50_MS, at_most=1)
    report.ratio("listServers p50 / empty request p50", list_p50, empty_p50)
    report.ratio("listServers p99 / empty request p99", list_p99, empty_p99)
    report.ratio("initialize, ours / bare pygls", ours_i, bare_i)
    return report


def run(size: Size) -> list[Report]:
    with tempfile.TemporaryDirectory(prefix="bench-lsp-") as name, state_dir(Path(name) / "state"):
        return [asyncio.run(_main(Path(name), size))]
