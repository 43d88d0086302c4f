"""gateway: one supervised copy of a stdio server served to agents over MCP Streamable HTTP.

The same stdlib server (:mod:`bench.ping_server`, tools ``noop``, ``whoami``, ``sleep``) is
reached three ways in one run, by the same client (the official ``mcp`` SDK 2.x):

* direct: the client spawns it and speaks stdio (the baseline: what agents do today);
* the gateway: ``mcp-marshal up`` supervises it and serves ``<gateway>/mcp/ping`` (bearer token);
* mcp-proxy (sparfenyuk, PyPI ``mcp-proxy``): it spawns the server and serves it on ``/mcp``.

Measured: tool-call latency, throughput of 8 concurrent sessions, a new session's first result
(warm against spawning the server), the footprint of 8 sessions (one copy against eight), and a
SIGKILL of the server while a call is in flight (the call must fail fast; the next one must
succeed once it is restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from bench import peers
from bench.common import (
    MARK_VAR,
    PING_SERVER,
    PYTHON,
    Report,
    Size,
    free_port,
    kill_leftovers,
    marked_pids,
    median,
    new_marker,
    percentile,
    write_workspace,
)
from bench.startup import MarshalProcess

SERVER = "ping"
FIFO_VAR = "PING_CALLED_FIFO"
READY_TIMEOUT_S = 30.0
FAIL_TIMEOUT_S = 10.0
"""How long the crash test waits for an in-flight call to fail before it says it did not."""
CRASH_CALL_MS = 60_000
"""The ``sleep`` call that is in flight when the server is killed (it would answer much later)."""

Opener = Callable[[], contextlib.AbstractAsyncContextManager[ClientSession]]


# --- the three ways to the server --------------------------------------------------------------


def server_env(tag: str, fifo: Path) -> dict[str, str]:
    return {MARK_VAR: tag, FIFO_VAR: str(fifo)}


@contextlib.asynccontextmanager
async def stdio_session(tag: str, fifo: Path) -> AsyncIterator[ClientSession]:
    """Spawn the server and initialize a session with it over stdio (the SDK's stdio client)."""
    params = StdioServerParameters(command=PYTHON, args=[str(PING_SERVER)], env=server_env(tag, fifo))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
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
class Gateway:
    """``mcp-marshal up`` supervising the server; agents open sessions at ``url`` with ``headers``."""

    up: MarshalProcess
    url: str
    headers: dict[str, str]

    def session(self) -> contextlib.AbstractAsyncContextManager[ClientSession]:
        return http_session(self.url, self.headers)


@contextlib.asynccontextmanager
async def gateway(tmp: Path, tag: str, fifo: Path) -> AsyncIterator[Gateway]:
    """Run ``mcp-marshal up`` on a one-server workspace until its server is ready and it serves."""
    from mcp_marshal.gateway.discovery import TOKEN
    from mcp_marshal.paths import workspace_state_dir

    state = tmp / f"state-{tag}"
    state.mkdir()
    ws = tmp / f"gw-{tag}.code-workspace"
    entry = {"command": PYTHON, "args": [str(PING_SERVER)], "env": server_env(tag, fifo)}
    # every kill is restart #1 with no delay (resetAfterMs 0), as in bench/recovery.py
    restart = {"maxRestarts": 1000, "initialDelayMs": 0, "maxDelayMs": 0, "resetAfterMs": 0}
    stop = {"stdinGraceMs": 1000, "termGraceMs": 1000}
    write_workspace(ws, {SERVER: entry}, **{"mcpMarshal.restart": restart, "mcpMarshal.stop": stop})
    async with MarshalProcess(ws, state, tag) as up:
        base = await up.wait_gateway(READY_TIMEOUT_S)
        await up.wait_ready([SERVER], timeout=READY_TIMEOUT_S)
        old = os.environ.get("MCP_MARSHAL_STATE_DIR")
        os.environ["MCP_MARSHAL_STATE_DIR"] = str(state)
        try:
            token = (workspace_state_dir(ws) / TOKEN).read_text().strip()
        finally:
            if old is None:
                os.environ.pop("MCP_MARSHAL_STATE_DIR", None)
            else:
                os.environ["MCP_MARSHAL_STATE_DIR"] = old
        yield Gateway(up, f"{base}/mcp/{SERVER}", {"Authorization": f"Bearer {token}"})


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]
    url: str

    def session(self) -> contextlib.AbstractAsyncContextManager[ClientSession]:
        return http_session(self.url, {})


