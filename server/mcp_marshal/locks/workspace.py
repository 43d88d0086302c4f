"""The workspace's task leases as a feature of the supervisor: a ``LeaseService`` opened from
``mcpMarshal.locks`` and reopened when those settings change.

Leases taken here are bound to this process: when it dies they are free at once (sqlite). A
store that cannot be reached is not fatal: every call tries to open it again and fails with the
store's own message until it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_marshal.events import EventBus, ServiceDegraded
from mcp_marshal.locks import LockStoreUnavailable
from mcp_marshal.paths import StateUnavailable

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config, LocksSettings
    from mcp_marshal.locks import LeaseService

log = logging.getLogger(__name__)

#: Bound on closing the store at shutdown (a Redis call in flight may have to time out first).
CLOSE_TIMEOUT_S = 5.0


def opens_untrusted(settings: LocksSettings) -> bool:
    """Whether the store may be opened before the workspace is trusted.

    sqlite and memory stay in our own state directory; a Redis URL is a host the (untrusted)
    file names, so it is contacted only once the user trusts the file.
    """
    return settings.backend != "redis"


class WorkspaceLeases:
    """The lease service of one workspace; ``configure`` (re)opens it when the settings change."""

    def __init__(self, bus: EventBus, *, bind_pid: int | None = None) -> None:
        self._bus = bus
        self._bind_pid = bind_pid
        self._settings: LocksSettings | None = None
        self._file: Path | None = None
        self._service: LeaseService | None = None
        self._waiting_for: str | None = "the workspace file has no valid configuration yet"
        self._lock = asyncio.Lock()
        self._closed = False

    async def configure(self, config: Config, *, trusted: bool) -> None:
        """Use ``config.locks`` from now on; an unreachable store is logged, not raised."""
        settings, workspace_file = config.locks, config.file
        async with self._lock:
            if self._closed:
                return
            if not trusted and not opens_untrusted(settings):
                self._waiting_for = f"{workspace_file.name} is not trusted yet: trust it first"
                await self._close_service()
                self._settings = None
                return
            self._waiting_for = None
            if settings == self._settings and workspace_file == self._file:
                return
            await self._close_service()
            self._settings, self._file = settings, workspace_file
            try:
                await self._open()
            except LockStoreUnavailable as exc:  # said once; every lease call tries again
                self._bus.publish(ServiceDegraded("task leases", str(exc)))

    async def service(self) -> LeaseService:
        """The open service; raises ``LockStoreUnavailable`` saying why there is none."""
        async with self._lock:
            if self._service is not None:
                return self._service
            if self._closed:
                raise LockStoreUnavailable("the language server is shutting down")
            if self._waiting_for is not None or self._settings is None:
                raise LockStoreUnavailable(f"task leases are not available: {self._waiting_for}")
            return await self._open()

    async def _open(self) -> LeaseService:
        from mcp_marshal.locks import LeaseService, open_store

        assert self._settings is not None
        try:
            store = await asyncio.to_thread(open_store, self._settings, self._file)
        except StateUnavailable as exc:
            raise LockStoreUnavailable(str(exc)) from exc
        service = LeaseService(store, self._bus, default_ttl_ms=self._settings.default_ttl_ms)
        try:
            await service.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await service.aclose()
            raise
        self._service = service
        return service

    async def _close_service(self) -> None:
        service, self._service = self._service, None
        if service is None:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await service.aclose()
        except Exception as exc:  # never keeps the editor from shutting down
            log.warning("closing the lease store: %s", exc)

    async def close(self) -> None:
        """Stop watching and close the store: this window's bound leases become free."""
        async with self._lock:
            self._closed = True
            await self._close_service()
