"""One supervised server shared by many agent sessions: the relay between agents' JSON-RPC and
the one backend session we opened with the server (our handshake, our process).

Agents' requests go to the backend under ids of ours and their answers come back under the
agent's id; progress tokens are renamed the same way; ``notifications/cancelled`` follows the
rename. What the backend sends unasked is routed: progress to the request it belongs to,
``resources/updated`` to the subscribed sessions, ``list_changed`` to everyone, a sampling or
elicitation request to a session whose request is in flight and that offers the capability,
``roots/list`` answered here from the workspace folders. Messages pass as JSON: fields we do
not know (``_meta`` included) survive untouched.

A request that arrives while the server is starting or in backoff waits for it to be ready
(bounded by ``startTimeoutMs``); one in flight when the backend dies is answered with an error
at once; after a restart every session hears ``list_changed`` and subscriptions are replayed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mcp_marshal.gateway.routing import Renames, Subscriptions, id_key
from mcp_marshal.supervise.mcp_stdio import ConnectionClosed, Handshake, McpStdio

log = logging.getLogger(__name__)

KNOWN_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
#: MCP log levels, most verbose first (RFC 5424 severities).
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
UNAVAILABLE = -32603
#: Server → client requests routed to the agent whose capability they need.
NEEDS = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation"}
LIST_CHANGED = {
    "tools": "notifications/tools/list_changed",
    "prompts": "notifications/prompts/list_changed",
    "resources": "notifications/resources/list_changed",
}

Message = dict[str, Any]


class GatewayError(Exception):
    """A request the gateway cannot pass on (the server is failed, stopped, not ready in time);
    the message is for the agent's user and names why."""


def error_response(req_id: Any, message: str, code: int = UNAVAILABLE, data: Any = None) -> Message:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}


class Outbox:
    """The messages of one HTTP response stream to an agent (a request's SSE stream, or the
    session's GET stream), in order; ``end()`` closes it."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.ended = False

    def put(self, msg: Message) -> None:
        if not self.ended:
            self._queue.put_nowait(msg)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._queue.put_nowait(None)

    async def next(self) -> Message | None:
        """The next message, or None once the stream has ended."""
        return await self._queue.get()


@dataclass(eq=False)
class AgentSession:
    """One agent's session with one server through the gateway (``Mcp-Session-Id``)."""

    id: str
    server: str
    client_info: dict[str, Any]
    capabilities: dict[str, Any]
    protocol_version: str
    listener: Outbox | None = None
    """The GET stream, while the agent keeps one open."""
    inflight: dict[Hashable, InFlight] = field(default_factory=dict)
    """The agent's requests waiting for the backend, by (typed) request id."""
    log_level: str | None = None
    """What ``logging/setLevel`` asked for: log messages below it are not sent to this agent."""
    closed: bool = False

    def wants_log(self, level: Any) -> bool:
        if self.log_level is None or level not in LEVELS:
            return True
        return LEVELS.index(level) >= LEVELS.index(self.log_level)

    def offers(self, capability: str) -> bool:
        return isinstance(self.capabilities.get(capability), dict)

    def deliver(self, msg: Message) -> bool:
        """Send ``msg`` on the newest request stream still open, else the GET stream."""
        for flight in reversed(self.inflight.values()):
            if not flight.outbox.ended:
                flight.outbox.put(msg)
                return True
        if self.listener is not None and not self.listener.ended:
            self.listener.put(msg)
            return True
        return False


@dataclass(eq=False)
class InFlight:
    session: AgentSession
    agent_id: Any
    outbox: Outbox
    backend_id: int | None = None
    token: str | None = None
    """Our name for the request's progress token."""


class Backend(Protocol):
    """The supervised server behind a hub (the orchestrator's runner for it)."""

    name: str

    async def connection(self) -> tuple[McpStdio, Handshake]:
        """The connection of the ready server, waiting (bounded) while it starts or backs off;
        ``GatewayError`` saying why when it cannot be had."""
        ...

    def roots(self) -> list[dict[str, str]]:
        """The workspace folders as MCP roots."""
        ...


