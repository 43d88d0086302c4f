"""Shared test helpers: build resolved server specs around the fixture servers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.config.models import Config, HealthPolicy, RestartPolicy, ServerSpec, StopPolicy

FIXTURES = Path(__file__).parent / "fixtures"
FAKE = str(FIXTURES / "fake_server.py")
SDK = str(FIXTURES / "sdk_server.py")
PY = sys.executable

FAST_RESTART = RestartPolicy(max_restarts=3, initial_delay_ms=50, max_delay_ms=400, reset_after_ms=60000)
FAST_HEALTH = HealthPolicy(start_timeout_ms=15000, ping_interval_ms=0, ping_timeout_ms=1000, failure_threshold=3)
FAST_STOP = StopPolicy(stdin_grace_ms=1000, term_grace_ms=1000)


def fake_spec(name: str, *, env: dict[str, str] | None = None, **kw: Any) -> ServerSpec:
    """A stdlib fake server; ``env`` holds its FAKE_* behaviour switches."""
    kw.setdefault("restart", FAST_RESTART)
    kw.setdefault("health", FAST_HEALTH)
    kw.setdefault("stop", FAST_STOP)
    return ServerSpec(name=name, type="stdio", command=PY, args=(FAKE,), env=env or {}, cwd=Path.cwd(), **kw)


def config_of(*specs: ServerSpec, deps: dict[str, set[str]] | None = None) -> Config:
    """A Config from specs; ``deps`` defaults to each spec's ``depends_on``."""
    servers = {s.name: s for s in specs}
    graph = DependencyGraph({s.name: frozenset((deps or {}).get(s.name, set(s.depends_on))) for s in specs})
    return Config(file=Path(os.getcwd()) / "test.code-workspace", folders=(), servers=servers, deps=graph)


async def until(condition: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    """Poll ``condition`` (cheaply, every 20 ms) until it holds; fail after ``timeout`` seconds.

    For state that has no event to await (a file's content, a process's death).
    """
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
