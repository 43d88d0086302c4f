"""Live rows in a window that follows another supervisor (a second window, an ``mcp-marshal up``).

That window starts no server of its own, so no event of its own says when the owner's servers
change. It asks the owner (its ``list_servers`` marshal tool) every ``MIRROR_INTERVAL_S`` and
sends ``mcpMarshal/serverStateChanged`` for each server whose state, pid or restarts changed, and
``mcpMarshal/serverRemoved`` for one that is gone: the same notifications the views already
follow, so they stay live without knowing who supervises.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mcp_marshal.errors import NotNow
from mcp_marshal.gateway.attach import owner_servers
from mcp_marshal.wire import (
    SERVER_REMOVED,
    SERVER_STATE_CHANGED,
    ServerRemovedParams,
    ServerSnapshot,
    ServerStateChangedParams,
)

if TYPE_CHECKING:
    from mcp_marshal.supervisor import Supervisor

MIRROR_INTERVAL_S = 1.0
"""How often the owner is asked: about as often as the takeover check runs."""

Notify = Callable[[str, object], None]


def _key(s: ServerSnapshot) -> tuple[str, int | None, int, bool]:
    return (s.state, s.pid, s.restarts, s.needs_approval)


def changes(
    before: dict[str, ServerSnapshot], after: list[ServerSnapshot]
) -> tuple[list[tuple[ServerSnapshot | None, ServerSnapshot]], list[str]]:
    """What to announce between two listings: (previous, current) pairs that differ, and names gone."""
    now = {s.name: s for s in after}
    changed = [(before.get(s.name), s) for s in after if s.name not in before or _key(before[s.name]) != _key(s)]
    return changed, [name for name in before if name not in now]


async def mirror(supervisor: Supervisor, notify: Notify) -> None:
    """Follow the owner's servers while ``supervisor`` follows one; returns once it supervises."""
    seen = {s.name: s for s in supervisor.snapshots()}
    while supervisor.elsewhere is not None:
        try:
            current = await owner_servers(supervisor.elsewhere, supervisor.file)
        except (NotNow, OSError):  # its gateway is not serving (yet), or went away: ask again
            current = None
        if current is not None and supervisor.elsewhere is not None:
            changed, gone = changes(seen, current)
            for previous, snapshot in changed:
                params = ServerStateChangedParams(
                    ts=time.time(),
                    name=snapshot.name,
                    state=snapshot.state,
                    previous=previous.state if previous is not None else "stopped",
                    pid=snapshot.pid,
                    restarts=snapshot.restarts,
                    detail=snapshot.last_error,
                    server=snapshot,
                )
                notify(SERVER_STATE_CHANGED, params.to_dict())
            for name in gone:
                notify(SERVER_REMOVED, ServerRemovedParams(name=name).to_dict())
            seen = {s.name: s for s in current}
        await asyncio.sleep(MIRROR_INTERVAL_S)  # the owner has no push channel to us: ask again
