"""The gateway as a feature of the supervisor: listens once the workspace is trusted, keeps one
hub per server in step with the configuration, and says where it serves (``gateway.json``).

uvicorn (with httptools) runs our ASGI app inside the supervisor's event loop, on a socket we
bind ourselves so port 0 is known at once; it never touches signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from mcp_marshal.config.models import Config, ServerSpec
from mcp_marshal.events import Event, EventBus, GatewayServing, ServerStateChanged, ServiceDegraded
from mcp_marshal.gateway import discovery
from mcp_marshal.gateway.backend import SupervisedBackend
from mcp_marshal.gateway.http import GatewayApp
from mcp_marshal.gateway.hub import Hub
from mcp_marshal.gateway.marshal import NAME, MarshalServer
from mcp_marshal.gateway.private import PrivatePool
from mcp_marshal.gateway.remote import RemoteRelay
from mcp_marshal.gateway.security import allowed_hosts
from mcp_marshal.locks import LeaseService
from mcp_marshal.paths import StateUnavailable
from mcp_marshal.redact import Redactor
from mcp_marshal.supervise.orchestrator import Orchestrator

log = logging.getLogger(__name__)
#: What our handshake declares, so a server may use it: the gateway routes each to an agent.
OFFERS: dict[str, Any] = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}


def _kind(spec: ServerSpec) -> type[Hub | PrivatePool | RemoteRelay] | None:
    if spec.spawned:
        return Hub if spec.shared else PrivatePool
    return RemoteRelay if spec.type == "http" else None  # legacy SSE servers are not relayed


class _Uvicorn:
    """uvicorn's ``Server`` without its signal handling (the shell owns signals)."""

    def __init__(self, app: GatewayApp, sock: socket.socket) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, http="httptools", lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=1
        )

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                yield

        self.server = Server(config)
        self._sock = sock

    async def serve(self) -> None:
        await self.server.serve(sockets=[self._sock])

    def stop(self) -> None:
        self.server.should_exit = True


class Gateway:
    """``orchestrator()``: the running orchestrator (None until the servers run)."""

    def __init__(
        self,
        bus: EventBus,
        orchestrator: Callable[[], Orchestrator | None],
        *,
        redactor: Redactor,
        leases: Callable[[], Awaitable[LeaseService]],
    ) -> None:
        self._bus = bus
        self._redactor = redactor
        self._marshal = MarshalServer(orchestrator, leases)
        self._orchestrator = orchestrator
        self._config: Config | None = None
        self._hubs: dict[str, Hub | PrivatePool | RemoteRelay] = {}
        self._app: GatewayApp | None = None
        self._uvicorn: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self.url: str | None = None
        self.token: str | None = None
        """The bearer token agents need, while serving (never in an event or a log)."""
        self._announced: tuple[str | None, tuple[str, ...]] = (None, ())
        self.publish: Callable[[str, list[str]], None] = lambda url, servers: None
        """Told the base URL and server names whenever they change (the supervisor's claim)."""
        self._unsubscribe = bus.subscribe(self._on_event)

    @property
    def offers(self) -> dict[str, Any]:
        return OFFERS if self._config is None or self._config.gateway.enabled else {}

    async def configure(self, config: Config, *, trusted: bool) -> None:
        self._config = config
        if not trusted or not config.gateway.enabled:
            await self._stop_serving()
            return
        if self._uvicorn is None:
            try:
                await self._start(config)
            except (StateUnavailable, OSError) as exc:
                self._bus.publish(ServiceDegraded("gateway", str(exc)))
                return
        await self._sync(config)

    async def _start(self, config: Config) -> None:
        settings = config.gateway
        token = discovery.token(config.file)
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it an
        # answer's body (sent after its headers) waited ~40 ms for the agent's delayed ACK (Nagle)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from exc
        sock.listen(128)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        self._app = GatewayApp(token=token, hub=self._served, names=self._names, clean=self._redactor.redact_answer)
        self._app.allowed = allowed_hosts(settings.host, port)
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        self.url = f"http://{host}:{port}"
        self.token = token
        self._uvicorn = _Uvicorn(self._app, sock)
        self._task = asyncio.create_task(self._uvicorn.serve(), name="gateway-http")

    async def _sync(self, config: Config) -> None:
        """One relay per server, following the configuration: a hub for a shared stdio server,
        a pool of private copies for an unshared one, a passthrough for a remote http one."""
        wanted = {n: _kind(spec) for n, spec in config.servers.items() if _kind(spec) is not None and n != NAME}
        for name, hub in list(self._hubs.items()):
            if wanted.get(name) is not type(hub):
                await self._hubs.pop(name).close()
        for name in sorted(set(wanted) - set(self._hubs)):
            kind = wanted[name]
            if kind is Hub:
                backend = SupervisedBackend(name, self._bus, self._orchestrator, self._roots, self._timeout(name))
                self._hubs[name] = Hub(backend)
            elif kind is PrivatePool:
                self._hubs[name] = PrivatePool(name, self._orchestrator, self._roots, self._timeout(name))
            else:
                self._hubs[name] = RemoteRelay(name, self._live_spec(name), self._redactor)
        if self.url is not None:
            names = sorted(self._hubs)
            self.publish(self.url, names)
            self._announce(GatewayServing(self.url, tuple(names)))

    def _announce(self, serving: GatewayServing) -> None:
        """Publish what is served when it changed (a reload that changes no server says nothing)."""
        if (serving.url, serving.servers) != self._announced:
            self._announced = (serving.url, serving.servers)
            self._bus.publish(serving)

    def endpoints(self) -> dict[str, str]:
        """Every served server's endpoint (``marshal`` included), while serving."""
        if self.url is None:
            return {}
        return {name: f"{self.url}/mcp/{name}" for name in self._names()}

    def _served(self, name: str) -> Hub | PrivatePool | RemoteRelay | MarshalServer | None:
        return self._marshal if name == NAME else self._hubs.get(name)

    def _names(self) -> list[str]:
        return [*sorted(self._hubs), NAME]

    def _live_spec(self, name: str) -> Callable[[], ServerSpec | None]:
        def live() -> ServerSpec | None:
            orchestrator = self._orchestrator()
            if orchestrator is None or name not in orchestrator.config.servers:
                return None
            return orchestrator.runner(name).live_spec

        return live

    def _timeout(self, name: str) -> Callable[[], int]:
        def start_timeout_ms() -> int:
            spec = self._config.servers.get(name) if self._config is not None else None
            return spec.health.start_timeout_ms if spec is not None else 30000

        return start_timeout_ms

    def _roots(self) -> list[dict[str, str]]:
        folders = self._config.folders if self._config is not None else ()
        return [{"uri": folder.path.as_uri(), "name": folder.name} for folder in folders]

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ServerStateChanged) and event.state == "ready":
            hub = self._hubs.get(event.name)
            if isinstance(hub, Hub):
                hub.backend_ready()

    async def _stop_serving(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.stop()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        self._uvicorn = self._task = self._app = None
        if self.url is not None:
            self._announce(GatewayServing(None, ()))
        self.url = None
        self.token = None
        hubs, self._hubs = self._hubs, {}
        await asyncio.gather(*(hub.close() for hub in hubs.values()), self._marshal.close(), return_exceptions=True)

    async def close(self) -> None:
        self._unsubscribe()
        await self._stop_serving()