@contextlib.asynccontextmanager
async def mcp_proxy(peer: peers.Peer, tmp: Path, tag: str, fifo: Path) -> AsyncIterator[Proxy]:
    """mcp-proxy serving the server on a private port, once a session completes a handshake."""
    assert peer.argv is not None
    port = free_port()
    server_vars = [arg for k, v in server_env(tag, fifo).items() for arg in ("-e", k, v)]
    argv = [*peer.argv, "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING", *server_vars,
            "--", PYTHON, str(PING_SERVER)]  # fmt: skip
    log = tmp / f"mcp-proxy-{tag}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **peer.env, MARK_VAR: tag}, start_new_session=True)  # fmt: skip
    proxy = Proxy(proc, f"http://127.0.0.1:{port}/mcp")
    try:
        await _handshake_answers(proxy, log)
        yield proxy
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _handshake_answers(proxy: Proxy, log: Path) -> None:
    """Poll (every 10 ms) until a session's handshake through the proxy succeeds."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proxy.proc.poll() is not None:
            raise RuntimeError(f"mcp-proxy exited ({proxy.proc.returncode}); see {log}")
        try:
            async with asyncio.timeout(5), proxy.session():
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


# --- measurements ------------------------------------------------------------------------------


async def call_ms(session: ClientSession) -> float:
    t0 = time.perf_counter()
    result = await session.call_tool("noop", {})
    ms = (time.perf_counter() - t0) * 1000
    if result.is_error:
        raise RuntimeError(f"noop failed: {result}")
    return ms


async def latencies(openers: dict[str, Opener], calls: int, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Sequential ``noop`` calls on one session per target, rounds interleaved (order rotated)."""
    samples: dict[str, list[float]] = {name: [] for name in openers}
    async with contextlib.AsyncExitStack() as stack:
        sessions = {name: await stack.enter_async_context(open_()) for name, open_ in openers.items()}
        for session in sessions.values():
            for _ in range(warmup):
                await call_ms(session)
        names = list(sessions)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                for _ in range(calls // rounds):
                    samples[name].append(await call_ms(sessions[name]))
    return samples


async def throughput(open_: Opener, sessions: int, calls: int) -> float:
    """Calls/s of ``sessions`` concurrent sessions, each making ``calls`` sequential calls, all
    started at once (after every session is open and has made one call)."""
    opened = 0
    all_open = asyncio.Event()
    go = asyncio.Event()
    ends: list[float] = []

    async def agent() -> None:
        nonlocal opened
        async with open_() as session:
            await call_ms(session)
            opened += 1
            if opened == sessions:
                all_open.set()
            await go.wait()
            for _ in range(calls):
                await session.call_tool("noop", {})
            ends.append(time.perf_counter())

    async with asyncio.TaskGroup() as tg:
        for _ in range(sessions):
            tg.create_task(agent())
        await all_open.wait()
        t0 = time.perf_counter()
        go.set()
    return sessions * calls / (max(ends) - t0)


async def first_result_ms(open_: Opener) -> float:
    """From nothing to the first tool result of a new session (the session closed after)."""
    t0 = time.perf_counter()
    async with open_() as session:
        await session.call_tool("noop", {})
        return (time.perf_counter() - t0) * 1000


@dataclass
class Footprint:
    rss_mb: float
    pss_mb: float
    processes: int


def pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split between their users), /proc/PID/smaps_rollup."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def footprint_of(tag: str) -> Footprint:
    """Every live process of this run (they carry its marker): the supervisor, the proxy, the servers."""
    rss, pss, count = 0.0, 0.0, 0
    for pid in marked_pids(tag):
        with contextlib.suppress(OSError):
            rss += rss_kb(pid) / 1024
            pss += pss_mb(pid)
            count += 1
    return Footprint(rss, pss, count)


