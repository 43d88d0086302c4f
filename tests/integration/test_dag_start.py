"""Start order along the DAG with real processes whose start-up delays are known."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mcp_marshal.config import load_workspace
from mcp_marshal.events import EventBus, ServerStateChanged
from mcp_marshal.supervise.orchestrator import Orchestrator
from tests.support import FAKE, PY


def slow(ms: int, **extra: Any) -> dict[str, Any]:
    return {"command": PY, "args": [FAKE], "env": {"FAKE_START_DELAY_MS": str(ms)}, **extra}


def load(tmp: Path, servers: dict[str, Any]) -> Any:
    path = tmp / "dag.code-workspace"
    path.write_text(
        json.dumps(
            {
                "folders": [{"path": "."}],
                "settings": {
                    "mcpMarshal.servers": servers,
                    "mcpMarshal.restart": {"maxRestarts": 0},
                    "mcpMarshal.stop": {"stdinGraceMs": 500, "termGraceMs": 500},
                },
            }
        )
    )
    result = load_workspace(path)
    assert result.config is not None, [p.format() for p in result.problems]
    return result.config


async def run_and_record(config: Any) -> tuple[dict[tuple[str, str], float], float, Orchestrator]:
    bus = EventBus()
    times: dict[tuple[str, str], float] = {}
    t0 = time.monotonic()
    bus.subscribe(
        lambda e: (
            times.setdefault((e.name, e.state), time.monotonic() - t0) if isinstance(e, ServerStateChanged) else None
        )
    )
    orch = Orchestrator(config, bus)
    await orch.__aenter__()
    await orch.start_all()
    return times, time.monotonic() - t0, orch


async def test_independent_branches_do_not_wait_and_total_follows_critical_path(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "a": slow(900),
            "b": slow(900, dependsOn=["a"]),  # critical path: 1.8 s
            "c": slow(100),
            "d": slow(100, dependsOn=["c"]),  # fast branch
            "e": slow(1200),  # slow, independent
        },
    )
    times, total, orch = await run_and_record(config)
    try:
        assert {s.state for s in orch.snapshot()} == {"ready"}
        # the fast branch is done before the slow branch's first server is even ready
        assert times[("d", "ready")] < times[("a", "ready")]
        # b starts only after a is ready; d only after c
        assert times[("b", "starting")] >= times[("a", "ready")]
        assert times[("d", "starting")] >= times[("c", "ready")]
        critical, serial = 1.8, 0.9 + 0.9 + 0.1 + 0.1 + 1.2
        print(f"all ready in {total:.2f} s; critical path {critical} s; serial sum {serial} s")
        assert critical <= total < serial
    finally:
        await orch.__aexit__(None, None, None)


async def test_tier_alone_reproduces_tier_barriers(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "x": slow(100, tier=0),
            "y": slow(700, tier=0),
            "z": slow(0, tier=1),
            "w": slow(0, tier=2),
        },
    )
    times, _total, orch = await run_and_record(config)
    try:
        assert times[("z", "starting")] >= max(times[("x", "ready")], times[("y", "ready")])
        assert times[("w", "starting")] >= times[("z", "ready")]
    finally:
        await orch.__aexit__(None, None, None)


async def test_a_failing_server_blocks_only_its_dependents(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "f": {"command": PY, "args": [FAKE], "env": {"FAKE_CRASH_AT_START": "1"}},
            "g": slow(0, dependsOn=["f"]),
            "h": slow(0, dependsOn=["g"]),
            "i": slow(0),
            "j": slow(0, dependsOn=["i"]),
        },
    )
    _times, _total, orch = await run_and_record(config)
    try:
        states = {s.name: s.state for s in orch.snapshot()}
        assert states == {"f": "failed", "g": "blocked", "h": "blocked", "i": "ready", "j": "ready"}
        assert "f is failed" in orch.get("g").last_error
        assert orch.get("g").pid is None  # never spawned
    finally:
        await orch.__aexit__(None, None, None)


async def test_blocked_dependents_start_when_their_dependency_is_revived(tmp_path: Path) -> None:
    flag = tmp_path / "broken"
    flag.write_text("1")
    config = load(
        tmp_path,
        {
            "f": {"command": PY, "args": [FAKE], "env": {"FAKE_CRASH_IF_EXISTS": str(flag)}},
            "g": slow(0, dependsOn=["f"]),
        },
    )
    _times, _total, orch = await run_and_record(config)
    try:
        assert orch.get("g").state == "blocked"
        flag.unlink()
        await orch.restart("f")
        await orch.wait_settled(["g"])
        assert orch.get("g").state == "ready"
    finally:
        await orch.__aexit__(None, None, None)
