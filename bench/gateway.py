"""gateway: one supervised copy of a stdio server served to agents over MCP Streamable HTTP.

The same stdio server is reached three ways in one run, by the same client (the official
``mcp`` SDK 2.x ``ClientSession``):

* direct: the client spawns the server and speaks stdio (the baseline: what agents do today);
* the gateway: ``mcp-marshal up`` supervises it and serves ``<gateway>/mcp/<server>`` (bearer token);
* mcp-proxy (sparfenyuk, PyPI ``mcp-proxy``): it spawns the server and serves it on ``/mcp``.

Two servers: :mod:`bench.ping_server` (stdlib, answers in microseconds, so what is measured is
the relay) for every measurement, and ``tests/fixtures/sdk_server.py`` (the SDK's own server:
what a Python MCP server costs to start and to keep) for latency, first result and footprint.

Measured: tool-call latency (and the same with a raw HTTP/1.1 client, to take the SDK client's
own cost out), throughput of 8 concurrent sessions with the relay's CPU per call, a new
session's first result (warm against spawning the server), the footprint of 8 sessions (one
copy against eight), and a SIGKILL of the server while a call is in flight (the call must fail
fast; the next one must succeed once the server is restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from bench import peers
from bench.common import (
    MARK_VAR,
    PING_SERVER,
    PYTHON,
    ROOT,
    Report,
    Size,
    cpu_seconds,
    free_port,
    kill_leftovers,
    marked_pids,
    median,
    new_marker,
    percentile,
    state_dir,
    write_workspace,
)
from bench.startup import MarshalProcess, marshal_argv

SERVER = "s"
FIFO_VAR = "PING_CALLED_FIFO"
READY_TIMEOUT_S = 30.0
FAIL_TIMEOUT_S = 10.0
"""How long the crash test waits for an in-flight call to fail before it says it did not."""
CRASH_CALL_MS = 60_000
"""The ``sleep`` call that is in flight when the server is killed (it would answer much later)."""
PROTOCOL = "2025-11-25"


@dataclass(frozen=True)
class Fixture:
    """A stdio server and the trivial call the benchmark makes to it."""

    label: str
    argv: tuple[str, ...]
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


PING = Fixture("stdlib server (bench/ping_server.py)", (PYTHON, str(PING_SERVER)), "noop")
SDK_SERVER = ROOT / "tests" / "fixtures" / "sdk_server.py"
SDK = Fixture("mcp SDK server (tests/fixtures/sdk_server.py)", (PYTHON, str(SDK_SERVER)), "echo", {"text": "hi"})

Opener = Callable[[], contextlib.AbstractAsyncContextManager[ClientSession]]


# --- the three ways to the server --------------------------------------------------------------


def server_env(tag: str, fifo: Path) -> dict[str, str]:
    return {MARK_VAR: tag, FIFO_VAR: str(fifo)}


@contextlib.asynccontextmanager
async def stdio_session(argv: Sequence[str], env: dict[str, str]) -> AsyncIterator[ClientSession]:
    """Spawn ``argv`` and initialize a session with it over stdio (the SDK's stdio client)."""
    params = StdioServerParameters(command=argv[0], args=list(argv[1:]), env=env)
    with open(os.devnull, "w") as quiet:  # the SDK server says "starting" on stderr
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def http_session(url: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    """One agent session over Streamable HTTP (the SDK's client), initialized."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@dataclass
class Relay:
    """The gateway or mcp-proxy, serving one server at ``url``: agents send ``headers``."""

    pid: int
    url: str
    headers: dict[str, str]
    up: MarshalProcess | None = None
    """The gateway's ``mcp-marshal up`` (its event lines), None for mcp-proxy."""
    connect_argv: tuple[str, ...] = ()
    connect_env: dict[str, str] = field(default_factory=dict)

    def session(self) -> contextlib.AbstractAsyncContextManager[ClientSession]:
        return http_session(self.url, self.headers)

    def connect_session(self) -> contextlib.AbstractAsyncContextManager[ClientSession]:
        """A session through ``mcp-marshal connect`` (the stdio bridge command-only agents run)."""
        return stdio_session(self.connect_argv, self.connect_env)


@contextlib.asynccontextmanager
async def gateway(fx: Fixture, tmp: Path, tag: str, fifo: Path) -> AsyncIterator[Relay]:
    """``mcp-marshal up`` on a one-server workspace, once its server is ready and it serves."""
    from mcp_marshal.gateway.discovery import TOKEN
    from mcp_marshal.paths import workspace_state_dir

    state = tmp / f"state-{tag}"
    state.mkdir()
    ws = tmp / f"gw-{tag}.code-workspace"
    entry = {"command": fx.argv[0], "args": list(fx.argv[1:]), "env": server_env(tag, fifo)}
    # every kill is restart #1 with no delay (resetAfterMs 0), as in bench/recovery.py
    restart = {"maxRestarts": 1000, "initialDelayMs": 0, "maxDelayMs": 0, "resetAfterMs": 0}
    stop = {"stdinGraceMs": 1000, "termGraceMs": 1000}
    write_workspace(ws, {SERVER: entry}, **{"mcpMarshal.restart": restart, "mcpMarshal.stop": stop})
    async with MarshalProcess(ws, state, tag) as up:
        base = await up.wait_gateway(READY_TIMEOUT_S)
        await up.wait_ready([SERVER], timeout=READY_TIMEOUT_S)
        with state_dir(state):
            token = (workspace_state_dir(ws) / TOKEN).read_text().strip()
        connect = (*marshal_argv(), "connect", SERVER, str(ws))
        connect_env = {"MCP_MARSHAL_STATE_DIR": str(state), MARK_VAR: tag}
        yield Relay(up.pid, f"{base}/mcp/{SERVER}", {"Authorization": f"Bearer {token}"}, up, connect, connect_env)


@contextlib.asynccontextmanager
async def mcp_proxy(fx: Fixture, peer: peers.Peer, tmp: Path, tag: str, fifo: Path) -> AsyncIterator[Relay]:
    """mcp-proxy serving the server on a private port, once a session's handshake succeeds."""
    assert peer.argv is not None
    port = free_port()
    server_vars = [arg for k, v in server_env(tag, fifo).items() for arg in ("-e", k, v)]
    # WARNING: no access log line per request (ours writes none either)
    argv = [*peer.argv, "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING", *server_vars,
            "--", *fx.argv]  # fmt: skip
    log = tmp / f"mcp-proxy-{tag}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **peer.env, MARK_VAR: tag}, start_new_session=True)  # fmt: skip
    relay = Relay(proc.pid, f"http://127.0.0.1:{port}/mcp", {})
    try:
        await _handshake_answers(relay, proc, log)
        yield relay
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _handshake_answers(relay: Relay, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll (every 10 ms) until a session's handshake through the proxy succeeds."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"mcp-proxy exited ({proc.returncode}); see {log}")
        try:
            async with asyncio.timeout(5), relay.session():
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.01)  # poll interval of the readiness check, not a synchronisation


class CallSignal:
    """The FIFO every server copy writes its pid to when a ``sleep`` call reaches it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        # our own writer keeps the FIFO from reading EOF between the servers' writes
        self._read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._write_fd = os.open(path, os.O_WRONLY)
        self.reader = asyncio.StreamReader()
        self._transport: asyncio.ReadTransport | None = None

    async def __aenter__(self) -> CallSignal:
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(self._read_fd, "rb", buffering=0)
        self._transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self.reader), pipe)
        return self

    async def reached(self) -> int:
        """The pid of the next server process that received a ``sleep`` call."""
        return int(await self.reader.readline())

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()
        os.close(self._write_fd)


# --- raw clients: the relay's own cost, without the SDK client's ---------------------------------


class RawHttp:
    """One MCP session over one kept-alive HTTP/1.1 connection: a request is one POST whose whole
    body (JSON, or an SSE stream that ends with the answer) is read."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.headers = {**relay.headers, "Content-Type": "application/json",
                        "Accept": "application/json, text/event-stream"}  # fmt: skip
        self.client = httpx2.AsyncClient(timeout=30)

    async def __aenter__(self) -> RawHttp:
        await self.client.__aenter__()
        params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
        answer = await self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
        self.headers["Mcp-Session-Id"] = answer.headers["mcp-session-id"]
        self.headers["Mcp-Protocol-Version"] = PROTOCOL
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def post(self, msg: dict[str, Any]) -> httpx2.Response:
        answer = await self.client.post(self.relay.url, content=json.dumps(msg), headers=self.headers)
        answer.raise_for_status()
        return answer

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(None, None, None)


class RawStdio:
    """The server spawned and spoken to over its pipes, one line each way."""

    def __init__(self, fx: Fixture, tag: str) -> None:
        self.fx, self.tag = fx, tag
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> RawStdio:
        self.proc = await asyncio.create_subprocess_exec(
            *self.fx.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env={**os.environ, MARK_VAR: self.tag},
        )  # fmt: skip
        params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
        await self.request({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        await self.proc.stdin.drain()

    async def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        await self.send(msg)
        while True:
            answer: dict[str, Any] = json.loads(await self.proc.stdout.readline())
            if answer.get("id") == msg["id"]:
                return answer

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()


RawCall = Callable[[int], Any]


async def raw_latencies(calls: dict[str, RawCall], n: int, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Sequential calls through each raw client, rounds interleaved (order rotated)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for name in names:
        for i in range(warmup):
            await calls[name](i + 1)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            for i in range(n // rounds):
                t0 = time.perf_counter()
                await calls[name](i + 1000)
                samples[name].append((time.perf_counter() - t0) * 1000)
    return samples


def tool_call(fx: Fixture, req_id: int) -> dict[str, Any]:
    params = {"name": fx.tool, "arguments": fx.arguments}
    return {"jsonrpc": "2.0", "id": req_id, "method": "tools/call", "params": params}


# --- measurements ------------------------------------------------------------------------------


async def call_ms(fx: Fixture, session: ClientSession) -> float:
    t0 = time.perf_counter()
    result = await session.call_tool(fx.tool, fx.arguments)
    ms = (time.perf_counter() - t0) * 1000
    if result.is_error:
        raise RuntimeError(f"{fx.tool} failed: {result}")
    return ms


async def latencies(fx: Fixture, openers: dict[str, Opener], calls: int, rounds: int,
                    warmup: int) -> dict[str, list[float]]:  # fmt: skip
    """Sequential calls on one session per target, rounds interleaved (order rotated)."""
    samples: dict[str, list[float]] = {name: [] for name in openers}
    async with contextlib.AsyncExitStack() as stack:
        sessions = {name: await stack.enter_async_context(open_()) for name, open_ in openers.items()}
        for session in sessions.values():
            for _ in range(warmup):
                await call_ms(fx, session)
        names = list(sessions)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                for _ in range(calls // rounds):
                    samples[name].append(await call_ms(fx, sessions[name]))
    return samples


@dataclass
class Throughput:
    calls_per_s: float
    relay_cpu_us: float
    """CPU time of the relay process (gateway or proxy) per call, µs; nan when there is none."""


class Opened:
    """Counts the sessions that are open and have made their first call; ``all`` is set when
    the last one has."""

    def __init__(self, sessions: int) -> None:
        self.left = sessions
        self.all = asyncio.Event()

    def one(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.all.set()


@contextlib.asynccontextmanager
async def warm_session(fx: Fixture, open_: Opener, opened: Opened) -> AsyncIterator[ClientSession]:
    """A session that has made one call (counted in ``opened``), for as long as the block runs."""
    async with open_() as session:
        await call_ms(fx, session)
        opened.one()
        yield session


async def throughput(fx: Fixture, open_: Opener, sessions: int, calls: int, relay_pid: int | None) -> Throughput:
    """Calls/s of ``sessions`` concurrent sessions, each making ``calls`` sequential calls, all
    started at once (after every session is open and has made one call)."""
    opened = Opened(sessions)
    all_open = opened.all
    go, all_done = asyncio.Event(), asyncio.Event()
    ends: list[float] = []

    async def agent() -> None:
        async with warm_session(fx, open_, opened) as session:
            await go.wait()
            for _ in range(calls):
                await session.call_tool(fx.tool, fx.arguments)
            ends.append(time.perf_counter())
            if len(ends) == sessions:
                all_done.set()
            await all_done.wait()  # no session closes (costing the relay CPU) before the last call

    async with asyncio.TaskGroup() as tg:
        for _ in range(sessions):
            tg.create_task(agent())
        await all_open.wait()
        cpu0 = cpu_seconds(relay_pid) if relay_pid else 0.0
        t0 = time.perf_counter()
        go.set()
        await all_done.wait()
        cpu = (cpu_seconds(relay_pid) - cpu0) if relay_pid else float("nan")
    total = sessions * calls
    return Throughput(total / (max(ends) - t0), cpu / total * 1e6)


async def first_result_ms(fx: Fixture, open_: Opener) -> float:
    """From nothing to the first tool result of a new session (the session closed after)."""
    t0 = time.perf_counter()
    async with open_() as session:
        await session.call_tool(fx.tool, fx.arguments)
        return (time.perf_counter() - t0) * 1000


@dataclass
class Footprint:
    rss_mb: float
    pss_mb: float
    processes: int
    parts: dict[str, float] = field(default_factory=dict)
    """RSS (MB) by what the process runs (its script or executable's name), summed."""


def _status_kb(pid: int, path: str, key: str) -> int:
    with open(f"/proc/{pid}/{path}") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def footprint_of(tag: str) -> Footprint:
    """Every live process of this run (they carry its marker): the supervisor and its watchdog,
    or the proxy, and the servers. PSS splits shared pages (the interpreter) between their users."""
    found = Footprint(0.0, 0.0, 0)
    for pid in marked_pids(tag):
        with contextlib.suppress(OSError):
            rss = _status_kb(pid, "status", "VmRSS:") / 1024
            found.pss_mb += _status_kb(pid, "smaps_rollup", "Pss:") / 1024
            found.rss_mb += rss
            found.processes += 1
            what = _what(pid)
            found.parts[what] = found.parts.get(what, 0.0) + rss
    return found


def _what(pid: int) -> str:
    """``mcp-marshal up``, ``mcp-proxy``, ``ping_server.py``…: the first argument that is not an
    interpreter or an option, by its base name."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    names = [Path(a).name for a in argv if not a.startswith("-")]
    useful = [n for n in names if not n.startswith("python")] or names or ["?"]
    return " ".join(useful[:2]) if useful[0] == "mcp-marshal" else useful[0]


async def footprint_with_sessions(fx: Fixture, open_: Opener, sessions: int, tag: str) -> Footprint:
    """The footprint while ``sessions`` sessions are open and each has made a call."""
    opened = Opened(sessions)
    all_open = opened.all
    done = asyncio.Event()

    async def agent() -> None:
        async with warm_session(fx, open_, opened):
            await done.wait()

    async with asyncio.TaskGroup() as tg:
        for _ in range(sessions):
            tg.create_task(agent())
        await all_open.wait()
        measured = await asyncio.to_thread(footprint_of, tag)
        done.set()
    return measured


@dataclass
class Crash:
    """One SIGKILL of the server while a ``sleep`` call was in flight."""

    failed_ms: float | None
    """Kill → the in-flight call raised or answered with an error (None: not in FAIL_TIMEOUT_S)."""
    next_ok_ms: float | None
    """Kill → the next call (sent once the first failed) answered (None: it did not)."""
    ready_ms: float | None = None
    """Kill → the supervisor's ``ready`` line for the new process was read (its restart alone)."""
    how: str = ""


def _short(text: object, limit: int = 90) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def crash_once(session: ClientSession, called: CallSignal, *, retry: bool,
                     up: MarshalProcess | None = None) -> Crash:  # fmt: skip
    """Kill the server as soon as a ``sleep`` call reaches it and time the call's failure; then
    (``retry``) time the next ``noop`` until it answers, restart included, and (``up``) when the
    supervisor said the new process was ready."""
    in_flight = asyncio.ensure_future(session.call_tool("sleep", {"ms": CRASH_CALL_MS}))
    pid = await asyncio.wait_for(called.reached(), READY_TIMEOUT_S)
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    failed_ms: float | None = None
    try:
        async with asyncio.timeout(FAIL_TIMEOUT_S):
            result = await in_flight
        if result.is_error:
            failed_ms = (time.perf_counter() - t0) * 1000
            said = getattr(result.content[0], "text", result) if result.content else result
            how = f"tool error result: {_short(said)}"
        else:
            how = "answered as if nothing happened"
    except TimeoutError:
        in_flight.cancel()
        how = f"still waiting after {FAIL_TIMEOUT_S:g} s"
    except Exception as exc:
        failed_ms = (time.perf_counter() - t0) * 1000
        how = f"{type(exc).__name__}: {_short(exc)}"
    if not retry:
        return Crash(failed_ms, None, how=how)
    ok: float | None = None
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            result = await session.call_tool("noop", {})
        ok = None if result.is_error else (time.perf_counter() - t0) * 1000
    except Exception as exc:
        how += f"; next call: {type(exc).__name__}: {_short(exc)}"
    ready: float | None = None
    if up is not None:
        ready = (await up.wait_ready([SERVER], after=t0, timeout=READY_TIMEOUT_S) - t0) * 1000
    return Crash(failed_ms, ok, how=how, ready_ms=ready)


async def peer_crash(session: ClientSession, called: CallSignal) -> Crash:
    """One kill without a supervisor to restart the server, then one more call to see what it says."""
    crash = await crash_once(session, called, retry=False)
    try:
        async with asyncio.timeout(FAIL_TIMEOUT_S):
            result = await session.call_tool("noop", {})
        crash.how += "; next call: " + ("answered" if not result.is_error else "tool error result")
    except TimeoutError:
        crash.how += f"; next call: no answer after {FAIL_TIMEOUT_S:g} s"
    except Exception as exc:
        crash.how += f"; next call: {type(exc).__name__}"
    return crash


# --- the benchmark -----------------------------------------------------------------------------


@dataclass
class Results:
    fixture: Fixture
    lat: dict[str, list[float]] = field(default_factory=dict)
    raw: dict[str, list[float]] = field(default_factory=dict)
    tput: dict[str, list[Throughput]] = field(default_factory=dict)
    first: dict[str, list[float]] = field(default_factory=dict)
    foot: dict[str, Footprint] = field(default_factory=dict)
    crashes: list[Crash] = field(default_factory=list)
    peer_crashes: dict[str, Crash] = field(default_factory=dict)
    leaked: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)


async def _check(results: Results, tag: str, what: str) -> None:
    left = await asyncio.to_thread(kill_leftovers, tag)
    if left:
        results.leaked.append(f"{what}: {len(left)} process(es) outlived the run (killed): {left}")


@dataclass(frozen=True)
class Plan:
    calls: int
    rounds: int
    warmup: int
    sessions: int
    tput_calls: int
    tput_rounds: int
    first_runs: int
    crashes: int


def plan(size: Size) -> Plan:
    return Plan(
        calls=size.pick(2000, 60),
        rounds=size.pick(10, 2),
        warmup=size.pick(50, 5),
        sessions=size.pick(8, 2),
        tput_calls=size.pick(250, 20),
        tput_rounds=size.pick(5, 1),
        first_runs=size.pick(10, 2),
        crashes=size.pick(10, 2),
    )


async def measure(fx: Fixture, p: Plan, proxy_peer: peers.Peer, tmp: Path, called: CallSignal,
                  *, full: bool) -> Results:  # fmt: skip
    """Every measurement of one server; ``full``: also throughput, raw clients and the kills."""
    res = Results(fx)
    res.load.append(os.getloadavg()[0])
    fifo = called.path
    tag = new_marker()
    direct: Opener = lambda: stdio_session(fx.argv, server_env(tag, fifo))  # noqa: E731
    async with contextlib.AsyncExitStack() as stack:
        relays = {"gateway": await stack.enter_async_context(gateway(fx, tmp, tag, fifo))}
        if proxy_peer.argv is not None:
            relays["mcp-proxy"] = await stack.enter_async_context(mcp_proxy(fx, proxy_peer, tmp, tag, fifo))
        openers: dict[str, Opener] = {"direct": direct, **{name: r.session for name, r in relays.items()}}
        openers["gateway via connect"] = relays["gateway"].connect_session
        res.lat = await latencies(fx, openers, p.calls, p.rounds, p.warmup)
        if full:
            async with contextlib.AsyncExitStack() as raw:
                pipe = await raw.enter_async_context(RawStdio(fx, tag))
                raws: dict[str, RawCall] = {"direct": lambda i: pipe.request(tool_call(fx, i))}
                for name, relay in relays.items():
                    client = await raw.enter_async_context(RawHttp(relay))
                    raws[name] = lambda i, c=client: c.post(tool_call(fx, i))
                res.raw = await raw_latencies(raws, p.calls, p.rounds, p.warmup)
            for _ in range(p.tput_rounds):
                for name, relay in relays.items():
                    got = await throughput(fx, relay.session, p.sessions, p.tput_calls, relay.pid)
                    res.tput.setdefault(name, []).append(got)
                got = await throughput(fx, direct, p.sessions, p.tput_calls, None)
                res.tput.setdefault("direct, one copy each", []).append(got)
        for _ in range(p.first_runs):
            for name, open_ in openers.items():
                res.first.setdefault(name, []).append(await first_result_ms(fx, open_))
        res.load.append(os.getloadavg()[0])
    await _check(res, tag, "latency, throughput, first result")
    # the footprints: each alone, so the marker finds only its processes
    tag = new_marker()
    direct = lambda: stdio_session(fx.argv, server_env(tag, fifo))  # noqa: E731
    res.foot["direct"] = await footprint_with_sessions(fx, direct, p.sessions, tag)
    await _check(res, tag, "direct footprint")
    tag = new_marker()
    async with gateway(fx, tmp, tag, fifo) as gw:
        res.foot["gateway"] = await footprint_with_sessions(fx, gw.session, p.sessions, tag)
        res.foot["gateway via connect"] = await footprint_with_sessions(fx, gw.connect_session, p.sessions, tag)
        if full:
            async with gw.session() as session:
                await session.call_tool("noop", {})
                for _ in range(p.crashes):
                    res.crashes.append(await crash_once(session, called, retry=True, up=gw.up))
    await _check(res, tag, "gateway")
    if proxy_peer.argv is not None:
        tag = new_marker()
        async with mcp_proxy(fx, proxy_peer, tmp, tag, fifo) as proxy:
            res.foot["mcp-proxy"] = await footprint_with_sessions(fx, proxy.session, p.sessions, tag)
            if full:
                with contextlib.suppress(Exception):  # closing a session to a proxy whose server died
                    async with proxy.session() as session:
                        res.peer_crashes["mcp-proxy"] = await peer_crash(session, called)
        await _check(res, tag, "mcp-proxy")
    if full:
        tag = new_marker()
        with contextlib.suppress(Exception):  # closing a session whose server is gone
            async with stdio_session(fx.argv, server_env(tag, fifo)) as session:
                res.peer_crashes["direct"] = await crash_once(session, called, retry=False)
        await _check(res, tag, "direct crash")
    res.load.append(os.getloadavg()[0])
    return res


async def _main(size: Size) -> list[Report]:
    p = plan(size)
    proxy_peer = peers.mcp_proxy()
    reports = []
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as d:
        tmp = Path(d)
        async with CallSignal(tmp / "called.fifo") as called:
            reports.append(report(await measure(PING, p, proxy_peer, tmp, called, full=True), p, proxy_peer))
            reports.append(report(await measure(SDK, p, proxy_peer, tmp, called, full=False), p, proxy_peer))
    return reports


LABELS = {
    "direct": "spawn per session (stdio)",
    "gateway": "warm (gateway)",
    "mcp-proxy": "warm (mcp-proxy)",
    "gateway via connect": "warm, through `mcp-marshal connect` (spawned)",
}


def report(res: Results, p: Plan, proxy_peer: peers.Peer) -> Report:
    has_proxy = proxy_peer.argv is not None
    r = Report(f"gateway: {res.fixture.label}, direct stdio vs mcp-marshal up vs mcp-proxy {peers.MCP_PROXY_VERSION}")
    q = {name: {k: percentile(v, float(k[1:])) for k in ("p50", "p95", "p99")} for name, v in res.lat.items()}
    for name, values in res.lat.items():
        r.row(f"SDK client, tool call, {name}: p50", q[name]["p50"], "ms", f"n={len(values)}, `{res.fixture.tool}`")
        r.row(f"SDK client, tool call, {name}: p95 / p99", q[name]["p95"], "ms", f"p99 {q[name]['p99']:.2f} ms")
    raw = {name: {k: percentile(v, float(k[1:])) for k in ("p50", "p99")} for name, v in res.raw.items()}
    for name, values in res.raw.items():
        how = "one pipe" if name == "direct" else "kept-alive HTTP/1.1, JSON or SSE body read whole"
        r.row(f"raw client, tool call, {name}: p50", raw[name]["p50"], "ms", f"n={len(values)}; {how}")
        r.row(f"raw client, tool call, {name}: p99", raw[name]["p99"], "ms", "")
    tput = {name: median([t.calls_per_s for t in v]) for name, v in res.tput.items()}
    for name, runs in res.tput.items():
        spread = f"; runs {min(t.calls_per_s for t in runs):,.0f}–{max(t.calls_per_s for t in runs):,.0f}"
        r.row(f"throughput, {p.sessions} sessions, {name}", tput[name], "calls/s", f"median of {len(runs)}{spread}")
        cpu = median([t.relay_cpu_us for t in runs])
        if cpu == cpu:
            r.row(f"throughput, {p.sessions} sessions, {name}: its CPU per call", cpu, "µs", "the relay process alone")
    first = {name: median(v) for name, v in res.first.items()}
    for name, v in first.items():
        r.row(f"new session → first result, {LABELS[name]}", v, "ms",
              f"median of {len(res.first[name])}; connect + initialize + call")  # fmt: skip
    for name, f in res.foot.items():
        copies = {"direct": f"{p.sessions} copies", "gateway via connect": f"one copy, {p.sessions} bridges"}
        what = copies.get(name, "one copy")
        r.row(f"{p.sessions} sessions, {name}: RSS", f.rss_mb, "MB", f"sum over {f.processes} processes ({what})")
        r.row(f"{p.sessions} sessions, {name}: PSS", f.pss_mb, "MB", "shared pages split between processes")
        parts = ", ".join(f"{what} {mb:.1f}" for what, mb in sorted(f.parts.items(), key=lambda kv: -kv[1]))
        r.note(f"{p.sessions} sessions, {name}: RSS by process (MB): {parts}")
    failed = [c.failed_ms for c in res.crashes if c.failed_ms is not None]
    ok = [c.next_ok_ms for c in res.crashes if c.next_ok_ms is not None]
    if res.crashes:
        if failed:
            r.row("gateway: SIGKILL → in-flight call fails", median(failed), "ms",
                  f"median; max {max(failed):.1f}; {len(failed)} of {len(res.crashes)} failed")  # fmt: skip
        ready = [c.ready_ms for c in res.crashes if c.ready_ms is not None]
        if ready:
            r.row("gateway: SIGKILL → up reports the new process ready", median(ready), "ms",
                  f"median; max {max(ready):.1f}; its `ready` line read")  # fmt: skip
        if ok:
            r.row("gateway: SIGKILL → next call answered", median(ok), "ms",
                  f"median; max {max(ok):.1f}; {len(ok)} of {len(res.crashes)}; restart included")  # fmt: skip
        hows = sorted({c.how for c in res.crashes})
        r.note(f"gateway: the in-flight call ended with {'; '.join(hows)}")
    for who, crash in res.peer_crashes.items():
        if crash.failed_ms is not None:
            r.row(f"{who}: SIGKILL → in-flight call fails", crash.failed_ms, "ms", "one kill; no restart")
        r.note(f"{who} after the kill: {crash.how}")
    # ratios
    r.ratio("SDK client latency p50, gateway / direct", q["gateway"]["p50"], q["direct"]["p50"])
    r.ratio("SDK client latency p50, through mcp-marshal connect / direct", q["gateway via connect"]["p50"],
            q["direct"]["p50"])  # fmt: skip
    if raw:
        r.ratio("raw client latency p50, gateway / direct", raw["gateway"]["p50"], raw["direct"]["p50"])
    if has_proxy:
        r.ratio("SDK client latency p50, gateway / mcp-proxy", q["gateway"]["p50"], q["mcp-proxy"]["p50"], at_most=1)
        r.ratio("SDK client latency p99, gateway / mcp-proxy", q["gateway"]["p99"], q["mcp-proxy"]["p99"], at_most=1)
        if raw:
            r.ratio("raw client latency p50, gateway / mcp-proxy", raw["gateway"]["p50"], raw["mcp-proxy"]["p50"])
        if tput:
            # per round (the two measured one after the other), then the median: load drifts between rounds
            rounds = [
                g.calls_per_s / m.calls_per_s for g, m in zip(res.tput["gateway"], res.tput["mcp-proxy"], strict=True)
            ]
            r.ratio("throughput, gateway / mcp-proxy (median of rounds)", median(rounds), 1, at_least=1)
            r.note("throughput, gateway / mcp-proxy round by round: " + ", ".join(f"{x:.2f}" for x in rounds))
            r.ratio("relay CPU per call, gateway / mcp-proxy", median([t.relay_cpu_us for t in res.tput["gateway"]]),
                    median([t.relay_cpu_us for t in res.tput["mcp-proxy"]]))  # fmt: skip
    r.ratio("first result, warm gateway / spawn per session", first["gateway"], first["direct"])
    r.ratio("first result, through mcp-marshal connect / spawn per session", first["gateway via connect"],
            first["direct"])  # fmt: skip
    if has_proxy:
        r.ratio("first result, warm gateway / warm mcp-proxy", first["gateway"], first["mcp-proxy"])
    r.ratio(f"PSS, gateway (one copy) / {p.sessions} spawned copies", res.foot["gateway"].pss_mb,
            res.foot["direct"].pss_mb)  # fmt: skip
    r.ratio(f"PSS, gateway through {p.sessions} connect bridges / {p.sessions} spawned copies",
            res.foot["gateway via connect"].pss_mb, res.foot["direct"].pss_mb)  # fmt: skip
    if has_proxy:
        r.ratio("PSS, gateway / mcp-proxy", res.foot["gateway"].pss_mb, res.foot["mcp-proxy"].pss_mb)
    if ok:
        r.ratio("SIGKILL → next answer, gateway / spawn-per-session first result", median(ok), first["direct"])
    direct_failed = res.peer_crashes["direct"].failed_ms if "direct" in res.peer_crashes else None
    if failed and direct_failed:
        r.ratio("SIGKILL → in-flight call fails, gateway / direct", median(failed), direct_failed)
    # notes
    r.note("The same client for every row: mcp SDK 2.x `ClientSession` (stdio_client / streamable_http_client), "
           "one process, one event loop. Latency: one session per target, sequential calls, rounds of "
           f"{p.calls // p.rounds} interleaved with the order rotated; nearest-rank percentiles.")  # fmt: skip
    if res.raw:
        r.note("Raw client: the same calls written by hand (one JSON line on the pipe; one POST on a "
               "kept-alive httpx2 connection): what the relay adds, without the SDK client.")  # fmt: skip
    if res.tput:
        r.note(f"Throughput: {p.sessions} sessions × {p.tput_calls} sequential calls each, all in this one "
               "process: the client is the bottleneck on 2 cores, so the relay's CPU per call (its process's "
               "utime+stime over the run / calls) is the fairer comparison of the relays. Direct: each session "
               "spawned its own copy.")  # fmt: skip
    r.note(f"Footprint: {p.sessions} sessions open, each after one call; every process that carries the run's "
           "marker (mcp-marshal up + its lifeline watchdog + the server; mcp-proxy + the server; or the spawned "
           "copies), RSS from /proc/PID/status and PSS from /proc/PID/smaps_rollup; not the clients.")  # fmt: skip
    if res.crashes:
        r.note("Kill: the server writes its pid to a FIFO when a `sleep` call reaches it (through any relay); "
               "the benchmark SIGKILLs that pid at once. Restart policy initialDelayMs 0 (resetAfterMs 0: every "
               "kill is a first restart); the default 1000 ms delay would add ~1 s to the next answer.")  # fmt: skip
    if not has_proxy:
        r.note(f"mcp-proxy unavailable: {proxy_peer.why_not}")
    r.note("load average (1 min) at start, after the shared part, at the end: "
           + ", ".join(f"{x:.1f}" for x in res.load))  # fmt: skip
    for line in res.leaked:
        r.note("LEFTOVER " + line)
    return r


def run(size: Size) -> list[Report]:
    return asyncio.run(_main(size))


if __name__ == "__main__":
    sys.exit("run it as: python -m bench gateway [--tiny]")
