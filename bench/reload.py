"""reload: save the workspace file with one server added; time until it is spawned and until it is ready.

Ours is ``mcp-marshal up --json`` (it watches the file); the peer is ``mcp-hub --watch`` given the same
change to its own config file. Both files are written the same way (temp file + rename, as editors
save). One definition for both: *spawned* is when the new server's ``FAKE_PIDFILE`` appears (polled
every 2 ms; the fake writes it first thing, so it includes the interpreter's start-up), *ready* is
ours' ``ready`` line on stdout and mcp-hub's ``/api/servers`` showing it connected (polled every 2 ms).
The new server's standalone spawn + handshake, measured in the same run, is subtracted to get what
the reload itself costs (goal: ≤ 150 ms on top of the handshake).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench import peers
from bench.common import Report, Size, kill_leftovers, new_marker, write_workspace
from bench.startup import (
    Hub,
    MarshalProcess,
    Samples,
    Server,
    close_all,
    fake,
    private_dir,
    spawn_handshake,
)
from mcp_marshal.approvals import Approvals
from mcp_marshal.config import load_workspace

POLL_S = 0.002
NEW_DELAY_MS = 100
"""The added server's start-up delay: a server that takes a moment, like most real ones."""
SETTLE_S = 0.3
"""Quiet time between changes, so one change's reload never overlaps the next one's."""


def base_servers() -> list[Server]:
    return [fake("base-0"), fake("base-1", 50)]


def added(i: int, tmp: Path) -> tuple[Server, Path]:
    pidfile = tmp / f"added-{i}-{time.monotonic_ns()}.pid"
    return fake(f"added-{i}", NEW_DELAY_MS, FAKE_PIDFILE=pidfile), pidfile


async def _until_exists(path: Path) -> float:
    while not path.exists():
        await asyncio.sleep(POLL_S)
    return time.perf_counter()


async def standalone_ms(server: Server, tag: str) -> float:
    """The added server's own spawn + handshake with the bare client (what no reload can avoid)."""
    proc, ms = await spawn_handshake(server, tag)
    await close_all([proc])
    return ms


async def ours(trials: int, tmp: Path, samples: Samples) -> None:
    """Add one server per trial to a running ``mcp-marshal up``; each trial keeps what earlier ones added."""
    tag = new_marker()
    path = tmp / "reload.code-workspace"
    state = tmp / "state"
    state.mkdir()
    servers = base_servers()
    write_workspace(path, {s.name: s.entry(tag) for s in servers})
    async with MarshalProcess(path, state, tag) as up:
        await up.wait_ready(s.name for s in servers)
        await asyncio.sleep(SETTLE_S)  # its file watch is armed while the servers start; be sure
        for i in range(trials):
            server, pidfile = added(i, tmp)
            alone, _ = added(i, tmp)  # the same server with its own pid file, so ours' is still absent
            samples.add("handshake", await standalone_ms(alone, tag))
            await asyncio.sleep(SETTLE_S / 3)
            servers.append(server)
            approve_beforehand(path, state, {s.name: s.entry(tag) for s in servers}, server.name)
            t0 = time.perf_counter()
            write_workspace(path, {s.name: s.entry(tag) for s in servers})
            spawned = asyncio.ensure_future(_until_exists(pidfile))
            ready = await up.wait_ready([server.name], after=t0, timeout=15)
            async with asyncio.timeout(5):
                samples.add("ours spawned", (await spawned - t0) * 1000)
            samples.add("ours ready", (ready - t0) * 1000)
            await asyncio.sleep(SETTLE_S)
    left = await asyncio.to_thread(kill_leftovers, tag)
    if left:
        samples.leaked.append(f"mcp-marshal up: {len(left)} process(es) outlived the run (killed): {left}")


def approve_beforehand(path: Path, state: Path, servers: dict[str, Any], name: str) -> None:
    """Approve the added server's launch before the save, as ``mcp-marshal trust`` would once it
    is in the file: a new launch waits for the user's approval, and a human's answer is not what
    this measures."""
    side = path.with_name("next.code-workspace")
    write_workspace(side, servers)
    config = load_workspace(side).config
    assert config is not None
    before = os.environ.get("MCP_MARSHAL_STATE_DIR")
    os.environ["MCP_MARSHAL_STATE_DIR"] = str(state)
    try:
        Approvals(path).approve(config, [name])
    finally:
        if before is None:
            del os.environ["MCP_MARSHAL_STATE_DIR"]
        else:
            os.environ["MCP_MARSHAL_STATE_DIR"] = before


