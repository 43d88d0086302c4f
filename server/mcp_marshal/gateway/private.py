"""``"shared": false``: each agent session of the server gets its own supervised process (for
servers that keep per-client state, a browser say), started when the session initializes (once
the server's dependencies are ready) and stopped when the session ends.

A ``PrivatePool`` looks like a ``Hub`` to the HTTP face: one hub (and one process) per session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mcp_marshal.errors import UserError
from mcp_marshal.events import EventBus
from mcp_marshal.gateway.backend import InstanceBackend
from mcp_marshal.gateway.hub import AgentSession, GatewayError, Hub, Message, Outbox
from mcp_marshal.supervise.orchestrator import Orchestrator
from mcp_marshal.supervise.runner import ServerRunner


class PrivatePool:
    def __init__(
        self,
        name: str,
        orchestrator: Callable[[], Orchestrator | None],
        folders: Callable[[], list[dict[str, str]]],
        start_timeout_ms: Callable[[], int],
    ) -> None:
        self.name = name
        self._orchestrator = orchestrator
        self._folders = folders
        self._start_timeout_ms = start_timeout_ms
        self._hubs: dict[str, tuple[Hub, ServerRunner, Orchestrator]] = {}
        self._ending: set[asyncio.Task[None]] = set()

    @property
    def sessions(self) -> dict[str, AgentSession]:
        return {sid: hub.sessions[sid] for sid, (hub, _, _) in self._hubs.items() if sid in hub.sessions}

    async def open_session(self, request: Message) -> tuple[AgentSession, Message]:
        orchestrator = self._orchestrator()
        if orchestrator is None:
            raise GatewayError(f"the servers are not running yet; {self.name} cannot start a copy for this session")
        bus = EventBus()  # a private copy's states are the session's business, not the views'
        try:
            runner = await orchestrator.start_instance(self.name, bus)
        except UserError as exc:
            raise GatewayError(str(exc)) from None
        hub = Hub(InstanceBackend(runner, bus, self._folders, self._start_timeout_ms))
        try:
            session, answer = await hub.open_session(request)
        except BaseException:
            await orchestrator.stop_instance(runner)
            raise
        self._hubs[session.id] = (hub, runner, orchestrator)
        return session, answer

    def _hub(self, session: AgentSession) -> Hub:
        return self._hubs[session.id][0]

    async def handle(self, session: AgentSession, msg: Message) -> Outbox | None:
        return await self._hub(session).handle(session, msg)

    def cancel(self, session: AgentSession, agent_id: Any) -> None:
        self._hub(session).cancel(session, agent_id)

    def close_session(self, session: AgentSession) -> None:
        """The session ended: its process goes with it."""
        entry = self._hubs.pop(session.id, None)
        if entry is None:
            return
        hub, runner, orchestrator = entry
        hub.close_session(session)
        task = asyncio.ensure_future(_end(hub, runner, orchestrator))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    def backend_ready(self) -> None:
        return None  # each copy's hub takes its own connection at the session's first request

    async def close(self) -> None:
        for hub, runner, orchestrator in list(self._hubs.values()):
            await _end(hub, runner, orchestrator)
        self._hubs.clear()
        await asyncio.gather(*self._ending, return_exceptions=True)


async def _end(hub: Hub, runner: ServerRunner, orchestrator: Orchestrator) -> None:
    await hub.close()
    await orchestrator.stop_instance(runner)
