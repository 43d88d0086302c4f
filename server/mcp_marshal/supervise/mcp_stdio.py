"""MCP over a child's stdin/stdout: newline-delimited JSON-RPC with bounded memory.

Hand-rolled rather than the SDK's ``ClientSession`` because a supervisor must own the process
(its group, its stderr, its stop sequence) and must survive any byte stream a broken server
writes: lines are read in chunks, oversized lines are discarded without being buffered, and
non-protocol output is reported, never fatal. It is also what the gateway relays through: raw
messages go out under ids of ours (``relay``) and come back untouched, and everything the
server sends unasked goes to ``on_message``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_marshal import __version__

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
MAX_LINE_BYTES = 4 * 1024 * 1024
CHUNK = 64 * 1024
NOISE_PREVIEW = 200
CLIENT_INFO = {"name": "mcp-marshal", "version": __version__}
_META_VERSION = "io.modelcontextprotocol/protocolVersion"
_META_CAPS = "io.modelcontextprotocol/clientCapabilities"
_META_CLIENT = "io.modelcontextprotocol/clientInfo"
_META_SERVER = "io.modelcontextprotocol/serverInfo"


class RpcError(Exception):
    """The server answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message


class ConnectionClosed(Exception):
    """The server's stdout closed before the answer came."""


@dataclass(frozen=True, slots=True)
class Handshake:
    protocol_version: str
    server_info: dict[str, Any]
    capabilities: dict[str, Any]
    modern: bool
    ms: float = 0.0
    instructions: str | None = None
    """What the server tells its clients to do with it (the gateway passes it to each agent)."""


ServerMessage = Callable[[dict[str, Any]], None]


