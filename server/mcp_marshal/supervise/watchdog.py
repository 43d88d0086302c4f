"""The lifeline watchdog: SIGKILLs the supervisor's process groups the moment the supervisor dies.

Run by :class:`mcp_marshal.supervise.lifeline.Lifeline` as ``python -I -S watchdog.py --owner PID``
in a session of its own, with stdin the read end of a pipe only the supervisor can write to.
When that pipe reaches EOF without a ``bye`` line, the supervisor is dead (``kill -9`` included):
every registered group is SIGKILLed at once, then the watchdog exits.

Protocol on stdin, one line each: ``+PGID STARTTIME`` (STARTTIME ``-`` when unknown), ``-PGID``,
``bye`` (orderly shutdown: exit without killing). After start it writes ``ready`` on stdout and
keeps stdout open, so the supervisor sees EOF there if the watchdog dies.

Stdlib only and import-light: it must start in milliseconds and never import the package's
dependencies. :mod:`lifeline` imports the /proc helpers below, so they live here exactly once.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from pathlib import Path

PROC = Path("/proc")
# Fallback for the rare supervisor that leaks the pipe's write end through fork-without-exec.
OWNER_POLL_S = 0.5


def proc_stat(pid: int) -> tuple[bytes, int, int] | None:
    """``(state, pgid, start_ticks)`` of ``pid`` from /proc/PID/stat; None if there is no such pid.

    ``start_ticks`` (field 22, clock ticks since boot) is exact and unique per boot for a given
    pid, which is what the pid-reuse guards compare.
    """
    try:
        data = (PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[19])


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None if gone (a zombie still has one)."""
    stat = proc_stat(pid)
    return stat[2] if stat else None


def proc_groups() -> dict[int, list[tuple[int, int, bool]]]:
    """Every process by pgid: ``{pgid: [(pid, start_ticks, is_zombie), ...]}`` from one /proc scan."""
    groups: dict[int, list[tuple[int, int, bool]]] = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))):
            state, pgid, start = stat
            groups.setdefault(pgid, []).append((int(entry.name), start, state in (b"Z", b"X")))
    return groups


def boot_id() -> str | None:
    """This boot's id; ledgers from another boot describe processes that no longer exist."""
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def kill_groups(groups: dict[int, int | None]) -> bool:
    """SIGKILL each ``pgid`` unless its leader pid now belongs to another process (pid reuse).

    A live pgid number cannot be handed to a new process, so a group whose leader has exited but
    whose members remain is still ours. Returns False if some group could not be signalled.
    """
    ok = True
    have_proc = PROC.is_dir()
    for pgid, start in groups.items():
        if have_proc and start is not None:
            now = proc_start_time(pgid)
            if now is not None and now != start:
                continue
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except OSError as exc:
            ok = False
            print(f"mcp-marshal watchdog: cannot kill group {pgid}: {exc}", file=sys.stderr)
    return ok


def _parse(line: str, groups: dict[int, int | None]) -> bool:
    """Apply one protocol line; True means ``bye``."""
    if line == "bye":
        return True
    if line.startswith("+"):
        pgid, _, start = line[1:].partition(" ")
        try:
            groups[int(pgid)] = int(start)
        except ValueError:  # "-" or a non-/proc clock: kill without the reuse check
            groups[int(pgid)] = None
    elif line.startswith("-"):
        groups.pop(int(line[1:]), None)
    return False


def run(owner: int, ledger: Path | None) -> int:
    """Serve the protocol until ``bye`` (exit 0, kill nothing) or the owner's death (kill all)."""
    # A `pkill -f mcp-marshal` or a terminal's SIGINT/SIGHUP must not take the watchdog down
    # before the supervisor: our life is bounded by the pipe, not by signals.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # the supervisor may already be gone: still do the job
        os.write(1, b"ready\n")
    groups: dict[int, int | None] = {}
    buf = b""
    while True:
        readable, _, _ = select.select([0], [], [], OWNER_POLL_S)
        if not readable:
            if os.getppid() != owner:
                break
            continue
        data = os.read(0, 65536)
        if not data:
            break
        buf += data
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            if _parse(raw.decode().strip(), groups):
                return 0
    if groups and not kill_groups(groups):
        return 1
    if ledger is not None:
        ledger.unlink(missing_ok=True)
    return 0


def main(argv: list[str]) -> int:
    owner = int(argv[argv.index("--owner") + 1])
    ledger = Path(argv[argv.index("--ledger") + 1]) if "--ledger" in argv else None
    return run(owner, ledger)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