def hub(peer: peers.Peer, trials: int, tmp: Path, samples: Samples) -> None:
    """The same changes to a running ``mcp-hub --watch``."""
    tag = new_marker()
    config = tmp / "hub.json"
    servers = base_servers()
    Hub.write_config(config, servers, tag)
    with Hub(peer, config, tag, watch=True) as h:
        h.wait_connected(s.name for s in servers)
        time.sleep(SETTLE_S)
        for i in range(trials):
            server, pidfile = added(i, tmp)
            servers.append(server)
            t0 = time.perf_counter()
            Hub.write_config(config, servers, tag)
            spawned = ready = 0.0
            deadline = t0 + 15
            while not (spawned and ready):
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"mcp-hub did not start {server.name}; see {h.log}")
                if not spawned and pidfile.exists():
                    spawned = time.perf_counter()
                if not ready and h.status().get(server.name) == "connected":
                    ready = time.perf_counter()
                time.sleep(POLL_S)
            samples.add("hub spawned", (spawned - t0) * 1000)
            samples.add("hub ready", (ready - t0) * 1000)
            time.sleep(SETTLE_S)
    left = kill_leftovers(tag)
    if left:
        samples.leaked.append(f"mcp-hub: {len(left)} process(es) outlived the run (killed): {left}")


async def _main(size: Size) -> list[Report]:
    trials = size.pick(7, 1)
    peer = peers.mcp_hub()
    samples = Samples()
    with private_dir("bench-reload-") as tmp:
        for sub in ("ours", "hub"):
            (tmp / sub).mkdir()
        await ours(trials, tmp / "ours", samples)
        if peer.argv is not None:
            await asyncio.to_thread(hub, peer, trials, tmp / "hub", samples)

    r = Report(f"reload: add one server to a running workspace ({trials} change(s))")
    hs = r.row("added server: standalone spawn + handshake", samples.med("handshake"), "ms",
               f"bare client; FAKE_START_DELAY_MS {NEW_DELAY_MS}")  # fmt: skip
    r.row("mcp-marshal up: save → spawned", samples.med("ours spawned"), "ms", "pid file appears")
    ready = r.row("mcp-marshal up: save → ready", samples.med("ours ready"), "ms", "`ready` line read")
    overhead = r.row("mcp-marshal up: reload overhead", ready - hs, "ms", "save → ready − standalone handshake")
    r.row("mcp-marshal up: save → ready, worst", max(samples.values.get("ours ready", [0.0])), "ms", "")
    if peer.argv is not None:
        r.row("mcp-hub --watch: save → spawned", samples.med("hub spawned"), "ms", "pid file appears")
        hub_ready = r.row("mcp-hub --watch: save → ready", samples.med("hub ready"), "ms", "/api/servers connected")
        r.row("mcp-hub --watch: reload overhead", hub_ready - hs, "ms", "save → ready − standalone handshake")
    else:
        r.note(f"mcp-hub unavailable: {peer.why_not}")
    r.ratio("ours (save → ready − handshake) / 150 ms", overhead, 150.0, at_most=1.0)
    if peer.argv is not None:
        r.ratio("ours / mcp-hub, save → spawned", samples.med("ours spawned"), samples.med("hub spawned"))
        r.ratio("ours / mcp-hub, save → ready", ready, hub_ready, at_most=1.0)
    r.note(f"median of {trials} change(s) each; a change adds one server (the earlier ones stay), files are "
           "replaced atomically; the standalone handshake is re-measured before each of our changes.")  # fmt: skip
    r.note("mcp-hub watches its config with chokidar `awaitWriteFinish` (the file must be unchanged for 200 ms, "
           "checked every 100 ms) before it reloads: a deliberate guard against half-written files that sets a "
           "floor of ~200 ms on its reload. Ours reacts to the rename after a 10 ms quiet step (watchfiles), "
           "which is safe because editors and write_workspace replace the file atomically.")  # fmt: skip
    r.note("Spawned includes the new process's interpreter start-up until it writes its pid file (~25 ms).")
    r.note(f"spread: ours save → ready {_spread(samples, 'ours ready')}; "
           f"mcp-hub {_spread(samples, 'hub ready')}; handshake {_spread(samples, 'handshake')}")  # fmt: skip
    for line in samples.leaked:
        r.note("LEFTOVER " + line)
    return [r]


def _spread(samples: Samples, key: str) -> str:
    values = samples.values.get(key, [])
    return f"{min(values):.0f}–{max(values):.0f} ms" if values else "n/a"


def run(size: Size) -> list[Report]:
    return asyncio.run(_main(size))
