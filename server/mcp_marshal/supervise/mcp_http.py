"""MCP handshake over HTTP, used as the readiness and health check of remote servers.

We do not proxy remote servers, only check them, so a short blocking exchange in a worker
thread (stdlib ``urllib``) is enough: Streamable HTTP posts ``initialize`` and reads a JSON or
SSE answer; legacy SSE servers are reached through the endpoint their event stream announces.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from mcp_marshal.supervise.mcp_stdio import CLIENT_INFO, LEGACY_VERSION, Handshake, RpcError

_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO},
}


class HttpCheckError(Exception):
    """The remote server did not complete a handshake; the message names why (no secrets)."""


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


def _first_response(resp: Any) -> dict[str, Any]:
    ctype = resp.headers.get("Content-Type", "")
    if "text/event-stream" in ctype:
        for _event, data in _sse_events(iter(resp.readline, b"")):
            msg = json.loads(data)
            if isinstance(msg, dict) and msg.get("id") == 1:
                return msg
        raise HttpCheckError("the event stream ended without an initialize result")
    return json.loads(resp.read(4 * 1024 * 1024))


def _result(msg: dict[str, Any]) -> Handshake:
    if "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        raise RpcError(int(err.get("code", -32603)), str(err.get("message", "error")))
    result = msg.get("result") if isinstance(msg.get("result"), dict) else {}
    return Handshake(
        protocol_version=str(result.get("protocolVersion", "")),
        server_info=result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else {},
        capabilities=result.get("capabilities") if isinstance(result.get("capabilities"), dict) else {},
        modern=False,
    )


def _post(url: str, body: dict[str, Any], headers: Mapping[str, str], timeout: float) -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": LEGACY_VERSION,
            **headers,
        },
    )
    return urllib.request.urlopen(req, timeout=timeout)


def _streamable(url: str, headers: Mapping[str, str], timeout: float) -> Handshake:
    with _post(url, _INIT, headers, timeout) as resp:
        session = resp.headers.get("Mcp-Session-Id")
        hs = _result(_first_response(resp))
    extra = {**headers, **({"Mcp-Session-Id": session} if session else {})}
    with _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, extra, timeout):
        pass
    if session:  # end the session we opened only to check the server
        req = urllib.request.Request(url, method="DELETE", headers=extra)
        try:
            urllib.request.urlopen(req, timeout=timeout).close()
        except urllib.error.URLError:
            pass
    return hs


def _legacy_sse(url: str, headers: Mapping[str, str], timeout: float) -> Handshake:
    req = urllib.request.Request(url, headers={"Accept": "text/event-stream", **headers})
    with urllib.request.urlopen(req, timeout=timeout) as stream:
        events = _sse_events(iter(stream.readline, b""))
        endpoint = next((data for event, data in events if event == "endpoint"), None)
        if endpoint is None:
            raise HttpCheckError("the SSE stream announced no endpoint")
        post_url = urllib.parse.urljoin(url, endpoint)
        with _post(post_url, _INIT, headers, timeout):
            pass
        for _event, data in events:
            msg = json.loads(data)
            if isinstance(msg, dict) and msg.get("id") == 1:
                hs = _result(msg)
                with _post(post_url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers, timeout):
                    pass
                return hs
    raise HttpCheckError("the SSE stream ended without an initialize result")


def _check(kind: str, url: str, headers: Mapping[str, str], timeout: float) -> Handshake:
    try:
        return _legacy_sse(url, headers, timeout) if kind == "sse" else _streamable(url, headers, timeout)
    except urllib.error.HTTPError as exc:
        raise HttpCheckError(f"HTTP {exc.code} {exc.reason} from {_safe(url)}") from None
    except urllib.error.URLError as exc:
        raise HttpCheckError(f"cannot reach {_safe(url)}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise HttpCheckError(f"handshake with {_safe(url)} failed: {exc.__class__.__name__}: {exc}") from None


def _safe(url: str) -> str:
    """The URL without credentials or query (either may hold a token)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


async def http_handshake(kind: str, url: str, headers: Mapping[str, str], timeout: float) -> Handshake:
    """A full MCP handshake with a remote server, bounded by ``timeout`` seconds."""
    t0 = time.perf_counter()
    async with asyncio.timeout(timeout):
        hs = await asyncio.to_thread(_check, kind, url, dict(headers), timeout)
    return Handshake(hs.protocol_version, hs.server_info, hs.capabilities, False, (time.perf_counter() - t0) * 1000)
