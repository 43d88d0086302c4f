"""Benchmarks of the language server, end to end over stdio: ``python bench/bench_lsp.py``.

Prints medians of: spawn → ``initialize`` answered; ``initialized`` → every server ready;
``listServers`` round trip with 20 servers; file write → reload plan applied (summary shown).
Fixture servers are the stdlib fake (``tests/fixtures/fake_server.py``) and, for the start
figure, one real mcp SDK server too.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FAKE = str(ROOT / "tests" / "fixtures" / "fake_server.py")
SDK = str(ROOT / "tests" / "fixtures" / "sdk_server.py")
FAST = {
    "mcpMarshal.restart": {"maxRestarts": 3, "initialDelayMs": 100},
    "mcpMarshal.health": {"pingIntervalMs": 0},
    "mcpMarshal.stop": {"stdinGraceMs": 1000, "termGraceMs": 1000},
}


def workspace(path: Path, servers: dict[str, Any]) -> None:
    text = json.dumps({"folders": [{"path": "."}], "settings": {**FAST, "mcpMarshal.servers": servers}})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fake(**env: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [FAKE], "env": {k: str(v) for k, v in env.items()}}


class Client:
    """Just enough LSP client: framing, request ids, and a queue of server notifications."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.notes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.next_id = 0
        self.reader = asyncio.ensure_future(self._read_loop())

    @classmethod
    async def spawn(cls, state_dir: str, command: tuple[str, ...] = ("-m", "mcp_marshal", "lsp")) -> Client:
        env = {**os.environ, "MCP_MARSHAL_STATE_DIR": state_dir}
        proc = await asyncio.create_subprocess_exec(sys.executable, *command, stdin=-1, stdout=-1, stderr=-3, env=env)
        return cls(proc)

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def request(self, method: str, params: Any = None) -> Any:
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        self._send({"id": self.next_id, "method": method, "params": params})
        return await asyncio.wait_for(future, 60)

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
                return
            msg = json.loads(await stdout.readexactly(length))
            if "method" in msg and "id" in msg:  # a request to us: accept progress, dismiss prompts
                self._send({"id": msg["id"], "result": None})
            elif "method" in msg:
                self.notes.put_nowait(msg)
            elif (future := self.pending.pop(msg["id"], None)) is not None:
                future.set_result(msg.get("result"))

    async def until(self, predicate: Any) -> dict[str, Any]:
        while True:
            msg = await asyncio.wait_for(self.notes.get(), 60)
            if predicate(msg):
                return msg

    async def close(self) -> None:
        await self.request("shutdown")
        self.notify("exit")
        await self.proc.wait()
        self.reader.cancel()


def init_params(ws: Path) -> dict[str, Any]:
    return {
        "processId": os.getpid(),
        "rootUri": ws.parent.as_uri(),
        "capabilities": {"window": {"workDoneProgress": True}},
        "initializationOptions": {"workspaceFile": str(ws), "trusted": True},
    }


async def all_ready(client: Client, names: set[str]) -> None:
    ready: set[str] = set()
    while not names <= ready:
        msg = await client.until(lambda m: m["method"] == "mcpMarshal/serverStateChanged")
        if msg["params"]["state"] == "ready":
            ready.add(msg["params"]["name"])


BARE = (str(ROOT / "bench" / "bare_pygls_server.py"),)


async def bench_initialize(
    tmp: Path, state: str, n: int = 10, command: tuple[str, ...] = ("-m", "mcp_marshal", "lsp")
) -> tuple[list[float], list[float]]:
    ws = tmp / "init.code-workspace"
    workspace(ws, {})
    spawn_to_reply, request_to_reply = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        client = await Client.spawn(state, command)
        t1 = time.perf_counter()
        await client.request("initialize", init_params(ws))
        t2 = time.perf_counter()
        spawn_to_reply.append(t2 - t0)
        request_to_reply.append(t2 - t1)
        client.notify("initialized", {})
        await client.close()
    return spawn_to_reply, request_to_reply


