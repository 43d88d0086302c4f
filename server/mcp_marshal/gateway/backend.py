"""The gateway's view of a supervised server: its connection once ready, waiting (bounded by
``startTimeoutMs``) while it starts or backs off, and why not when it cannot be had."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mcp_marshal.errors import UserError
from mcp_marshal.events import Event, EventBus, ServerStateChanged
from mcp_marshal.gateway.hub import GatewayError
from mcp_marshal.supervise.mcp_stdio import Handshake, McpStdio
from mcp_marshal.supervise.orchestrator import Orchestrator
from mcp_marshal.supervise.runner import ServerRunner
from mcp_marshal.supervise.states import ServerState

S = ServerState
#: States from which no start is on its way: waiting would only time out.
_SETTLED_DOWN = (S.FAILED, S.STOPPED, S.BLOCKED)


class SupervisedBackend:
    """``orchestrator()``: the running orchestrator, or None until the servers run (requests
    wait for it, like for a starting server, up to ``startTimeoutMs``)."""

    def __init__(
        self,
        name: str,
        bus: EventBus,
        orchestrator: Callable[[], Orchestrator | None],
        folders: Callable[[], list[dict[str, str]]],
        start_timeout_ms: Callable[[], int],
    ) -> None:
        self.name = name
        self._bus = bus
        self._orchestrator = orchestrator
        self._folders = folders
        self._start_timeout_ms = start_timeout_ms

    def roots(self) -> list[dict[str, str]]:
        return self._folders()

    async def connection(self) -> tuple[McpStdio, Handshake]:
        changed = asyncio.Event()

        def on_event(event: Event) -> None:
            if isinstance(event, ServerStateChanged) and event.name == self.name:
                changed.set()

        unsubscribe = self._bus.subscribe(on_event)
        try:
            timeout_ms = self._start_timeout_ms()
            try:
                async with asyncio.timeout(timeout_ms / 1000):
                    while True:
                        runner = self._runner()
                        if runner is None:  # the servers are about to start (the gateway listens first)
                            changed.clear()
                            await changed.wait()
                            continue
                        conn = runner.connection
                        if conn is not None and runner.handshake is not None and not conn.closed:
                            return conn, runner.handshake
                        if runner.state in _SETTLED_DOWN and not self._starting(runner.name):
                            why = f": {runner.last_error}" if runner.last_error else ""
                            raise GatewayError(f"{self.name} is {runner.state.value}{why}")
                        changed.clear()
                        await changed.wait()
            except TimeoutError:
                runner = self._runner()
                state = runner.state.value if runner is not None else "not started"
                raise GatewayError(f"{self.name} was not ready within {timeout_ms} ms (it is {state})") from None
        finally:
            unsubscribe()

    def _runner(self) -> ServerRunner | None:
        """The runner behind this backend (None while the servers are not running yet)."""
        orchestrator = self._orchestrator()
        if orchestrator is None:
            return None
        try:
            return orchestrator.runner(self.name)
        except UserError as exc:
            raise GatewayError(str(exc)) from None

    def _starting(self, name: str) -> bool:
        orchestrator = self._orchestrator()
        return orchestrator is not None and orchestrator.is_waiting(name)


class InstanceBackend(SupervisedBackend):
    """A private copy of a ``shared: false`` server, for one agent session."""

    def __init__(
        self,
        runner: ServerRunner,
        bus: EventBus,
        folders: Callable[[], list[dict[str, str]]],
        start_timeout_ms: Callable[[], int],
    ) -> None:
        super().__init__(runner.name, bus, lambda: None, folders, start_timeout_ms)
        self.instance = runner

    def _runner(self) -> ServerRunner | None:
        return self.instance

    def _starting(self, name: str) -> bool:
        return False
