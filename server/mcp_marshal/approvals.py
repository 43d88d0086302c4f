"""Trust per server: which launches the user approved, remembered per workspace file.

Trusting a workspace once is not consent to whatever a later ``git pull`` writes into it. Each
server's launch as the file writes it (``ServerSpec.written``: command, args, env, envFile,
cwd, url, headers, before variables) is approved on its own; a server whose launch changed
since, or that is new, is not spawned until the user approves it again, and is told what
changed. The first trust of a file approves everything it holds then.

Approvals live in ``approvals.json`` in the workspace's state directory: per server, one salted
SHA-256 digest per field (a value written into the file may be a secret: the digests are
salted with a random value of this file, so they cannot be looked up). Without a usable state
directory approvals are kept in memory, for this process only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mcp_marshal.config.models import Config, Launch
from mcp_marshal.paths import StateUnavailable, workspace_state_dir

FILE = "approvals.json"
NEW = "new"
#: Field names as users know them (the file's keys), in the order a listing shows them.
FIELDS: dict[str, str] = {
    "command": "command",
    "args": "args",
    "env": "env",
    "env_file": "envFile",
    "cwd": "cwd",
    "url": "url",
    "headers": "headers",
}
assert set(FIELDS) == {f.name for f in fields(Launch)}


def digests(launch: Launch, salt: str) -> dict[str, str]:
    """One salted digest per field, by the file's field names."""
    out: dict[str, str] = {}
    for key, value in launch.as_json().items():
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        out[key] = hashlib.sha256(f"{salt}\n{key}\n{text}".encode("ascii")).hexdigest()
    return out


def changed_fields(approved: Mapping[str, str] | None, current: Mapping[str, str]) -> tuple[str, ...]:
    """What changed between an approved launch and the current one: ``("new",)`` when none was
    approved, ``()`` when nothing changed, else the changed fields in listing order."""
    if approved is None:
        return (NEW,)
    return tuple(key for key in FIELDS.values() if approved.get(key) != current.get(key))


@dataclass(frozen=True)
class Pending:
    """A server that may not be spawned until the user approves its launch."""

    name: str
    changed: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.name} ({'new' if self.changed == (NEW,) else ', '.join(self.changed) + ' changed'})"


class Approvals:
    """The approvals of one workspace file (``StateUnavailable``-proof: see the module)."""

    def __init__(self, workspace_file: Path) -> None:
        self._workspace = workspace_file
        self._memory: dict[str, Any] | None = None
        self.degraded: str | None = None
        """Why approvals are not remembered across processes, if so."""

    @property
    def path(self) -> Path | None:
        try:
            return workspace_state_dir(self._workspace) / FILE
        except StateUnavailable as exc:
            self.degraded = str(exc)
            return None

    def _read(self) -> dict[str, Any]:
        if self._memory is not None:
            return self._memory
        path = self.path
        if path is None:
            self._memory = _empty()
            return self._memory
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return _empty()
        except (OSError, ValueError):  # unreadable or corrupt: nothing is approved, nothing lost
            return _empty()
        if not isinstance(data, dict) or not isinstance(data.get("servers"), dict) or not data.get("salt"):
            return _empty()
        return data  # pyright: ignore[reportUnknownVariableType]

    def any_recorded(self) -> bool:
        """Whether the user ever approved a server of this file (else the first trust approves all)."""
        return bool(self._read()["servers"])

    def pending(self, config: Config) -> dict[str, Pending]:
        """The servers of ``config`` whose current launch is not approved, by name."""
        data = self._read()
        salt, approved = str(data["salt"]), data["servers"]
        out: dict[str, Pending] = {}
        for name, spec in config.servers.items():
            entry = approved.get(name)
            known = entry.get("fields") if isinstance(entry, dict) else None
            changed = changed_fields(known if isinstance(known, dict) else None, digests(spec.written, salt))  # pyright: ignore[reportUnknownArgumentType]
            if changed:
                out[name] = Pending(name, changed)
        return out

    def approve(self, config: Config, names: Iterable[str]) -> list[str]:
        """Approve the current launch of each of ``names`` (servers of ``config``); returns them."""
        wanted = [n for n in dict.fromkeys(names) if n in config.servers]
        if not wanted:
            return []
        with self._locked() as data:
            salt = str(data["salt"])
            for name in wanted:
                data["servers"][name] = {"fields": digests(config.servers[name].written, salt), "at": time.time()}
        return wanted

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read, change and write the file under a lock (two processes approving at once)."""
        path = self.path
        if path is None or self._memory is not None:
            data = self._memory = self._memory or _empty()
            yield data
            return
        try:
            fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # a state directory that stopped being writable
            self.degraded = f"cannot record approvals in {path.parent}: {exc.strerror or exc}"
            data = self._memory = self._read()
            yield data
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            yield data
            tmp = path.with_name(f".{FILE}.{os.getpid()}.tmp")
            tmp_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(tmp_fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        finally:
            os.close(fd)


def _empty() -> dict[str, Any]:
    return {"v": 1, "salt": secrets.token_hex(16), "servers": {}}