async def bench_start(tmp: Path, state: str, with_sdk: bool, n: int = 3) -> list[float]:
    ws = tmp / f"start-{with_sdk}.code-workspace"
    servers = {
        "memory": fake(),
        "files": {**fake(), "dependsOn": ["memory"]},
        "git": fake(),
        "search": {**fake(), "tier": 1},
        "web": {**fake(FAKE_START_DELAY_MS=100), "tier": 1},
    }
    if with_sdk:
        servers["sdk"] = {"command": sys.executable, "args": [SDK]}
    workspace(ws, servers)
    times = []
    for _ in range(n):
        client = await Client.spawn(state)
        await client.request("initialize", init_params(ws))
        t0 = time.perf_counter()
        client.notify("initialized", {})
        await all_ready(client, set(servers))
        times.append(time.perf_counter() - t0)
        await client.close()
    return times


async def bench_list_and_reload(tmp: Path, state: str) -> tuple[list[float], list[float]]:
    ws = tmp / "twenty.code-workspace"
    servers = {f"s{i:02}": fake() for i in range(20)}
    workspace(ws, servers)
    client = await Client.spawn(state)
    await client.request("initialize", init_params(ws))
    client.notify("initialized", {})
    await all_ready(client, set(servers))
    rtts = []
    for _ in range(50):
        t0 = time.perf_counter()
        result = await client.request("workspace/executeCommand", {"command": "mcpMarshal.listServers"})
        rtts.append(time.perf_counter() - t0)
        assert len(result["servers"]) == 20
    reloads = []
    for i in range(8):
        servers[f"extra{i}"] = fake()
        t0 = time.perf_counter()
        workspace(ws, servers)  # a rename-over save, as editors do
        await client.until(
            lambda m: m["method"] == "window/showMessage" and m["params"]["message"].startswith("MCP: +1")
        )
        reloads.append(time.perf_counter() - t0)
    await client.close()
    return rtts, reloads


async def bench_bare_command(state: str, n: int = 50) -> list[float]:
    client = await Client.spawn(state, BARE)
    await client.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
    client.notify("initialized", {})
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter()
        result = await client.request("workspace/executeCommand", {"command": "bare.list"})
        rtts.append(time.perf_counter() - t0)
        assert len(result["servers"]) == 20
    await client.close()
    return rtts


def ratio(ours: list[float], base: list[float]) -> str:
    return f"ratio {statistics.median(ours) / statistics.median(base):.2f} vs bare pygls"


def ms(values: list[float]) -> str:
    lo, hi = min(values) * 1000, max(values) * 1000
    return f"median {statistics.median(values) * 1000:7.1f} ms  (min {lo:.1f}, max {hi:.1f}, n={len(values)})"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name, tempfile.TemporaryDirectory() as state:
        tmp = Path(tmp_name)
        spawn, request = await bench_initialize(tmp, state)
        bare_spawn, _ = await bench_initialize(tmp, state, command=BARE)
        print(f"spawn → initialize answered          {ms(spawn)}  {ratio(spawn, bare_spawn)}")
        print(f"  bare pygls server (baseline)       {ms(bare_spawn)}")
        print(f"initialize request → answer          {ms(request)}")
        print(f"initialized → 5 fake servers ready   {ms(await bench_start(tmp, state, with_sdk=False))}")
        print(f"initialized → 5 fake + 1 SDK ready   {ms(await bench_start(tmp, state, with_sdk=True))}")
        rtts, reloads = await bench_list_and_reload(tmp, state)
        bare_rtts = await bench_bare_command(state)
        print(f"listServers round trip, 20 servers   {ms(rtts)}  {ratio(rtts, bare_rtts)}")
        print(f"  bare pygls command (baseline)      {ms(bare_rtts)}")
        print(f"file write → reload plan applied     {ms(reloads)}")


if __name__ == "__main__":
    asyncio.run(main())
