"""Supervisor figures, each printed next to a baseline measured in the same run.

1. Demo workspace: time to all-ready vs the sum of handshake times along its critical path
   (ratio ≈ 1 means the DAG scheduler adds nothing on top of the servers' own start-up).
2. Crash-to-ready with ``initialDelayMs`` 0 vs a cold spawn + handshake of the same server.
3. Orchestrator RSS with 20 running servers vs with none.

Run: ``.venv/bin/python bench/bench_supervise.py`` (with the venv's bin on PATH for the demo).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import config_of, fake_spec  # noqa: E402

from mcp_marshal.config import load_workspace  # noqa: E402
from mcp_marshal.config.models import RestartPolicy  # noqa: E402
from mcp_marshal.events import EventBus, ServerStateChanged, wait_for  # noqa: E402
from mcp_marshal.supervise.orchestrator import Orchestrator  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def critical_path_ms(deps: dict[str, frozenset[str]], cost: dict[str, float]) -> float:
    memo: dict[str, float] = {}

    def finish(name: str) -> float:
        if name not in memo:
            memo[name] = cost[name] + max((finish(d) for d in deps.get(name, ())), default=0.0)
        return memo[name]

    return max(finish(n) for n in deps)


async def demo_all_ready(runs: int = 3) -> None:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    result = load_workspace(ROOT / "examples" / "demo.code-workspace")
    assert result.config is not None
    config = result.config
    ratios, totals, paths = [], [], []
    for _ in range(runs):
        async with Orchestrator(config, EventBus()) as orch:
            t0 = time.perf_counter()
            await orch.start_all()
            total = (time.perf_counter() - t0) * 1000
            snaps = {s.name: s for s in orch.snapshot()}
        cost = {n: s.handshake_ms or 0.0 for n, s in snaps.items()}
        path = critical_path_ms(dict(config.deps), cost)
        totals.append(total)
        paths.append(path)
        ratios.append(total / path)
        hs = ", ".join(f"{n} {c:.0f}" for n, c in cost.items())
        print(f"  demo run: all-ready {total:.0f} ms; handshake ms: {hs}")
    print(
        f"demo all-ready median {statistics.median(totals):.0f} ms vs critical path "
        f"{statistics.median(paths):.0f} ms (sum of its servers' spawn+handshake): "
        f"ratio {statistics.median(ratios):.2f}"
    )


async def crash_to_ready(runs: int = 10) -> None:
    spec = fake_spec("c", restart=RestartPolicy(max_restarts=100, initial_delay_ms=0, max_delay_ms=0))
    cold, recover = [], []
    bus = EventBus()
    async with Orchestrator(config_of(spec), bus, use_lifeline=False) as orch:
        for _ in range(runs):
            await orch.stop("c")
            t0 = time.perf_counter()
            await orch.start("c")
            cold.append((time.perf_counter() - t0) * 1000)
        for _ in range(runs):
            pid = orch.get("c").pid
            assert pid
            with bus.queue() as q:
                t0 = time.perf_counter()
                os.kill(pid, signal.SIGKILL)
                await wait_for(q, lambda e: isinstance(e, ServerStateChanged) and e.state == "ready", 10)
                recover.append((time.perf_counter() - t0) * 1000)
    c, r = statistics.median(cold), statistics.median(recover)
    print(f"crash-to-ready (initialDelayMs 0) median {r:.1f} ms vs cold start+handshake {c:.1f} ms: ratio {r / c:.2f}")


async def rss_with_servers(n: int = 20) -> None:
    base = rss_mb()
    specs = [fake_spec(f"s{i}") for i in range(n)]
    async with Orchestrator(config_of(*specs), EventBus()) as orch:
        await orch.start_all()
        assert all(s.state == "ready" for s in orch.snapshot())
        running = rss_mb()
    print(
        f"orchestrator RSS with {n} servers {running:.1f} MB vs idle {base:.1f} MB: "
        f"+{running - base:.1f} MB ({(running - base) / n * 1024:.0f} KB per server), ratio {running / base:.2f}"
    )


async def main() -> None:
    await rss_with_servers()
    await crash_to_ready()
    await demo_all_ready()


if __name__ == "__main__":
    asyncio.run(main())
