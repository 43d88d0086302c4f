"""Reaping what dead supervisors left behind: the process groups recorded in their ledgers.

A ledger file per supervisor (``{owner, groups: {pgid: leader start time}}``) outlives it when
both it and its watchdog are killed; the next supervisor to start on the machine kills those
groups, guarded against pid reuse by the recorded start times.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_marshal.supervise.procfs import Snapshot, StartTime, boot_id, is_live, process_groups, same_start

log = logging.getLogger(__name__)

REAP_WAIT_S = 5.0


@dataclass
class ReapReport:
    """What :func:`reap_stale` did; pgids are the numbers recorded in the stale ledgers."""

    ledgers_removed: int = 0
    killed: list[int] = field(default_factory=list)
    foreign: list[int] = field(default_factory=list)
    """Recorded pgids now used by an unrelated process (pid reuse): left alone."""
    unverifiable: list[int] = field(default_factory=list)
    """No start time to check identity against (no /proc, no psutil): left alone."""
    survivors: list[int] = field(default_factory=list)
    """Killed but still alive after the wait; their ledger is kept so a later start retries."""


def _verdict(pgid: int, start: StartTime | None, snapshot: Snapshot | None) -> str:
    """``kill``, ``gone``, ``foreign`` or ``unverifiable`` for one recorded group."""
    if snapshot is None:
        return "unverifiable"
    members = snapshot.get(pgid, [])
    if not any(not zombie for _, _, zombie in members):
        return "gone"
    if start is None:
        return "unverifiable"
    for pid, member_start, _ in members:
        if pid == pgid and not same_start(member_start, start):
            return "foreign"  # the leader's pid now names another process
        if member_start < start - 1e-3:
            return "foreign"  # older than our leader: cannot be a descendant of it
    return "kill"


def _read_ledger(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None  # another starting supervisor reaped it first
    except (OSError, ValueError) as exc:
        log.warning("lifeline: unreadable ledger %s removed: %s", path, exc)
        path.unlink(missing_ok=True)
        return None
    return doc if isinstance(doc, dict) else None


def reap_stale(ledger_dir: Path, *, own: Path | None = None, wait_s: float = REAP_WAIT_S) -> ReapReport:
    """Kill the process groups recorded by supervisors that are dead, then delete their ledgers.

    A ledger whose owner is alive is never touched. A group is killed only if every process in it
    started no earlier than the recorded leader and the leader's pid, if alive, is the recorded
    process; ledgers from an earlier boot are deleted without killing anything. Blocks until the
    killed groups are gone or ``wait_s`` passes.
    """
    report = ReapReport()
    if not ledger_dir.is_dir():
        return report
    this_boot = boot_id()
    snapshot: Snapshot | None = None
    pending: dict[Path, list[int]] = {}
    for path in sorted(ledger_dir.glob("*.json")):
        if path == own or (doc := _read_ledger(path)) is None:
            continue
        ledger_boot = doc.get("boot_id")
        if not (ledger_boot and this_boot and ledger_boot != this_boot):
            if is_live(int(doc.get("owner_pid", 0)), doc.get("owner_start_time")):
                continue
            if snapshot is None:
                snapshot = process_groups()
            to_kill = []
            for key, start in dict(doc.get("groups", {})).items():
                pgid = int(key)
                verdict = _verdict(pgid, start, snapshot)
                if verdict == "kill":
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pgid, signal.SIGKILL)
                    to_kill.append(pgid)
                elif verdict == "foreign":
                    report.foreign.append(pgid)
                elif verdict == "unverifiable":
                    report.unverifiable.append(pgid)
            report.killed += to_kill
            pending[path] = to_kill
            continue
        pending[path] = []  # an earlier boot: every process it recorded is long gone
    alive = _wait_groups_gone(report.killed, wait_s)
    report.survivors = sorted(alive)
    for path, pgids in pending.items():
        if not alive.intersection(pgids):
            path.unlink(missing_ok=True)
            report.ledgers_removed += 1
    if report.killed or report.foreign or report.survivors:
        log.info("lifeline: reaped stale groups: %s", report)
    return report


def _wait_groups_gone(pgids: list[int], wait_s: float) -> set[int]:
    """Poll until no non-zombie process is left in ``pgids``; return those still alive at the deadline."""
    deadline = time.monotonic() + wait_s
    remaining = set(pgids)
    while remaining:
        snapshot = process_groups()
        if snapshot is None:
            return set()
        remaining = {p for p in remaining if any(not z for _, _, z in snapshot.get(p, []))}
        if not remaining or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return remaining