async def footprint_with_sessions(open_: Opener, sessions: int, tag: str) -> Footprint:
    """The footprint while ``sessions`` sessions are open and each has made a call."""
    opened = 0
    all_open = asyncio.Event()
    done = asyncio.Event()

    async def agent() -> None:
        nonlocal opened
        async with open_() as session:
            await call_ms(session)
            opened += 1
            if opened == sessions:
                all_open.set()
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
    """Kill → the in-flight call raised (None: it had not after FAIL_TIMEOUT_S)."""
    next_ok_ms: float | None
    """Kill → the next call (sent once the first failed) answered (None: it did not)."""
    error: str = ""


async def crash_once(session: ClientSession, signal_: CallSignal, *, retry: bool) -> Crash:
    """Kill the server as soon as a ``sleep`` call reaches it; time the call's failure, then
    (``retry``) send ``noop`` until one succeeds, or once if it fails for good."""
    in_flight = asyncio.ensure_future(session.call_tool("sleep", {"ms": CRASH_CALL_MS}))
    pid = await asyncio.wait_for(signal_.reached(), READY_TIMEOUT_S)
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    failed_ms: float | None = None
    error = ""
    try:
        async with asyncio.timeout(FAIL_TIMEOUT_S):
            result = await in_flight
        error = f"answered: {result}"
    except TimeoutError:
        in_flight.cancel()
        error = f"still waiting after {FAIL_TIMEOUT_S:g} s"
    except Exception as exc:
        failed_ms = (time.perf_counter() - t0) * 1000
        error = f"{type(exc).__name__}: {exc}"
    if not retry:
        return Crash(failed_ms, None, error)
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            result = await session.call_tool("noop", {})
        ok = None if result.is_error else (time.perf_counter() - t0) * 1000
    except Exception as exc:
        ok = None
        error += f"; next call: {type(exc).__name__}: {exc}"
    return Crash(failed_ms, ok, error)


async def proxy_crash(session: ClientSession, signal_: CallSignal) -> Crash:
    """mcp-proxy does not restart its server: one kill, then one more call to see what it says."""
    crash = await crash_once(session, signal_, retry=False)
    try:
        async with asyncio.timeout(FAIL_TIMEOUT_S):
            result = await session.call_tool("noop", {})
        next_call = "answered" if not result.is_error else f"tool error: {result}"
    except TimeoutError:
        next_call = f"no answer after {FAIL_TIMEOUT_S:g} s"
    except Exception as exc:
        next_call = f"{type(exc).__name__}: {str(exc)[:120]}"
    crash.error += f"; next call: {next_call}"
    return crash


async def direct_crash(tag: str, signal_: CallSignal, fifo: Path) -> Crash:
    """The same kill against a directly spawned server: does the SDK's stdio client fail the call?"""
    crash = Crash(None, None, "the session could not be opened")
    with contextlib.suppress(Exception):  # closing a session whose server is gone may complain
        async with stdio_session(tag, fifo) as session:
            crash = await crash_once(session, signal_, retry=False)
    return crash


# --- the benchmark -----------------------------------------------------------------------------


@dataclass
class Results:
    lat: dict[str, list[float]] = field(default_factory=dict)
    tput: dict[str, list[float]] = field(default_factory=dict)
    first: dict[str, list[float]] = field(default_factory=dict)
    foot: dict[str, Footprint] = field(default_factory=dict)
    crashes: list[Crash] = field(default_factory=list)
    proxy_crash: Crash | None = None
    direct_crash: Crash | None = None
    leaked: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def add(self, bucket: dict[str, list[float]], key: str, value: float) -> None:
        bucket.setdefault(key, []).append(value)


