"""Process liveness through ``flock``: the kernel drops the lock the moment a process dies.

A holder keeps an exclusive ``flock`` on its own file for as long as it lives. Anyone can test
it with a non-blocking ``flock``: success means nobody holds the file, so the holder is dead.
The fd is close-on-exec, so commands started with ``exec`` never keep a dead holder alive; a
plain ``fork`` without exec does share it (don't fork a process that holds leases).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from pathlib import Path


class Holder:
    """This process's liveness handle in ``directory``; created lazily by the sqlite store."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.id = f"{os.getpid()}-{uuid.uuid4().hex[:16]}"
        self._path = directory / self.id
        self._fd: int | None = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    @property
    def alive(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        """Give up liveness (as if the process had died): leases bound to it become reclaimable."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        os.close(self._fd)
        self._fd = None


def holder_alive(directory: Path, holder: str) -> bool:
    """True while the process owning ``holder`` lives; removes the file of a dead one."""
    path = directory / holder
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return False
    finally:
        os.close(fd)
