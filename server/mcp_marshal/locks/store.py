"""Choosing and opening a lease store from ``mcpMarshal.locks`` settings."""

from __future__ import annotations

import time
from pathlib import Path

from mcp_marshal.config.models import LocksSettings
from mcp_marshal.locks.lease import Clock, LeaseStore, LockStoreUnavailable
from mcp_marshal.paths import STATE_ENV

DB_NAME = "locks.sqlite3"


def default_db_path(workspace_file: Path) -> Path:
    """The workspace's lease database in the user state directory (DESIGN §8).

    Raises ``LockStoreUnavailable`` when that directory cannot be created (read-only, or a file
    in the way): for the user it is a store that cannot be reached, like a Redis that is down.
    """
    from mcp_marshal.paths import workspace_state_dir

    try:
        return workspace_state_dir(workspace_file) / DB_NAME
    except OSError as exc:
        where = exc.filename or "the state directory"
        raise LockStoreUnavailable(
            f"cannot create the lease database's directory {where}: {exc.strerror or exc}"
            f" (the state directory is set by ${STATE_ENV})"
        ) from exc


def open_store(
    settings: LocksSettings,
    workspace_file: Path | None,
    *,
    db_path: Path | None = None,
    clock: Clock | None = None,
) -> LeaseStore:
    """Open the backend ``settings`` name.

    sqlite: ``db_path`` if given, else the workspace's state directory (a workspace file is
    then required). redis: ``settings.redis_url`` with the server's clock unless ``clock`` is
    given. Raises ``LockStoreUnavailable`` with a message a user can act on.
    """
    if settings.backend == "memory":
        from mcp_marshal.locks.memory_store import MemoryStore

        return MemoryStore(clock=clock or time.time)
    if settings.backend == "redis":
        if not settings.redis_url:
            raise LockStoreUnavailable('backend "redis" needs mcpMarshal.locks.redisUrl (or --redis URL)')
        from mcp_marshal.locks.redis_store import RedisStore

        return RedisStore(settings.redis_url, clock=clock)
    from mcp_marshal.locks.sqlite_store import SqliteStore

    if db_path is None:
        if workspace_file is None:
            raise LockStoreUnavailable("the sqlite backend needs a workspace file or a database path")
        db_path = default_db_path(workspace_file)
    return SqliteStore(db_path, clock=clock or time.time)
