"""How agents and a second supervisor find the running one, in the workspace's state directory:

* ``supervisor.lock``: an exclusive ``flock`` held by the one process that supervises this
  workspace file, for as long as it does (the kernel drops it the moment that process dies, so
  a ``kill -9`` never leaves a stale claim);
* ``gateway.json``: who that is and where it serves (pid, url, server names; no secret);
* ``gateway.token``: the bearer token (256 random bits, mode 0600), kept across runs so agents'
  connections survive a restart of the supervisor.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_marshal.errors import UserError
from mcp_marshal.paths import workspace_state_dir

LOCK = "supervisor.lock"
INFO = "gateway.json"
TOKEN = "gateway.token"


class AlreadySupervised(UserError):
    """Another process supervises this workspace file; ``owner`` says who (from gateway.json)."""

    code = "already-supervised"

    def __init__(self, file: Path, owner: dict[str, Any]) -> None:
        pid = owner.get("pid", "?")
        kind = owner.get("kind", "a supervisor")
        where = f", serving {owner['url']}" if owner.get("url") else ""
        super().__init__(f"{file.name} is already supervised by {kind} (pid {pid}){where}")
        self.owner = owner


@dataclass
class Claim:
    """This process supervises the workspace file until :meth:`release`."""

    directory: Path
    fd: int
    kind: str

    def publish(self, url: str | None, servers: list[str]) -> None:
        """Write ``gateway.json`` (atomically) for agents and other supervisors to read."""
        info = {"pid": os.getpid(), "kind": self.kind, "url": url, "servers": servers, "since": time.time()}
        tmp = self.directory / f".{INFO}.tmp"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.directory / INFO)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            (self.directory / INFO).unlink()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def claim(workspace_file: Path, kind: str) -> Claim:
    """Become the supervisor of ``workspace_file``, or ``AlreadySupervised`` naming the one that
    is; ``StateUnavailable`` when the state directory cannot be used (no coordination then)."""
    directory = workspace_state_dir(workspace_file)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadySupervised(workspace_file, read_info(workspace_file) or {}) from None
    claimed = Claim(directory, fd, kind)
    claimed.publish(None, [])  # a stale gateway.json of a dead owner is replaced at once
    return claimed


def read_info(workspace_file: Path) -> dict[str, Any] | None:
    """What the supervisor published, or None (nothing readable). It may be stale: see ``running``."""
    try:
        info = json.loads((workspace_state_dir(workspace_file) / INFO).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def running(workspace_file: Path) -> dict[str, Any] | None:
    """What the running supervisor published, only while one runs (its lock is held)."""
    try:
        fd = os.open(workspace_state_dir(workspace_file) / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_info(workspace_file)  # held: its owner lives
    finally:
        os.close(fd)
    return None


def token(workspace_file: Path) -> str:
    """The workspace's gateway token, created (0600) on first use."""
    path = workspace_state_dir(workspace_file) / TOKEN
    try:
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(32)
    fd = os.open(path.with_name(f".{TOKEN}.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    os.replace(path.with_name(f".{TOKEN}.tmp"), path)
    return value
