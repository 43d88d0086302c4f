"""Asking the process that supervises a workspace file (another window's language server, an
``mcp-marshal up``) about its servers, through its gateway's ``/mcp/marshal`` tools.

A second editor window on the same file must not start a second copy of every server; it
shows the owner's. One short MCP session per question (initialize, one ``tools/call``,
DELETE): these are rare, user-driven requests, and a session kept open would outlive owners.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from mcp_marshal.errors import NotNow
from mcp_marshal.gateway import discovery
from mcp_marshal.gateway.hub import KNOWN_VERSIONS
from mcp_marshal.paths import StateUnavailable
from mcp_marshal.supervise.mcp_stdio import as_dict
from mcp_marshal.wire import GatewayOwner, ServerSnapshot

#: What the supervising process published about itself (``gateway.json``), or None.
Owner = Mapping[str, Any] | None

TIMEOUT_S = 10.0


class OwnerUnreachable(NotNow):
    """The owner's gateway did not answer (it is starting, stopping, or disabled)."""

    code = "owner-unreachable"


async def call_owner_tool(url: str, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """``tool``'s structured result from the gateway at ``url``; ``OwnerUnreachable`` when it
    cannot be asked, ``NotNow`` with the tool's own words when it refused."""
    endpoint = f"{url}/mcp/marshal"
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    version = KNOWN_VERSIONS[-1]
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "mcp-marshal attach"}},
    }
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            opened = await client.post(endpoint, json=hello, headers=headers)
            session = opened.headers.get("mcp-session-id")
            if opened.status_code != 200 or not session:
                raise OwnerUnreachable(f"the supervising process's gateway refused us ({opened.status_code})")
            headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": version}
            try:
                await client.post(
                    endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
                )
                call = {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": tool, "arguments": arguments},
                }
                answer = _message(await client.post(endpoint, json=call, headers=headers))
            finally:
                await client.delete(endpoint, headers=headers)
    except httpx.HTTPError as exc:
        raise OwnerUnreachable(f"the supervising process's gateway cannot be reached: {type(exc).__name__}") from exc
    result = as_dict(answer.get("result"))
    if "error" in answer or result.get("isError"):
        raise NotNow(_error_text(answer, result))
    return as_dict(result.get("structuredContent"))


def _message(response: httpx.Response) -> dict[str, Any]:
    """The one JSON-RPC answer of a POST, sent as JSON or as one event of a stream."""
    text = response.text
    if "text/event-stream" in response.headers.get("content-type", ""):
        data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        text = next((d for d in reversed(data) if d), "{}")
    try:
        return as_dict(json.loads(text))
    except ValueError:
        return {"error": {"message": "the gateway's answer is not JSON"}}


def _error_text(answer: dict[str, Any], result: dict[str, Any]) -> str:
    error = as_dict(answer.get("error"))
    if error:
        return str(error.get("message", "the owner refused"))
    content = result.get("content")
    first = as_dict(content[0]) if isinstance(content, list) and content else {}
    return str(first.get("text", "the owner refused"))


def owner_of(owner: Owner) -> GatewayOwner | None:
    """Who supervises the file, for an answer (None when this process does)."""
    if owner is None:
        return None
    pid = owner.get("pid")
    return GatewayOwner(pid=pid if isinstance(pid, int) else None, kind=str(owner.get("kind") or ""))


def owner_url(owner: Owner) -> str | None:
    """The owner's gateway, once it serves."""
    url = (owner or {}).get("url")
    return url if isinstance(url, str) and url else None


async def owner_call(owner: Owner, file: Path, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A marshal tool of the owner's gateway (``NotNow`` when it does not serve)."""
    url = owner_url(owner)
    if url is None:
        raise NotNow(f"{file.name} is supervised by another process whose gateway does not serve (yet)")
    try:
        token = discovery.token(file)
    except (StateUnavailable, OSError) as exc:
        raise NotNow(f"the gateway token cannot be read: {exc}") from exc
    return await call_owner_tool(url, token, tool, arguments)


async def owner_servers(owner: Owner, file: Path) -> list[ServerSnapshot]:
    """The owner's servers, as full snapshots."""
    answer = await owner_call(owner, file, "list_servers", {"full": True})
    servers = answer.get("servers")
    listed: list[Any] = servers if isinstance(servers, list) else []  # pyright: ignore[reportUnknownVariableType]
    return [ServerSnapshot.model_validate(s) for s in listed]