class Hub:
    """Relays one server to its agent sessions. Methods run on the event loop."""

    def __init__(self, backend: Backend, *, session_id: Callable[[], str] = lambda: secrets.token_urlsafe(24)) -> None:
        self.backend = backend
        self.sessions: dict[str, AgentSession] = {}
        self._session_id = session_id
        self._tokens: Renames[InFlight] = Renames("mm-progress-")
        self._server_requests: Renames[Any] = Renames("mm-request-")
        """Our ids for the backend's requests to an agent → (the agent's session, the backend's id)."""
        self._subscriptions: Subscriptions[AgentSession] = Subscriptions()
        self._backend_ids: dict[int, InFlight] = {}
        self._conn: McpStdio | None = None
        self._capabilities: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._backend_level: str | None = None
        """The log level the backend was told: the most verbose any session asked for."""

    @property
    def name(self) -> str:
        return self.backend.name

    # --- the backend's lives -----------------------------------------------------------------

    def backend_ready(self) -> None:
        """The server (re)started and is ready: take its connection now, so sessions hear of a
        restart at once rather than at their next request."""
        self._spawn(self._attach_quietly())

    async def _attach_quietly(self) -> None:
        try:
            await self._attach()
        except GatewayError:
            pass  # it went away again; the next request will say why

    async def _attach(self) -> tuple[McpStdio, Handshake]:
        conn, hs = await self.backend.connection()
        if conn is not self._conn:
            restarted = self._conn is not None
            self._conn = conn
            self._capabilities = hs.capabilities
            conn.on_message = self._from_backend
            if restarted:
                await self._after_restart(conn, hs)
        return conn, hs

    async def _after_restart(self, conn: McpStdio, hs: Handshake) -> None:
        """A new backend life: replay the log level and subscriptions, and tell everyone its
        lists may differ."""
        if self._backend_level is not None:
            level = {"jsonrpc": "2.0", "method": "logging/setLevel", "params": {"level": self._backend_level}}
            try:
                _, answer = await conn.relay(level)
                self._spawn(_ignore(answer))
            except ConnectionClosed:
                return
        for uri in self._subscriptions.uris():
            try:
                _, answer = await conn.relay(
                    {"jsonrpc": "2.0", "method": "resources/subscribe", "params": {"uri": uri}}
                )
                self._spawn(_ignore(answer))
            except ConnectionClosed:
                return
        for capability, method in LIST_CHANGED.items():
            if capability == "tools" or capability in hs.capabilities:
                self._broadcast({"jsonrpc": "2.0", "method": method})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- sessions ----------------------------------------------------------------------------

    async def open_session(self, request: Message) -> tuple[AgentSession, Message]:
        """An agent's ``initialize``: a new session, answered from the backend's own handshake."""
        _, hs = await self._attach()
        params = request.get("params") if isinstance(request.get("params"), dict) else {}
        wanted = params.get("protocolVersion")
        version = (
            wanted if wanted in KNOWN_VERSIONS and wanted <= (hs.protocol_version or wanted) else hs.protocol_version
        )
        session = AgentSession(
            id=self._session_id(),
            server=self.name,
            client_info=params.get("clientInfo") if isinstance(params.get("clientInfo"), dict) else {},
            capabilities=params.get("capabilities") if isinstance(params.get("capabilities"), dict) else {},
            protocol_version=version,
        )
        self.sessions[session.id] = session
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": hs.capabilities,
            "serverInfo": hs.server_info,
        }
        if hs.instructions:
            result["instructions"] = hs.instructions
        return session, {"jsonrpc": "2.0", "id": request.get("id"), "result": result}

    def close_session(self, session: AgentSession) -> None:
        """The agent is gone: cancel what it still waits for, drop what only it subscribed to."""
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        for flight in list(session.inflight.values()):
            self._cancel(flight, "the session ended")
        for uri in self._subscriptions.leave(session):
            self._to_backend({"jsonrpc": "2.0", "method": "resources/unsubscribe", "params": {"uri": uri}})
        self._server_requests.drop_owner(session)
        if session.listener is not None:
            session.listener.end()

    # --- from an agent -----------------------------------------------------------------------

    async def handle(self, session: AgentSession, msg: Message) -> Outbox | None:
        """One message an agent POSTed: the outbox of its answer for a request, else None."""
        method = msg.get("method")
        if method is None:  # an answer to a request the backend made of this agent
            self._agent_answered(session, msg)
            return None
        if "id" not in msg:
            self._agent_notified(session, msg)
            return None
        outbox = Outbox()
        flight_id = msg["id"]
        if method == "ping":
            outbox.put({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
            outbox.end()
            return outbox
        if method in ("resources/subscribe", "resources/unsubscribe") and self._answered_here(session, msg, outbox):
            return outbox
        if method == "logging/setLevel":
            msg = self._set_level(session, msg)
            if msg is None:
                outbox.put({"jsonrpc": "2.0", "id": flight_id, "result": {}})
                outbox.end()
                return outbox
        flight = InFlight(session, msg["id"], outbox)
        session.inflight[id_key(msg["id"])] = flight
        try:
            await self._forward(flight, msg)
        except GatewayError as exc:
            self._finish(flight, error_response(msg["id"], str(exc)))
        return outbox

    def _answered_here(self, session: AgentSession, msg: Message, outbox: Outbox) -> bool:
        """Subscriptions are counted: only the first subscribe and the last unsubscribe of a URI
        reach the backend; the others are answered here."""
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        uri = params.get("uri")
        if not isinstance(uri, str):
            return False
        if msg["method"] == "resources/subscribe":
            needed = self._subscriptions.subscribe(session, uri)
        else:
            needed = self._subscriptions.unsubscribe(session, uri)
        if needed:
            return False
        outbox.put({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
        outbox.end()
        return True

    def _set_level(self, session: AgentSession, msg: Message) -> Message | None:
        """Each session keeps its own level; the backend gets the most verbose of them, and only
        when that changes (None: answered here)."""
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        level = params.get("level")
        if level not in LEVELS:
            return msg  # let the server say what is wrong with it
        session.log_level = level
        most = min((s.log_level for s in self.sessions.values() if s.log_level), key=LEVELS.index, default=level)
        if most == self._backend_level:
            return None
        self._backend_level = most
        return {**msg, "params": {**params, "level": most}}

    async def _forward(self, flight: InFlight, msg: Message) -> None:
        conn, _ = await self._attach()
        out = dict(msg)
        params = msg.get("params")
        if isinstance(params, dict) and isinstance(params.get("_meta"), dict) and "progressToken" in params["_meta"]:
            flight.token = self._tokens.rename(flight, params["_meta"]["progressToken"])
            out["params"] = {**params, "_meta": {**params["_meta"], "progressToken": flight.token}}
        try:
            backend_id, answer = await conn.relay(out)
        except ConnectionClosed as exc:
            raise GatewayError(f"{self.name} is restarting; try again ({exc})") from None
        flight.backend_id = backend_id
        self._backend_ids[backend_id] = flight
        answer.add_done_callback(lambda done: self._answered(flight, done))

    def _answered(self, flight: InFlight, done: asyncio.Future[Message]) -> None:
        if flight.backend_id is not None:
            self._backend_ids.pop(flight.backend_id, None)
        if done.cancelled():
            return
        exc = done.exception()
        if exc is not None:  # the backend died with the request in flight: say so at once
            reason = f"{self.name} stopped while handling this request; it is being restarted"
            self._finish(flight, error_response(flight.agent_id, reason, data={"server": self.name}))
            return
        self._finish(flight, {**done.result(), "id": flight.agent_id})

    def _finish(self, flight: InFlight, response: Message) -> None:
        flight.session.inflight.pop(id_key(flight.agent_id), None)
        if flight.token is not None:
            self._tokens.drop(flight.token)
        flight.outbox.put(response)
        flight.outbox.end()

    def cancel(self, session: AgentSession, agent_id: Any) -> None:
        """The agent stopped waiting for a request (its connection went away)."""
        flight = session.inflight.get(id_key(agent_id))
        if flight is not None:
            self._cancel(flight, "the client went away")

    def _cancel(self, flight: InFlight, reason: str) -> None:
        """Tell the backend the request no longer matters and stop waiting for it."""
        flight.session.inflight.pop(id_key(flight.agent_id), None)
        if flight.token is not None:
            self._tokens.drop(flight.token)
        if flight.backend_id is not None:
            self._backend_ids.pop(flight.backend_id, None)
            conn = self._conn
            if conn is not None:
                conn.forget(flight.backend_id)
                params = {"requestId": flight.backend_id, "reason": reason}
                self._to_backend({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params})
        flight.outbox.end()

    def _agent_notified(self, session: AgentSession, msg: Message) -> None:
        method = msg.get("method")
        if method in ("notifications/initialized", "notifications/roots/list_changed"):
            return  # we did the backend's handshake; the roots are ours
        if method == "notifications/cancelled":
            params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
            flight = session.inflight.get(id_key(params.get("requestId")))
            if flight is not None:
                self._cancel(flight, str(params.get("reason") or "cancelled by the client"))
            return
        self._to_backend(msg)

    def _agent_answered(self, session: AgentSession, msg: Message) -> None:
        found = self._server_requests.lookup(msg.get("id"))
        if found is None or found[0] is not session:
            return  # not a request of ours to this session (late, or forged)
        self._server_requests.drop(msg.get("id"))
        self._to_backend({**msg, "id": found[1]})

    def _to_backend(self, msg: Message) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            return
        self._spawn(_send(conn, msg))

    # --- from the backend --------------------------------------------------------------------

    def _from_backend(self, msg: Message) -> None:
        """What the backend sends unasked (called from its read loop: never blocks)."""
        method = msg.get("method")
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if "id" in msg:
            self._backend_asks(msg, method, params)
        elif method == "notifications/progress":
            found = self._tokens.lookup(params.get("progressToken"))
            if found is not None:
                flight, token = found
                flight.outbox.put({**msg, "params": {**params, "progressToken": token}})
        elif method == "notifications/resources/updated":
            for session in self._subscriptions.subscribers(str(params.get("uri"))):
                session.deliver(msg)
        elif method == "notifications/cancelled":
            found = self._server_requests.lookup(params.get("requestId"))
            if found is not None:
                session, _ = found
                session.deliver(msg)
        elif method == "notifications/message":
            flights = list(self._backend_ids.values())
            if len(flights) == 1:  # a log line of the one request in flight
                if flights[0].session.wants_log(params.get("level")):
                    flights[0].outbox.put(msg)
                return
            for session in list(self.sessions.values()):
                if session.wants_log(params.get("level")):
                    session.deliver(msg)
        else:
            self._broadcast(msg)

    def _backend_asks(self, msg: Message, method: Any, params: dict[str, Any]) -> None:
        if method == "roots/list":
            self._reply(msg["id"], {"roots": self.backend.roots()})
            return
        need = NEEDS.get(method) if isinstance(method, str) else None
        flights = list(self._backend_ids.values())
        target = next(
            (f for f in reversed(flights) if not f.session.closed and (need is None or f.session.offers(need))), None
        )
        if target is None:
            why = f"no client of {self.name} that can answer {method} is waiting for this server"
            self._to_backend(error_response(msg["id"], why, code=-32601))
            return
        ours = self._server_requests.rename(target.session, msg["id"])
        target.outbox.put({**msg, "id": ours})

    def _reply(self, req_id: Any, result: dict[str, Any]) -> None:
        self._to_backend({"jsonrpc": "2.0", "id": req_id, "result": result})

    def _broadcast(self, msg: Message) -> None:
        for session in list(self.sessions.values()):
            session.deliver(msg)

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            self.close_session(session)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _send(conn: McpStdio, msg: Message) -> None:
    try:
        await conn.send(msg)
    except ConnectionClosed:
        pass  # the backend is gone; its restart replays what matters


async def _ignore(answer: asyncio.Future[Message]) -> None:
    try:
        await answer
    except ConnectionClosed:
        pass
