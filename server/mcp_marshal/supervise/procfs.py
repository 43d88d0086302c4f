"""Process facts for the lifeline and the lease liveness check: start times, liveness and
process groups, from /proc on Linux and psutil elsewhere (else "unknown").

The raw /proc readers live in :mod:`.watchdog`, which must stay stdlib-only and import-light.
"""

from __future__ import annotations

import os
from typing import Any

from mcp_marshal.supervise.watchdog import PROC, boot_id, proc_groups, proc_stat

__all__ = ["Snapshot", "StartTime", "boot_id", "is_live", "process_groups", "process_start_time", "same_start"]

StartTime = int | float
"""Ticks since boot from /proc (Linux) or psutil's epoch seconds elsewhere; compare, don't mix."""

Snapshot = dict[int, list[tuple[int, StartTime, bool]]]
"""Processes by pgid: ``{pgid: [(pid, start, is_zombie), ...]}``."""


def _psutil() -> Any:
    try:
        import psutil  # a dev dependency only: used where /proc is missing (macOS)
    except ImportError:
        return None
    return psutil


def process_start_time(pid: int) -> StartTime | None:
    """When ``pid`` started (zombies included), or None if it does not exist or cannot be known."""
    if PROC.is_dir():
        stat = proc_stat(pid)
        return stat[2] if stat else None
    psutil = _psutil()
    if psutil is None:
        return None
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def same_start(a: StartTime, b: StartTime) -> bool:
    return abs(a - b) < 1e-3  # exact for ticks; absorbs float noise from psutil


def is_live(pid: int, start: StartTime | None) -> bool:
    """Whether ``pid`` is running (not a zombie) and, if ``start`` is known, is that same process."""
    if PROC.is_dir():
        stat = proc_stat(pid)
        if stat is None or stat[0] in (b"Z", b"X"):
            return False
        return start is None or same_start(stat[2], start)
    now = process_start_time(pid)
    if now is not None:
        return start is None or same_start(now, start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True  # exists, identity unknowable: assume it is the owner (never kill a live owner's groups)


def process_groups() -> Snapshot | None:
    """All processes by pgid, or None where neither /proc nor psutil can list them."""
    if PROC.is_dir():
        return dict(proc_groups())
    psutil = _psutil()
    if psutil is None:
        return None
    groups: Snapshot = {}
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        try:
            pgid = os.getpgid(proc.info["pid"])
        except OSError:
            continue
        zombie = proc.info["status"] == psutil.STATUS_ZOMBIE
        groups.setdefault(pgid, []).append((proc.info["pid"], proc.info["create_time"], zombie))
    return groups
