"""Whether the process a lease is bound to still runs: asked of the process itself, never a file.

A holder is written ``PID:START:BOOT``: the pid, its start time (``/proc/PID/stat`` field 22,
or psutil's create time elsewhere) and the boot id. Another process that later gets the same
pid has another start time, and a reboot another boot id, so neither can keep a dead holder's
lease alive; a stopped (SIGSTOP) holder is alive, a zombie is dead. Pids are per machine (and per
pid namespace): bound leases are for stores on one machine.
"""

from __future__ import annotations

import functools
import os

from mcp_marshal.errors import UserError
from mcp_marshal.supervise.procfs import boot_id, is_live, process_start_time

_UNKNOWN = "-"


class UnknownProcess(UserError):
    """A lease was to be bound to a process that is not running."""

    code = "unknown_process"


@functools.cache
def _boot() -> str:
    return boot_id() or _UNKNOWN


@functools.cache
def _identity(pid: int) -> str | None:
    """``holder_of`` for this process, read once per pid (a forked child has another pid)."""
    start = process_start_time(pid)
    return None if start is None else f"{pid}:{start}:{_boot()}"


def holder_of(pid: int) -> str:
    """The holder string of the running process ``pid`` (0: the calling process).

    Raises ``UnknownProcess`` if no such process runs.
    """
    own = os.getpid()
    if pid == 0 or pid == own:
        identity = _identity(own)
        if identity is not None:
            return identity
        pid = own
    if pid < 0:
        raise UnknownProcess(f"cannot bind a lease to process {pid}: not a process id")
    start = process_start_time(pid)
    if not is_live(pid, start):
        raise UnknownProcess(f"cannot bind a lease to process {pid}: no such process is running")
    return f"{pid}:{_UNKNOWN if start is None else start}:{_boot()}"


def own_holder() -> str | None:
    """This process's holder string (``None`` where its start time cannot be known)."""
    return _identity(os.getpid())


def holder_pid(holder: str) -> int | None:
    """The pid a holder names, for display; ``None`` if it names none."""
    head = holder.split(":", 1)[0].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def holder_alive(holder: str) -> bool:
    """True while the process ``holder`` names runs, and is the same process.

    Never raises: a holder it cannot read counts as alive, so its lease ends with its TTL and is
    never granted twice. A holder of an older version (``PID-RANDOM``, a flock file) is alive
    while its pid exists.
    """
    if holder == own_holder():
        return True
    parts = holder.split(":")
    if len(parts) != 3:
        pid = holder_pid(holder)
        return pid is None or is_live(pid, None)
    pid_text, start_text, boot = parts
    if not pid_text.isdigit():
        return True
    if boot != _UNKNOWN and _boot() != _UNKNOWN and boot != _boot():
        return False
    try:
        start: int | float | None = None if start_text == _UNKNOWN else _parse_start(start_text)
    except ValueError:
        return True
    try:
        return is_live(int(pid_text), start)
    except OSError:
        return True


def _parse_start(text: str) -> int | float:
    return int(text) if text.isdigit() else float(text)
