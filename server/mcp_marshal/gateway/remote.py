"""A remote (``type: http``) server relayed to agents: each agent's requests go to the server's
URL with the headers the workspace file configures (so no agent needs the secret), and the
answers come back as they are, only the workspace's known secrets redacted.

Each agent session is the remote server's own session (its ``Mcp-Session-Id`` passes through):
the remote multiplexes its agents itself, we only stand in front of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx

from mcp_marshal.config.models import ServerSpec
from mcp_marshal.gateway.hub import error_response

Scope = dict[str, Any]
#: Request headers passed on to the remote server; the rest (our token, Host, Origin) stay here.
FORWARDED = frozenset({"content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id"})
#: Response headers passed back to the agent.
RETURNED = frozenset({"content-type", "mcp-session-id", "cache-control", "www-authenticate"})


class RemoteRelay:
    """``spec()``: the server's spec with its inputs resolved (None until it has started once)."""

    def __init__(self, name: str, spec: Callable[[], ServerSpec | None], clean: Callable[[str], str]) -> None:
        self.name = name
        self._spec = spec
        self._clean = clean
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=10.0))

    async def forward(self, scope: Scope, body: bytes, agent_headers: dict[str, str], send: Any) -> None:
        spec = self._spec()
        if spec is None or spec.url is None:
            await _error(send, 503, f"{self.name} has not started yet; try again when it is ready")
            return
        headers = {k: v for k, v in agent_headers.items() if k in FORWARDED}
        headers.update(spec.headers)
        method = str(scope["method"])
        try:
            request = self._client.build_request(method, spec.url, content=body or None, headers=headers)
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            await _error(send, 502, f"{self.name} cannot be reached: {type(exc).__name__}")
            return
        try:
            returned = [(k.encode(), v.encode()) for k, v in response.headers.items() if k.lower() in RETURNED]
            await send({"type": "http.response.start", "status": response.status_code, "headers": returned})
            if "text/event-stream" in response.headers.get("content-type", ""):
                async for line in response.aiter_lines():  # line by line, so a secret never straddles chunks
                    chunk = (self._clean(line) + "\n").encode()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                data = self._clean((await response.aread()).decode("utf-8", "replace")).encode()
                await send({"type": "http.response.body", "body": data, "more_body": False})
        except httpx.TransportError:
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    async def close(self) -> None:
        await self._client.aclose()


async def _error(send: Any, status: int, message: str) -> None:
    import json

    data = json.dumps(error_response(None, message)).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data, "more_body": False})
