"""MCP over HTTP as the readiness and health check of remote servers.

Streamable HTTP: one session is opened (``initialize``, its ``Mcp-Session-Id`` kept) and pinged
for as long as the server is supervised; a session the server forgot (404) is opened again.
Legacy SSE sessions live on an open event stream, so each check there is a full handshake.
Blocking stdlib ``urllib`` in a worker thread: a few requests a minute need no HTTP stack.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from mcp_marshal.supervise.mcp_stdio import CLIENT_INFO, LEGACY_VERSION, Handshake, as_dict, rpc_result

_INIT_PARAMS = {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
MAX_BODY = 4 * 1024 * 1024


class HttpCheckError(Exception):
    """The remote server did not answer as an MCP server; the message says why (no secrets)."""


def _sse_events(lines: Iterator[bytes]) -> Iterator[tuple[str, str]]:
    event, data = "message", []
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def _answer(resp: Any, req_id: int) -> dict[str, Any]:
    """The JSON-RPC response to ``req_id`` in a JSON body or an SSE stream."""
    if "text/event-stream" in resp.headers.get("Content-Type", ""):
        for _event, data in _sse_events(iter(resp.readline, b"")):
            if not data.strip():
                continue  # a priming event (an id and a retry, no message)
            msg = json.loads(data)
            if isinstance(msg, dict) and msg.get("id") == req_id:
                return msg
        raise HttpCheckError("the event stream ended without an answer")
    msg = json.loads(resp.read(MAX_BODY))
    if not isinstance(msg, dict):
        raise HttpCheckError("the answer is not a JSON-RPC object")
    return msg


def _handshake(msg: dict[str, Any]) -> Handshake:
    result = as_dict(rpc_result(msg))
    return Handshake(
        protocol_version=str(result.get("protocolVersion", "")),
        server_info=as_dict(result.get("serverInfo")),
        capabilities=as_dict(result.get("capabilities")),
        modern=False,
    )


def _safe(url: str) -> str:
    """The URL without credentials or query (either may hold a token)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class HttpSession:
    """One MCP session with a remote server; methods block (run them in a worker thread)."""

    def __init__(self, kind: str, url: str, headers: Mapping[str, str]) -> None:
        self.kind = kind
        self.url = url
        self.headers = dict(headers)
        self.session_id: str | None = None
        self._ids = itertools.count(1)

    def _post(self, body: dict[str, Any], timeout: float, url: str | None = None) -> Any:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": LEGACY_VERSION,
            **self.headers,
        }
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        req = urllib.request.Request(url or self.url, data=json.dumps(body).encode(), method="POST", headers=headers)
        return urllib.request.urlopen(req, timeout=timeout)

    def _request(self, method: str, params: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        req_id = next(self._ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            body["params"] = params
        with self._post(body, timeout) as resp:
            if method == "initialize":
                self.session_id = resp.headers.get("Mcp-Session-Id")
            return _answer(resp, req_id)

    def open(self, timeout: float) -> Handshake:
        """A full handshake; for Streamable HTTP the session stays open for ``ping``."""
        if self.kind == "sse":
            return self._sse_handshake(timeout)
        self.session_id = None
        hs = _handshake(self._request("initialize", _INIT_PARAMS, timeout))
        with self._post({"jsonrpc": "2.0", "method": "notifications/initialized"}, timeout):
            pass
        return hs

    def ping(self, timeout: float) -> None:
        if self.kind == "sse":
            self._sse_handshake(timeout)
            return
        try:
            rpc_result(self._request("ping", None, timeout))
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404: the server forgot our session (it restarted): open another
                raise
            self.open(timeout)

    def close(self, timeout: float) -> None:
        """End the session (DELETE), if the server gave us one."""
        if not self.session_id:
            return
        headers = {**self.headers, "Mcp-Session-Id": self.session_id}
        self.session_id = None
        req = urllib.request.Request(self.url, method="DELETE", headers=headers)
        try:
            urllib.request.urlopen(req, timeout=timeout).close()
        except (urllib.error.URLError, OSError):
            pass

    def _sse_handshake(self, timeout: float) -> Handshake:
        req = urllib.request.Request(self.url, headers={"Accept": "text/event-stream", **self.headers})
        with urllib.request.urlopen(req, timeout=timeout) as stream:
            events = _sse_events(iter(stream.readline, b""))
            endpoint = next((data for event, data in events if event == "endpoint"), None)
            if endpoint is None:
                raise HttpCheckError("the SSE stream announced no endpoint")
            post_url = urllib.parse.urljoin(self.url, endpoint)
            with self._post(
                {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _INIT_PARAMS}, timeout, post_url
            ):
                pass
            for _event, data in events:
                msg = json.loads(data)
                if isinstance(msg, dict) and msg.get("id") == 1:
                    hs = _handshake(msg)
                    with self._post({"jsonrpc": "2.0", "method": "notifications/initialized"}, timeout, post_url):
                        pass
                    return hs
        raise HttpCheckError("the SSE stream ended without an initialize result")


async def in_thread(session: HttpSession, what: str, timeout: float) -> Any:
    """Run ``session.<what>(timeout)`` off the loop, bounded, with errors as ``HttpCheckError``
    (or ``RpcError`` when the server answered with one)."""
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            result = await asyncio.to_thread(getattr(session, what), timeout)
    except urllib.error.HTTPError as exc:
        raise HttpCheckError(f"HTTP {exc.code} {exc.reason} from {_safe(session.url)}") from None
    except urllib.error.URLError as exc:
        raise HttpCheckError(f"cannot reach {_safe(session.url)}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise HttpCheckError(f"{what} with {_safe(session.url)} failed: {exc.__class__.__name__}: {exc}") from None
    if isinstance(result, Handshake):
        return Handshake(
            result.protocol_version, result.server_info, result.capabilities, False, (time.perf_counter() - t0) * 1000
        )
    return result
