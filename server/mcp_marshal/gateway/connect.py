"""``mcp-marshal connect SERVER``: a stdio MCP server that relays to the running gateway, for
clients that only take a command (Claude Code, Codex, Cursor...).

Each line on stdin is POSTed to ``/mcp/<server>`` (requests concurrently, so a long call never
holds back the others); JSON and SSE answers are written back one message per line, and the
session's GET stream carries what the server sends unasked. When the gateway restarts (the
supervisor was restarted) the client's ``initialize`` is replayed on a new session and the
client never notices, except that requests in flight at that moment fail with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mcp_marshal.gateway import discovery
from mcp_marshal.gateway.hub import error_response

log = logging.getLogger(__name__)

Message = dict[str, Any]
#: How long a request waits for a gateway to come back before it is answered with an error.
RECONNECT_S = 30.0
_ACCEPT = "application/json, text/event-stream"


class GatewayGone(Exception):
    """The gateway cannot be reached (not running, restarting) or forgot our session: the
    message was not delivered, so sending it again on a new session is safe."""


class BrokenOff(Exception):
    """The connection broke after the message was sent: it may have run, so it is not resent."""


class Relay:
    """One client's session through the gateway. ``write(msg)`` puts a message on stdout."""

    def __init__(self, workspace: Path, server: str, write: Callable[[Message], None]) -> None:
        self.workspace = workspace
        self.server = server
        self._write = write
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0))
        self._init: Message | None = None
        self._initialized: Message | None = None
        self._session: str | None = None
        self._endpoint: str | None = None
        self._token: str | None = None
        self._reconnect = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- where the gateway is ----------------------------------------------------------------

    def _locate(self) -> None:
        info = discovery.running(self.workspace)
        if info is None or not info.get("url"):
            raise GatewayGone(f"no supervisor serves {self.workspace.name} (start `mcp-marshal up` or the editor)")
        self._endpoint = f"{info['url']}/mcp/{self.server}"
        self._token = discovery.token(self.workspace)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": _ACCEPT, "Authorization": f"Bearer {self._token}"}
        if self._session is not None:
            headers["Mcp-Session-Id"] = self._session
        return headers

    # --- from the client ---------------------------------------------------------------------

    def handle(self, msg: Message) -> None:
        """One message from the client (stdin), relayed without holding up the next one."""
        task = asyncio.ensure_future(self._relay(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, msg: Message) -> None:
        is_request = "method" in msg and "id" in msg
        try:
            if msg.get("method") == "initialize":
                self._init = msg
                await self._open(msg, answer=True)
                return
            if msg.get("method") == "notifications/initialized":
                self._initialized = msg
            await self._post_with_reconnect(msg)
            if msg.get("method") == "notifications/initialized":
                self._listen()
        except GatewayGone as exc:
            if is_request:
                self._write(error_response(msg["id"], f"mcp-marshal connect: {exc}"))
        except (BrokenOff, httpx.HTTPError) as exc:
            if is_request:  # it may have run: never sent twice; the next request reconnects
                self._write(
                    error_response(msg["id"], f"mcp-marshal connect: the gateway went away mid-request ({exc})")
                )

    async def _open(self, init: Message, *, answer: bool) -> None:
        """POST ``initialize`` on a new session (``answer``: pass its result to the client)."""
        self._locate()
        assert self._endpoint is not None
        headers = {k: v for k, v in self._headers().items() if k != "Mcp-Session-Id"}
        try:
            response = await self._client.post(self._endpoint, content=json.dumps(init), headers=headers)
        except httpx.TransportError as exc:
            raise GatewayGone(f"cannot reach the gateway: {exc}") from exc
        if response.status_code == 200:
            self._session = response.headers.get("mcp-session-id")
        if answer:
            for reply in await _messages(response):
                self._write(reply)

    async def _post_with_reconnect(self, msg: Message) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECONNECT_S
        while True:
            try:
                await self._post(msg)
                return
            except GatewayGone:
                if self._init is None or loop.time() > deadline:
                    raise
                await self._replay()

    async def _post(self, msg: Message) -> None:
        if self._endpoint is None or (self._session is None and self._init is not None):
            raise GatewayGone("no session at the gateway yet")
        assert self._endpoint is not None
        try:
            async with self._client.stream(
                "POST", self._endpoint, content=json.dumps(msg), headers=self._headers()
            ) as response:
                if response.status_code == 404:  # a new gateway: it never saw the message
                    raise GatewayGone("the gateway does not know this session (it restarted)")
                try:
                    await _relay_response(response, self._write, msg.get("id"))
                except httpx.TransportError as exc:
                    raise BrokenOff(exc) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise GatewayGone(f"cannot reach the gateway: {exc}") from exc
        except httpx.TransportError as exc:
            raise BrokenOff(exc) from exc

    async def _replay(self) -> None:
        """A new session for the client's old one: its ``initialize`` (and ``initialized``)
        again, answered here, never shown to the client."""
        async with self._reconnect:
            assert self._init is not None
            await asyncio.sleep(0.2)  # a pause between attempts, not a synchronisation
            try:
                await self._open(self._init, answer=False)
            except GatewayGone:
                return
            if self._initialized is not None:
                with contextlib.suppress(GatewayGone, httpx.HTTPError):
                    await self._post(self._initialized)

    # --- what the server sends unasked -------------------------------------------------------

    def _listen(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.ensure_future(self._listen_forever())

    async def _listen_forever(self) -> None:
        """The session's GET stream, reopened (on a replayed session if need be) when it drops."""
        while True:
            try:
                assert self._endpoint is not None
                headers = {**self._headers(), "Accept": "text/event-stream"}
                async with self._client.stream("GET", self._endpoint, headers=headers) as response:
                    if response.status_code == 404:
                        raise GatewayGone("the gateway forgot the session")
                    if response.status_code != 200:
                        return  # no GET stream here (405): what matters comes on the POST streams
                    await _relay_response(response, self._write)
            except (GatewayGone, httpx.TransportError):
                await self._replay()
            except asyncio.CancelledError:
                raise

    async def close(self) -> None:
        """The client is gone (stdin closed): end the session at the gateway."""
        for task in [*self._tasks, *([self._listener] if self._listener else [])]:
            task.cancel()
        if self._session is not None and self._endpoint is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._client.delete(self._endpoint, headers=self._headers(), timeout=2.0)
        await self._client.aclose()


async def _messages(response: httpx.Response) -> list[Message]:
    """Every JSON-RPC message of a complete (JSON or SSE) response."""
    out: list[Message] = []
    await _relay_response(response, out.append)
    return out


async def _relay_response(response: httpx.Response, write: Callable[[Message], None], req_id: Any = None) -> None:
    """Write every message of ``response``; an HTTP error's JSON-RPC body (id null: it was
    refused before anyone read the id) is given the request's id, so the client hears of it."""
    kind = response.headers.get("content-type", "")
    if response.status_code == 202:
        return
    if "text/event-stream" in kind:
        data: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                with contextlib.suppress(ValueError):
                    write(json.loads("\n".join(data)))
                data = []
        return
    body = await response.aread()
    if body:
        with contextlib.suppress(ValueError):
            msg = json.loads(body)
            if isinstance(msg, dict):
                if response.status_code >= 400 and msg.get("id") is None and req_id is not None:
                    msg = {**msg, "id": req_id}
                write(msg)


async def serve_stdio(workspace: Path, server: str) -> int:
    """Relay stdin ↔ the gateway until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def write(msg: Message) -> None:
        out.write(json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        out.flush()

    relay = Relay(workspace, server, write)
    try:
        while line := await reader.readline():
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if isinstance(msg, dict):
                    relay.handle(msg)
    finally:
        await relay.close()
    return 0
