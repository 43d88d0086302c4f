"""Scale: orchestration CPU time per server as N grows, N fake servers in 20 tiers.

Each tier waits for every server of the tiers below it (``tier`` in the workspace, DESIGN §3), so
the start is 20 waves deep whatever N is; what grows with N is the bookkeeping per wave. The
orchestrator runs in this process: ``time.process_time()`` from ``start_all()`` until every server
is ready counts only its own CPU (every thread of this process, none of the children: the servers
and the lifeline watchdog are separate processes). Pings are off so only starting is measured.

Goal (issue): flat — per-server CPU at 200 / at 20 ≤ 1.5.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import MARK_VAR, Report, Size, fake_server, median, new_marker, state_dir, write_workspace
from bench.recovery import reap_leftovers
from mcp_marshal.config import load_workspace
from mcp_marshal.events import EventBus
from mcp_marshal.supervise.orchestrator import Orchestrator


@dataclass
class Run:
    n: int
    cpu_s: float
    wall_s: float
    stop_s: float


def tiered_workspace(path: Path, n: int, tiers: int, marker: str) -> None:
    per = max(1, n // tiers)
    servers = {f"s{i:03d}": {**fake_server(f"s{i:03d}", **{MARK_VAR: marker}), "tier": i // per} for i in range(n)}
    write_workspace(path, servers, **{"mcpMarshal.health": {"pingIntervalMs": 0}})


async def start_once(path: Path) -> Run:
    result = load_workspace(path)
    assert result.config is not None, result.problems
    config = result.config
    async with Orchestrator(config, EventBus()) as orch:
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        await orch.start_all()
        c1, t1 = time.process_time(), time.perf_counter()
        states = [s.state for s in orch.snapshot()]
        if states.count("ready") != len(states):
            bad = {s.name: (s.state, s.last_error) for s in orch.snapshot() if s.state != "ready"}
            raise RuntimeError(f"not every server became ready: {bad}")
        s0 = time.perf_counter()
    stop = time.perf_counter() - s0  # leaving the context stops everything (reverse tier order)
    return Run(len(states), c1 - c0, t1 - t0, stop)


def run(size: Size) -> list[Report]:
    sizes: tuple[int, ...] = size.pick((20, 50, 100, 200), (10, 20))
    tiers: int = size.pick(20, 5)
    reps: int = size.pick(3, 1)  # two cores shared with other work: the median of 3 starts per size
    report = Report(f"scale: orchestration CPU per server, N fake servers in {tiers} tiers (in-process)")
    marker = new_marker()
    runs: dict[int, Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name, state_dir(Path(name) / "state"):
        tmp = Path(name)
        try:
            warm = tmp / "warm.code-workspace"  # first use pays for lazy imports: keep that out of N=20
            tiered_workspace(warm, 2, 2, marker)
            asyncio.run(start_once(warm))
            for n in sizes:
                ws = tmp / f"scale-{n}.code-workspace"
                tiered_workspace(ws, n, tiers, marker)
                tries = []
                for _ in range(reps):
                    tries.append(asyncio.run(start_once(ws)))
                    reap_leftovers(marker, report)
                r = runs[n] = Run(n, *(median([getattr(t, k) for t in tries]) for k in ("cpu_s", "wall_s", "stop_s")))
                spread = f"{min(t.cpu_s for t in tries) / n * 1000:.2f}–{max(t.cpu_s for t in tries) / n * 1000:.2f}"
                report.row(f"N={n}: CPU per server", r.cpu_s / n * 1000, "ms",
                           f"median of {reps}: {r.cpu_s:.2f} s CPU in all; range {spread} ms")  # fmt: skip
                report.row(f"N={n}: wall time to all ready", r.wall_s, "s", f"{n // tiers} per tier")
                report.row(f"N={n}: stop all", r.stop_s, "s", "reverse tier order")
        finally:
            reap_leftovers(marker, report)
    lo, hi = sizes[0], sizes[-1]
    per_lo, per_hi = runs[lo].cpu_s / lo, runs[hi].cpu_s / hi
    goal = {"at_most": 1.5} if not size.tiny else {}
    report.ratio(f"CPU per server at N={hi} / at N={lo}", per_hi, per_lo, **goal)
    report.ratio(f"wall time to all ready at N={hi} / at N={lo}", runs[hi].wall_s, runs[lo].wall_s)
    report.note(
        "CPU = time.process_time() of the benchmark process (the orchestrator and its threads) from start_all() "
        "to all ready; it includes spawning (fork/exec from this process), the handshakes and the event bus, "
        "not the servers' own start-up. One warm-up start (2 servers) runs first, unmeasured."
    )
    if size.tiny:
        report.note("tiny run: the flatness goal is judged at N=200 vs N=20 only")
    return [report]