class McpStdio:
    """A JSON-RPC client on a pair of streams. ``on_noise(text)`` hears non-protocol output;
    ``on_message(msg)``, when set, every request and notification the server sends (else a
    request is refused, a ``ping`` excepted: it is always answered)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_noise: Callable[[str], None] = lambda _text: None,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_noise = on_noise
        self._max_line = max_line
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._relayed: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._closed = False
        self.modern = False
        self.on_message: ServerMessage | None = None
        self.offered: dict[str, Any] = {}
        """The client capabilities we declared in the handshake (what the gateway can route)."""

    @property
    def closed(self) -> bool:
        return self._closed

    # --- reading -----------------------------------------------------------------------------

    async def read_loop(self) -> None:
        """Dispatch every line until EOF; then fail whatever is still waiting."""
        buf = bytearray()
        discarding = False  # the line being read is already too long: drop the rest of it
        try:
            while chunk := await self._reader.read(CHUNK):
                start = 0
                while (nl := chunk.find(b"\n", start)) >= 0:
                    if not self._extend(buf, chunk[start:nl], discarding):
                        self._dispatch(bytes(buf))
                    buf.clear()
                    discarding = False
                    start = nl + 1
                discarding = self._extend(buf, chunk[start:], discarding)
        finally:
            self._closed = True
            for future in (*self._pending.values(), *self._relayed.values()):
                if not future.done():
                    future.set_exception(ConnectionClosed("the server closed its stdout"))
            self._pending.clear()
            self._relayed.clear()

    def _extend(self, buf: bytearray, piece: bytes, discarding: bool) -> bool:
        """Add ``piece`` to the line being read; True when the line is (now) too long, in which
        case it is dropped, reported once, and never buffered further."""
        if discarding:
            return True
        if len(buf) + len(piece) > self._max_line:
            buf.clear()
            self._on_noise(f"<a stdout line longer than {self._max_line // 1024} KiB was discarded>")
            return True
        buf += piece
        return False

    def _dispatch(self, line: bytes) -> None:
        stripped = line.strip()
        if not stripped:
            return
        try:
            msg = json.loads(stripped)
        except ValueError:
            self._on_noise(stripped[:NOISE_PREVIEW].decode("utf-8", "replace"))
            return
        if not isinstance(msg, dict):
            self._on_noise(stripped[:NOISE_PREVIEW].decode("utf-8", "replace"))
            return
        if "method" in msg:
            if "id" in msg and msg["method"] == "ping":
                self._reply({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
            elif self.on_message is not None:
                self.on_message(msg)
            elif "id" in msg:  # a request from the server (roots, sampling...) nobody here can answer
                error = {"code": -32601, "message": f"Method not found: {msg['method']}"}
                self._reply({"jsonrpc": "2.0", "id": msg["id"], "error": error})
            return
        req_id = msg.get("id")
        if not isinstance(req_id, int):
            return
        if (relayed := self._relayed.pop(req_id, None)) is not None:
            if not relayed.done():
                relayed.set_result(msg)
            return
        future = self._pending.pop(req_id, None)
        if future is None or future.done():
            return
        try:
            future.set_result(rpc_result(msg))
        except RpcError as exc:
            future.set_exception(exc)

    # --- writing -----------------------------------------------------------------------------

    def _send(self, msg: dict[str, Any]) -> None:
        if self._writer.is_closing():
            raise ConnectionClosed("the server's stdin is closed")
        self._writer.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def _reply(self, msg: dict[str, Any]) -> None:
        """An answer of ours to the server, from the read loop: a gone server is no error."""
        try:
            self._send(msg)
        except (ConnectionClosed, OSError):
            pass

    async def relay(self, msg: dict[str, Any]) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        """Send someone else's request under a fresh id of ours; the future gets the server's
        whole response, untouched (or ``ConnectionClosed`` if the server goes first)."""
        if self._closed:
            raise ConnectionClosed("the server closed its stdout")
        req_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._relayed[req_id] = future
        try:
            await self.send({**msg, "id": req_id})
        except BaseException:
            self._relayed.pop(req_id, None)
            raise
        return req_id, future

    def forget(self, req_id: int) -> None:
        """Stop waiting for a relayed request's answer (its caller went away)."""
        future = self._relayed.pop(req_id, None)
        if future is not None and not future.done():
            future.cancel()

    async def send(self, msg: dict[str, Any]) -> None:
        """Write one message as it is (a notification, or an answer to the server's request)."""
        try:
            self._send(msg)
            await self._writer.drain()
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosed("the server's stdin is closed") from exc

    async def request(self, method: str, params: dict[str, Any] | None, timeout: float) -> Any:
        """Send a request and await its result; ``TimeoutError`` after ``timeout`` seconds."""
        if self._closed:
            raise ConnectionClosed("the server closed its stdout")
        req_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        try:
            async with asyncio.timeout(timeout):  # a server that stops reading stalls drain() too
                self._send(msg)
                await self._writer.drain()
                return await future
        except TimeoutError:
            try:  # polite: tell the server we stopped waiting
                self._send(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/cancelled",
                        "params": {"requestId": req_id, "reason": "timeout"},
                    }
                )
            except (ConnectionClosed, OSError):
                pass
            raise
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosed("the server's stdin is closed") from exc
        finally:
            # Forget the request however it ended, so a late answer or EOF never sets an
            # exception on a future nobody awaits ("Future exception was never retrieved").
            self._pending.pop(req_id, None)
            if future.done() and not future.cancelled():
                future.exception()
            else:
                future.cancel()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)

    # --- MCP ---------------------------------------------------------------------------------

    def _modern_meta(self) -> dict[str, Any]:
        return {_META_VERSION: MODERN_VERSION, _META_CAPS: self.offered, _META_CLIENT: CLIENT_INFO}

    async def handshake(self, timeout: float, capabilities: dict[str, Any] | None = None) -> Handshake:
        """``initialize`` → result → ``notifications/initialized``; servers that refuse
        ``initialize`` with an error are asked ``server/discover`` (protocol 2026-07-28).

        Legacy first, because before the initialize result a legacy server should receive
        nothing but ``ping``, and most stdio servers in use are legacy.
        """
        t0 = time.perf_counter()
        self.offered = capabilities or {}
        async with asyncio.timeout(timeout):
            try:
                result = await self.request(
                    "initialize",
                    {"protocolVersion": LEGACY_VERSION, "capabilities": capabilities or {}, "clientInfo": CLIENT_INFO},
                    timeout,
                )
            except RpcError as refused:
                try:
                    return await self._discover(t0, timeout)
                except RpcError:
                    raise refused from None  # not modern either: the legacy refusal says why
            if not isinstance(result, dict):
                raise RpcError(-32603, "initialize returned no result object")
            await self.notify("notifications/initialized")
            self.modern = False
            return Handshake(
                protocol_version=str(result.get("protocolVersion", "")),
                server_info=as_dict(result.get("serverInfo")),
                capabilities=as_dict(result.get("capabilities")),
                modern=False,
                ms=(time.perf_counter() - t0) * 1000,
                instructions=_text(result.get("instructions")),
            )

    async def _discover(self, t0: float, timeout: float) -> Handshake:
        result = await self.request("server/discover", {"_meta": self._modern_meta()}, timeout)
        if not isinstance(result, dict):
            raise RpcError(-32603, "server/discover returned no result object")
        self.modern = True
        versions = result.get("supportedVersions") or [MODERN_VERSION]
        meta = as_dict(result.get("_meta"))
        return Handshake(
            protocol_version=MODERN_VERSION if MODERN_VERSION in versions else str(versions[-1]),
            server_info=as_dict(meta.get(_META_SERVER)),
            capabilities=as_dict(result.get("capabilities")),
            modern=True,
            ms=(time.perf_counter() - t0) * 1000,
            instructions=_text(result.get("instructions")),
        )

    async def ping(self, timeout: float) -> None:
        """Liveness: ``ping`` for legacy servers, ``server/discover`` for modern ones (no ping)."""
        if self.modern:
            await self.request("server/discover", {"_meta": self._modern_meta()}, timeout)
        else:
            await self.request("ping", None, timeout)

    async def list_tools(self, timeout: float) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"_meta": self._modern_meta()} if self.modern else {}
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100):  # pages; a server that paginates forever is not our problem
            if cursor:
                params["cursor"] = cursor
            result = as_dict(await self.request("tools/list", params, timeout))
            tools.extend(t for t in result.get("tools", []) if isinstance(t, dict))
            cursor = result.get("nextCursor")
            if not cursor:
                break
        return tools


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def rpc_result(msg: dict[str, Any]) -> Any:
    """The ``result`` of a JSON-RPC response, or its ``error`` raised as ``RpcError``."""
    if "error" in msg:
        err = as_dict(msg["error"])
        code = err.get("code")
        raise RpcError(code if isinstance(code, int) else -32603, str(err.get("message", "error")))
    return msg.get("result")