async def _check(results: Results, tag: str, what: str) -> None:
    left = await asyncio.to_thread(kill_leftovers, tag)
    if left:
        results.leaked.append(f"{what}: {len(left)} process(es) outlived the run (killed): {left}")


@dataclass
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
        tput_rounds=size.pick(3, 1),
        first_runs=size.pick(10, 2),
        crashes=size.pick(10, 2),
    )


async def _main(size: Size) -> list[Report]:
    p = plan(size)
    proxy_peer = peers.mcp_proxy()
    results = Results()
    results.load.append(os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as d:
        tmp = Path(d)
        tag = new_marker()
        fifo = tmp / "called.fifo"
        async with CallSignal(fifo) as called:
            direct: Opener = lambda: stdio_session(tag, fifo)  # noqa: E731
            async with contextlib.AsyncExitStack() as stack:
                gw = await stack.enter_async_context(gateway(tmp, tag, fifo))
                openers: dict[str, Opener] = {"direct": direct, "gateway": gw.session}
                proxy: Proxy | None = None
                if proxy_peer.argv is not None:
                    proxy = await stack.enter_async_context(mcp_proxy(proxy_peer, tmp, tag, fifo))
                    openers["mcp-proxy"] = proxy.session
                results.lat = await latencies(openers, p.calls, p.rounds, p.warmup)
                for _ in range(p.tput_rounds):
                    for name in ("gateway", "mcp-proxy"):
                        if name in openers:
                            results.add(results.tput, name, await throughput(openers[name], p.sessions, p.tput_calls))
                    results.add(results.tput, "direct, one copy each",
                                await throughput(direct, p.sessions, p.tput_calls))  # fmt: skip
                for _ in range(p.first_runs):
                    for name, open_ in openers.items():
                        results.add(results.first, name, await first_result_ms(open_))
                results.load.append(os.getloadavg()[0])
            await _check(results, tag, "latency, throughput, first result")
            # footprint: each alone, so the marker finds only its processes
            tag = new_marker()
            results.foot["direct"] = await footprint_with_sessions(lambda: stdio_session(tag, fifo), p.sessions, tag)
            await _check(results, tag, "direct footprint")
            tag = new_marker()
            async with gateway(tmp, tag, fifo) as gw:
                results.foot["gateway"] = await footprint_with_sessions(gw.session, p.sessions, tag)
                async with gw.session() as session:
                    await session.call_tool("noop", {})
                    for _ in range(p.crashes):
                        results.crashes.append(await crash_once(session, called, retry=True))
            await _check(results, tag, "gateway")
            if proxy_peer.argv is not None:
                tag = new_marker()
                async with mcp_proxy(proxy_peer, tmp, tag, fifo) as proxy:
                    results.foot["mcp-proxy"] = await footprint_with_sessions(proxy.session, p.sessions, tag)
                    with contextlib.suppress(Exception):
                        async with proxy.session() as session:
                            results.proxy_crash = await proxy_crash(session, called)
                await _check(results, tag, "mcp-proxy")
            tag = new_marker()
            results.direct_crash = await direct_crash(tag, called, fifo)
            await _check(results, tag, "direct crash")
    results.load.append(os.getloadavg()[0])
    return [report(results, p, proxy_peer)]


def report(res: Results, p: Plan, proxy_peer: peers.Peer) -> Report:
    has_proxy = proxy_peer.argv is not None
    r = Report(
        f"gateway: one stdlib stdio server, direct vs through mcp-marshal up vs mcp-proxy {peers.MCP_PROXY_VERSION}"
    )
    stats: dict[str, dict[str, float]] = {}
    for name, values in res.lat.items():
        stats[name] = {q: percentile(values, float(q[1:])) for q in ("p50", "p95", "p99")}
        for q, v in stats[name].items():
            r.row(f"tool call latency {q}, {name}", v, "ms", f"n={len(values)}" if q == "p50" else "")
    tput = {name: median(v) for name, v in res.tput.items()}
    for name, v in tput.items():
        spread = f"; runs {min(res.tput[name]):,.0f}–{max(res.tput[name]):,.0f}" if len(res.tput[name]) > 1 else ""
        r.row(f"throughput, {p.sessions} sessions, {name}", v, "calls/s", f"median of {len(res.tput[name])}{spread}")
    first = {name: median(v) for name, v in res.first.items()}
    labels = {"direct": "spawn per session (stdio)", "gateway": "warm (gateway)", "mcp-proxy": "warm (mcp-proxy)"}
    for name, v in first.items():
        r.row(f"new session → first result, {labels[name]}", v, "ms",
              f"median of {len(res.first[name])}; connect + initialize + call")  # fmt: skip
    for name, f in res.foot.items():
        copies = "one copy" if name != "direct" else f"{p.sessions} copies"
        r.row(
            f"footprint, {p.sessions} sessions, {name}: RSS",
            f.rss_mb,
            "MB",
            f"sum over {f.processes} processes ({copies})",
        )
        r.row(f"footprint, {p.sessions} sessions, {name}: PSS", f.pss_mb, "MB", "shared pages split")
        r.row(f"footprint, {p.sessions} sessions, {name}: processes", f.processes, "", "")
    failed = [c.failed_ms for c in res.crashes if c.failed_ms is not None]
    ok = [c.next_ok_ms for c in res.crashes if c.next_ok_ms is not None]
    if failed:
        r.row(
            "gateway: kill → in-flight call fails, median",
            median(failed),
            "ms",
            f"{len(failed)} of {len(res.crashes)} failed",
        )
        r.row("gateway: kill → in-flight call fails, max", max(failed), "ms", "")
    if ok:
        r.row(
            "gateway: kill → next call answered, median",
            median(ok),
            "ms",
            f"{len(ok)} of {len(res.crashes)}; restart included",
        )
        r.row("gateway: kill → next call answered, max", max(ok), "ms", "")
    for who, crash in (("mcp-proxy", res.proxy_crash), ("direct", res.direct_crash)):
        if crash is not None and crash.failed_ms is not None:
            r.row(f"{who}: kill → in-flight call fails", crash.failed_ms, "ms", crash.error[:160])
        elif crash is not None:
            r.note(f"{who}: after the kill the in-flight call {crash.error[:200]}")
    # ratios
    for q in ("p50", "p99"):
        r.ratio(f"gateway / direct, latency {q}", stats["gateway"][q], stats["direct"][q])
        if has_proxy:
            r.ratio(f"gateway / mcp-proxy, latency {q}", stats["gateway"][q], stats["mcp-proxy"][q], at_most=1.0)
    if has_proxy:
        r.ratio("gateway / mcp-proxy, throughput", tput["gateway"], tput["mcp-proxy"], at_least=1.0)
        r.ratio("gateway / mcp-proxy, first result (warm)", first["gateway"], first["mcp-proxy"])
    r.ratio("gateway warm / spawn per session, first result", first["gateway"], first["direct"], at_most=1.0)
    if "direct" in res.foot:
        r.ratio(f"gateway / {p.sessions} spawned copies, PSS", res.foot["gateway"].pss_mb, res.foot["direct"].pss_mb)
        if has_proxy and "mcp-proxy" in res.foot:
            r.ratio("gateway / mcp-proxy, PSS", res.foot["gateway"].pss_mb, res.foot["mcp-proxy"].pss_mb)
    if ok:
        r.ratio("gateway kill → next answer / spawn-per-session first result", median(ok), first["direct"])
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
