"""The gateway's HTTP face: MCP Streamable HTTP (2025-11-25) as a raw ASGI application, run by
uvicorn with httptools (measured: ~0.1 ms added per call; the SDK's transport added 0.5–0.7 ms
and drops unknown envelope fields, see ``tests/conformance/README.md``).

``/mcp/<server>`` with ``Authorization: Bearer <token>``, or ``/<token>/mcp/<server>`` for
clients that cannot set headers. ``Host`` and ``Origin`` are checked first (DNS rebinding), then
the token, then the session. A request's answer is JSON when the backend's response is the first
thing that comes for it, else an SSE stream that ends with the response.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol

from mcp_marshal.gateway.hub import KNOWN_VERSIONS, AgentSession, GatewayError, Message, Outbox, error_response
from mcp_marshal.gateway.remote import RemoteRelay
from mcp_marshal.gateway.security import bearer, host_ok, origin_ok, token_ok

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024
VERSIONS = (*KNOWN_VERSIONS, "2026-07-28")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
_JSON = [(b"content-type", b"application/json")]


class Served(Protocol):
    """A server as the HTTP face serves it: a ``Hub`` (shared), or a ``PrivatePool``."""

    @property
    def sessions(self) -> Mapping[str, AgentSession]: ...
    async def open_session(self, request: Message) -> tuple[AgentSession, Message]: ...
    async def handle(self, session: AgentSession, msg: Message) -> Outbox | None: ...
    def cancel(self, session: AgentSession, agent_id: Any) -> None: ...
    def close_session(self, session: AgentSession) -> None: ...


class Reject(Exception):
    """An HTTP-level refusal: status, a JSON-RPC error body, extra headers."""

    def __init__(self, status: int, message: str, code: int = -32600, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or []


def _final(msg: Message) -> bool:
    return "method" not in msg and ("result" in msg or "error" in msg)


Encode = Callable[[Message], bytes]


def encoder(clean: Callable[[str], str] = lambda text: text) -> Encode:
    """Messages as the wire bytes, through ``clean`` (the workspace's known secrets, in their
    JSON-escaped spellings too: what a server echoes never reaches an agent)."""

    def encode(msg: Message) -> bytes:
        return clean(json.dumps(msg, separators=(",", ":"), ensure_ascii=False)).encode()

    return encode


_plain = encoder()


class GatewayApp:
    """The ASGI app. ``hub(name)`` finds a server's hub (None: no such server); ``allowed`` are
    the ``Host`` values we answer to (set once the port is known)."""

    def __init__(
        self,
        *,
        token: str,
        hub: Callable[[str], Served | RemoteRelay | None],
        names: Callable[[], list[str]],
        clean: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.token = token
        self._encode = encoder(clean)
        self._hub = hub
        self._names = names
        self.allowed: frozenset[str] = frozenset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = _Headers(scope)
        try:
            hub = self._route(scope, headers)
            if isinstance(hub, RemoteRelay):  # a remote server: passed on as it is, headers added
                body = await _body(receive, headers) if scope["method"] == "POST" else b""
                await hub.forward(scope, body, dict(headers.items()), send)
                return
            await self._serve(hub, scope, headers, receive, send)
        except Reject as exc:
            await _respond(send, exc.status, error_response(None, exc.message, exc.code), exc.headers, _plain)

    def _route(self, scope: Scope, headers: _Headers) -> Served | RemoteRelay:
        if not host_ok(headers.get("host"), self.allowed):
            raise Reject(403, "Invalid Host header")
        if not origin_ok(headers.get("origin"), self.allowed):
            raise Reject(403, "Invalid Origin header")
        parts = [p for p in str(scope["path"]).split("/") if p]
        given = bearer(headers.get("authorization"))
        if len(parts) >= 2 and parts[1] == "mcp":  # /<token>/mcp/<server>
            given, parts = parts[0], parts[1:]
        if not token_ok(given, self.token):
            raise Reject(401, "Unauthorized: send Authorization: Bearer <token> (see `mcp-marshal gateway`)",
                         headers=[(b"www-authenticate", b'Bearer realm="mcp-marshal"')])  # fmt: skip
        if len(parts) != 2 or parts[0] != "mcp":
            raise Reject(404, f"Not found: use /mcp/<server>; servers: {', '.join(self._names()) or 'none'}")
        hub = self._hub(parts[1])
        if hub is None:
            raise Reject(404, f"Not found: no server {parts[1]!r}; servers: {', '.join(self._names()) or 'none'}")
        return hub

    async def _serve(self, hub: Served, scope: Scope, headers: _Headers, receive: Receive, send: Send) -> None:
        method = scope["method"]
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in VERSIONS:
            raise Reject(400, f"Unsupported MCP-Protocol-Version {version!r}")
        sid = headers.get("mcp-session-id")
        if method == "POST":
            await self._post(hub, sid, headers, receive, send)
            return
        session = self._session(hub, sid)
        if method == "GET":
            if "text/event-stream" not in (headers.get("accept") or ""):
                raise Reject(406, "Not Acceptable: GET needs Accept: text/event-stream")
            await self._listen(session, receive, send)
        elif method == "DELETE":
            hub.close_session(session)
            await _respond(send, 200, None)
        else:
            raise Reject(405, f"Method not allowed: {method}", headers=[(b"allow", b"GET, POST, DELETE")])

    def _session(self, hub: Served, sid: str | None) -> AgentSession:
        if sid is None:
            raise Reject(400, "Bad Request: an Mcp-Session-Id header is required (initialize first)")
        session = hub.sessions.get(sid)
        if session is None:
            raise Reject(404, "Session not found", code=-32600)
        return session

    async def _post(self, hub: Served, sid: str | None, headers: _Headers, receive: Receive, send: Send) -> None:
        accept = headers.get("accept") or ""
        if "application/json" not in accept or "text/event-stream" not in accept:
            raise Reject(406, "Not Acceptable: POST needs Accept: application/json, text/event-stream")
        msg = _parse(await _body(receive, headers))
        if msg.get("method") == "initialize":
            if sid is not None:
                raise Reject(400, "Bad Request: this session is already initialized")
            try:
                session, answer = await hub.open_session(msg)
            except GatewayError as exc:
                await _respond(send, 503, error_response(msg.get("id"), str(exc)), encode=self._encode)
                return
            await _respond(send, 200, answer, [(b"mcp-session-id", session.id.encode())], self._encode)
            return
        session = self._session(hub, sid)
        outbox = await hub.handle(session, msg)
        if outbox is None:
            await _respond(send, 202, None)
            return
        sse_first = accept.lstrip().startswith("text/event-stream")  # the client's own preference
        gone = lambda: hub.cancel(session, msg.get("id"))  # noqa: E731
        await _stream(outbox, session, receive, send, self._encode, sse=sse_first, on_gone=gone)

    async def _listen(self, session: AgentSession, receive: Receive, send: Send) -> None:
        if session.listener is not None and not session.listener.ended:
            raise Reject(409, "Conflict: this session already has a GET stream open")
        outbox = session.listener = Outbox()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, _sid(session)]})
            await _pump(outbox, receive, send, self._encode, first=None)
        finally:
            if session.listener is outbox:
                session.listener = None
            outbox.end()


def _sid(session: AgentSession) -> tuple[bytes, bytes]:
    return b"mcp-session-id", session.id.encode()


async def _stream(
    outbox: Outbox,
    session: AgentSession,
    receive: Receive,
    send: Send,
    encode: Encode,
    *,
    sse: bool,
    on_gone: Callable[[], None],
) -> None:
    """A request's answer: JSON if the response comes first (unless the client prefers SSE),
    else an SSE stream up to the response."""
    disconnected = asyncio.ensure_future(_disconnect(receive))
    try:
        first_msg = asyncio.ensure_future(outbox.next())
        done, _ = await asyncio.wait({first_msg, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        if first_msg not in done:
            first_msg.cancel()
            on_gone()
            return
        first = first_msg.result()
        if first is None:  # cancelled before any answer (the agent's own notifications/cancelled)
            await _respond(send, 204, None)
            return
        if _final(first) and not sse:
            await _respond(send, 200, first, [_sid(session)], encode)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, _sid(session)]})
        if not await _pump(outbox, receive, send, encode, first=first, disconnected=disconnected):
            on_gone()
    finally:
        disconnected.cancel()


async def _pump(
    outbox: Outbox,
    receive: Receive,
    send: Send,
    encode: Encode,
    *,
    first: Message | None,
    disconnected: asyncio.Future[None] | None = None,
) -> bool:
    """Write SSE events until the outbox ends (True) or the client goes away (False)."""
    gone = disconnected if disconnected is not None else asyncio.ensure_future(_disconnect(receive))
    event_id = 0
    try:
        msg = first
        while True:
            if msg is not None:
                event_id += 1
                data = b"id: %d\r\nevent: message\r\ndata: %s\r\n\r\n" % (event_id, encode(msg))
                await send({"type": "http.response.body", "body": data, "more_body": True})
            nxt = asyncio.ensure_future(outbox.next())
            done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                return False
            msg = nxt.result()
            if msg is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return True
    finally:
        if disconnected is None:
            gone.cancel()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _body(receive: Receive, headers: _Headers) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise Reject(413, f"Payload too large: at most {MAX_BODY // (1024 * 1024)} MiB per message")
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise Reject(400, "the client went away")
        chunk = event.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise Reject(413, f"Payload too large: at most {MAX_BODY // (1024 * 1024)} MiB per message")
        chunks.append(chunk)
        if not event.get("more_body"):
            return b"".join(chunks)


def _parse(body: bytes) -> Message:
    try:
        msg = json.loads(body)
    except ValueError:
        raise Reject(400, "Parse error: the body is not JSON", code=-32700) from None
    if isinstance(msg, list):
        raise Reject(400, "Invalid Request: JSON-RPC batches are not supported (MCP 2025-06-18 and later)")
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        raise Reject(400, 'Invalid Request: one JSON-RPC 2.0 object, with "jsonrpc": "2.0"')
    return msg


async def _respond(
    send: Send,
    status: int,
    body: Message | None,
    headers: list[tuple[bytes, bytes]] | None = None,
    encode: Encode = _plain,
) -> None:
    data = b"" if body is None else encode(body)
    extra = [*(_JSON if body is not None else []), *(headers or []), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": extra})
    await send({"type": "http.response.body", "body": data, "more_body": False})


class _Headers:
    """The request's headers by lower-case name (ASGI gives them as a list of byte pairs)."""

    def __init__(self, scope: Scope) -> None:
        self._items = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}

    def get(self, name: str) -> str | None:
        return self._items.get(name)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._items.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
