"""Footprint: the supervisor's own RSS and CPU with 1, 20, 50 idle servers, pings on.

The supervisor runs as its own process (``mcp-marshal up --trust --json``), so /proc/PID/status
and /proc/PID/stat give its figures alone: children (the servers, the lifeline watchdog) are
separate processes and not counted (the watchdog's RSS is shown as a row of its own). Pings every
``PING_INTERVAL_MS``; the idle window starts once every server is ready (and a settle second).

Baseline in the same run: supervisord holding the same idle fake servers (it does not ping).
Goal (issue): RSS ≤ 60 MB at 50 servers. Per-server overhead = (RSS at max − RSS at 1) / (max − 1).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import peers
from bench.common import (
    FAKE_SERVER,
    MARK_VAR,
    PYTHON,
    Report,
    Size,
    cpu_seconds,
    fake_server,
    new_marker,
    rss_mb,
    write_workspace,
)
from bench.recovery import (
    reap_leftovers,
    start_marshal,
    start_supervisord,
    stop_process,
)

PING_INTERVAL_MS = 1000
SETTLE_S = 1.0


@dataclass
class Sample:
    rss_mb: float
    """At the end of the idle window."""
    rss_peak_mb: float
    cpu_pct: float
    """CPU seconds used over the idle window / its length, in % of one core."""
    extra_rss_mb: float = float("nan")
    """mcp-marshal only: the lifeline watchdog process (a child, not counted above)."""


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def idle_window(pid: int, seconds: float) -> tuple[float, float, float]:
    """(RSS at the end, peak RSS, CPU %) of ``pid`` over ``seconds``, RSS sampled 4 times a second."""
    time.sleep(SETTLE_S if seconds >= 5 else 0.1)
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    peak = rss_mb(pid)
    while (left := t0 + seconds - time.perf_counter()) > 0:
        time.sleep(min(0.25, left))
        peak = max(peak, rss_mb(pid))
    cpu1, t1 = cpu_seconds(pid), time.perf_counter()
    end = rss_mb(pid)
    return end, max(peak, end), (cpu1 - cpu0) / (t1 - t0) * 100


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def marshal_sample(tmp: Path, n: int, seconds: float, marker: str) -> tuple[Sample, int]:
    """mcp-marshal holding ``n`` ready fake servers; also the number of failed pings seen."""
    ws = tmp / "footprint.code-workspace"
    servers = {f"s{i}": fake_server(f"s{i}", **{MARK_VAR: marker}) for i in range(n)}
    write_workspace(ws, servers, **{"mcpMarshal.health": {"pingIntervalMs": PING_INTERVAL_MS}})
    proc, log = start_marshal(tmp, ws)
    try:

        def all_ready() -> bool:
            log.poll()
            return len({e["name"] for e in log.events if e.get("event") == "ServerReady"}) >= n

        wait_until(lambda: all_ready() or proc.poll() is not None, 60, f"{n} servers ready")
        if proc.poll() is not None:
            raise RuntimeError(f"mcp-marshal up exited early ({proc.returncode}); see {tmp / 'marshal.err'}")
        end, peak, cpu = idle_window(proc.pid, seconds)
        watchdog = [c for c in children(proc.pid) if "watchdog" in cmdline(c)]
        extra = sum(rss_mb(c) for c in watchdog) if watchdog else float("nan")
        log.poll()
        misses = log.count("HealthCheckFailed")
    finally:
        stop_process(proc)
    return Sample(end, peak, cpu, extra), misses


def supervisord_sample(tmp: Path, n: int, seconds: float, marker: str) -> Sample:
    """supervisord holding the same ``n`` idle fake servers (stdin is its pipe: they stay up)."""
    programs = {f"s{i}": ([PYTHON, str(FAKE_SERVER)], {"FAKE_NAME": f"s{i}", MARK_VAR: marker}) for i in range(n)}
    proc = start_supervisord(tmp, programs)
    try:
        wait_until(lambda: len(children(proc.pid)) >= n or proc.poll() is not None, 60, f"{n} servers spawned")
        if proc.poll() is not None:
            raise RuntimeError(f"supervisord exited early ({proc.returncode}); see {tmp}")
        end, peak, cpu = idle_window(proc.pid, seconds)
    finally:
        stop_process(proc)
    return Sample(end, peak, cpu)


def run(size: Size) -> list[Report]:
    sizes: tuple[int, ...] = size.pick((1, 20, 50), (1, 3))
    seconds: float = size.pick(30.0, 0.5)  # tiny: a smoke test, it must finish in a few seconds
    # tiny: supervisord needs ~1 s to spawn and ~1-2 s to stop (its 1 s main-loop tick), so once only
    baseline_sizes: tuple[int, ...] = size.pick(sizes, sizes[-1:])
    report = Report(f"footprint: supervisor process RSS and CPU, servers idle {seconds:g} s, pings every "
                    f"{PING_INTERVAL_MS} ms")  # fmt: skip
    marker = new_marker()
    peer = peers.supervisord()
    ours: dict[int, Sample] = {}
    theirs: dict[int, Sample] = {}
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as name:
        tmp = Path(name)
        try:
            for n in sizes:
                sub = tmp / f"marshal-{n}"
                sub.mkdir()
                s, misses = marshal_sample(sub, n, seconds, marker)
                ours[n] = s
                reap_leftovers(marker, report)
                report.row(f"mcp-marshal, {n} server(s): RSS", s.rss_mb, "MB", f"peak {s.rss_peak_mb:.1f} MB")
                report.row(f"mcp-marshal, {n} server(s): CPU", s.cpu_pct, "%", f"failed pings {misses}")
                report.row(f"mcp-marshal, {n} server(s): lifeline watchdog RSS", s.extra_rss_mb, "MB",
                           "separate process, not in the row above")  # fmt: skip
                if peer.argv is not None and n in baseline_sizes:
                    sub = tmp / f"supervisord-{n}"
                    sub.mkdir()
                    t = theirs[n] = supervisord_sample(sub, n, seconds, marker)
                    reap_leftovers(marker, report)
                    report.row(f"supervisord, {n} server(s): RSS", t.rss_mb, "MB", f"peak {t.rss_peak_mb:.1f} MB")
                    report.row(f"supervisord, {n} server(s): CPU", t.cpu_pct, "%", "no pings")
        finally:
            reap_leftovers(marker, report)
    lo, hi = sizes[0], sizes[-1]
    per = (ours[hi].rss_mb - ours[lo].rss_mb) / (hi - lo) * 1024
    report.row("mcp-marshal per-server overhead", per, "KB", f"(RSS at {hi} − RSS at {lo}) / {hi - lo}")
    per_sup = math.nan
    if lo in theirs and hi in theirs:
        per_sup = (theirs[hi].rss_mb - theirs[lo].rss_mb) / (hi - lo) * 1024
        report.row("supervisord per-server overhead", per_sup, "KB", f"(RSS at {hi} − RSS at {lo}) / {hi - lo}")
    goal = {"at_most": 1.0} if hi >= 50 else {}
    report.ratio(f"mcp-marshal RSS at {hi} servers / 60 MB", ours[hi].rss_mb, 60.0, **goal)
    if theirs:
        report.ratio(f"mcp-marshal RSS / supervisord RSS at {hi} servers", ours[hi].rss_mb, theirs[hi].rss_mb)
        if lo in theirs:
            report.ratio(f"mcp-marshal per-server RSS / supervisord's ({lo}→{hi})", per, per_sup)
    else:
        report.note(f"supervisord unavailable: {peer.why_not}")
    if not goal:
        report.note("tiny run: the 60 MB goal is judged at 50 servers only")
    report.note(
        "RSS and CPU are the supervisor process's own (/proc/PID/status VmRSS, /proc/PID/stat utime+stime); "
        "CPU % is of one core over the idle window. mcp-marshal pings each server every "
        f"{PING_INTERVAL_MS} ms and also runs its telemetry pipeline and file watcher; supervisord only "
        "waits on its pipes (1 s main-loop tick)."
    )
    return [report]
