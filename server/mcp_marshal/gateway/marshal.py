"""``/mcp/marshal``: an MCP server of ours, so agents coordinate where they live (DESIGN §11):
the supervised servers (list, logs, restart) and task leases (acquire, renew, release, list),
the same leases as the editor's and ``mcp-marshal lock`` (one store, one fencing sequence).

Every tool has a JSON Schema for its input and returns structured content (and the same as
JSON text, for clients that only read text). A lease is held by the agent's ``clientInfo``
name and its session unless it names another owner; one bound to the session (the default) is
released when the session ends.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_marshal import __version__
from mcp_marshal.errors import UserError
from mcp_marshal.gateway.hub import KNOWN_VERSIONS, AgentSession, Message, Outbox, error_response
from mcp_marshal.locks import Lease, LeaseService, LockStoreUnavailable
from mcp_marshal.locks.ttl import MAX_TTL_MS, parse_ttl_ms
from mcp_marshal.supervise.mcp_stdio import as_dict, json_object
from mcp_marshal.supervise.orchestrator import Orchestrator

NAME = "marshal"
INSTRUCTIONS = (
    "mcp-marshal supervises this workspace's MCP servers and keeps task leases shared by every agent and "
    "editor window on the machine. Before you work on something another agent might also do (a file, a "
    "branch, a migration, a deploy), acquire_lease on a task name for it; if it is held, do something else "
    "or wait. Pass the fencing token to whatever you write, so a stale holder's writes can be rejected."
)

_TASK = {"type": "string", "minLength": 1, "description": "What the lease is for, e.g. 'src/db/migrations'."}
_TOKEN = {"type": "integer", "minimum": 1, "description": "The fencing token acquire_lease gave you."}
_TTL = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_TTL_MS,
    "description": "Lifetime in milliseconds, at most 7 days (default: the workspace's).",
}
_SERVER = {"type": "string", "minLength": 1, "description": "A server name, as list_servers gives it."}
_LEASE_OUT = {
    "type": "object",
    "properties": {
        "task": {"type": "string"},
        "owner": {"type": "string"},
        "token": {"type": "integer"},
        "acquired_at": {"type": "number"},
        "expires_at": {"type": "number"},
    },
}


def _tool(name: str, description: str, props: dict[str, Any], required: list[str], output: dict[str, Any]) -> Message:
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return {"name": name, "description": description, "inputSchema": schema, "outputSchema": output}


TOOLS = [
    _tool(
        "list_servers",
        "The workspace's MCP servers and their state (ready, starting, backoff, failed...), with why a "
        "server is not ready.",
        {"full": {"type": "boolean", "description": "Every field of each server, as the editor shows it."}},
        [],
        {"type": "object", "properties": {"servers": {"type": "array", "items": {"type": "object"}}}},
    ),
    _tool(
        "server_logs",
        "The last lines a server wrote to stderr (secrets redacted): look here when a server misbehaves.",
        {"server": _SERVER, "lines": {"type": "integer", "minimum": 1, "maximum": 200}},
        ["server"],
        {"type": "object", "properties": {"server": {"type": "string"}, "lines": {"type": "array"}}},
    ),
    _tool(
        "restart_server",
        "Restart a server with a fresh restart budget (also revives a failed one). Every agent shares it: "
        "restart only a server that is really stuck.",
        {"server": _SERVER},
        ["server"],
        {"type": "object", "properties": {"server": {"type": "object"}}},
    ),
    _tool(
        "acquire_lease",
        "Take the lease on a task so no other agent works on it at the same time. Answers acquired=true "
        "with a fencing token, or acquired=false with who holds it and until when. Renew before it "
        "expires; release when done. Bound to this session by default (released if the session ends).",
        {
            "task": _TASK,
            "ttl_ms": _TTL,
            "bind_to_session": {
                "type": "boolean",
                "description": "Release it when this session ends (default true); false: it lives its TTL.",
            },
            "owner": {"type": "string", "minLength": 1, "description": "Who holds it (default: you, this session)."},
        },
        ["task"],
        {
            "type": "object",
            "properties": {"acquired": {"type": "boolean"}, "lease": _LEASE_OUT, "holder": _LEASE_OUT},
            "required": ["acquired"],
        },
    ),
    _tool(
        "renew_lease",
        "Extend your lease before it expires (the token stays the same).",
        {"task": _TASK, "token": _TOKEN, "ttl_ms": _TTL},
        ["task", "token"],
        {"type": "object", "properties": {"renewed": {"type": "boolean"}, "lease": _LEASE_OUT}},
    ),
    _tool(
        "release_lease",
        "Give up your lease when the work is done, so others can take the task.",
        {"task": _TASK, "token": _TOKEN},
        ["task", "token"],
        {"type": "object", "properties": {"released": {"type": "boolean"}}},
    ),
    _tool(
        "list_leases",
        "Every lease held now in this workspace, by any agent or editor window on the machine.",
        {},
        [],
        {"type": "object", "properties": {"leases": {"type": "array", "items": _LEASE_OUT}}},
    ),
]


class ToolError(Exception):
    """A tool call that cannot be carried out: the agent gets it as an ``isError`` result."""


def lease_out(lease: Lease) -> dict[str, Any]:
    return {
        "task": lease.task,
        "owner": lease.owner,
        "token": lease.token,
        "acquired_at": lease.acquired_at,
        "expires_at": lease.expires_at,
    }


@dataclass(eq=False)
class _Held:
    task: str
    owner: str
    token: int


@dataclass
class MarshalServer:
    """``orchestrator()`` and ``leases()``: the running orchestrator (or None), the lease service
    (raising ``LockStoreUnavailable`` when there is none)."""

    orchestrator: Callable[[], Orchestrator | None]
    leases: Callable[[], Awaitable[LeaseService]]
    sessions: dict[str, AgentSession] = field(default_factory=lambda: dict[str, AgentSession]())
    _bound: dict[str, list[_Held]] = field(default_factory=lambda: dict[str, list[_Held]]())
    _releasing: set[asyncio.Task[None]] = field(default_factory=lambda: set[asyncio.Task[None]]())

    name = NAME

    async def open_session(self, request: Message) -> tuple[AgentSession, Message]:
        params = as_dict(request.get("params"))
        wanted = params.get("protocolVersion")
        version = wanted if wanted in KNOWN_VERSIONS else KNOWN_VERSIONS[-1]
        session = AgentSession(
            id=secrets.token_urlsafe(24),
            server=NAME,
            client_info=as_dict(params.get("clientInfo")),
            capabilities=as_dict(params.get("capabilities")),
            protocol_version=version,
        )
        self.sessions[session.id] = session
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "mcp-marshal", "version": __version__},
            "instructions": INSTRUCTIONS,
        }
        return session, {"jsonrpc": "2.0", "id": request.get("id"), "result": result}

    async def handle(self, session: AgentSession, msg: Message) -> Outbox | None:
        if "id" not in msg or "method" not in msg:
            return None  # notifications and answers: nothing of ours asks anything
        outbox = Outbox()
        outbox.put(await self._answer(session, msg))
        outbox.end()
        return outbox

    async def _answer(self, session: AgentSession, msg: Message) -> Message:
        method, req_id = msg["method"], msg["id"]
        params = as_dict(msg.get("params"))
        if method == "ping":
            return {"jsonrpc": "2.0", "id": req_id, "result": {}}
        if method == "tools/list":
            return {"jsonrpc": "2.0", "id": req_id, "result": {"tools": TOOLS}}
        if method != "tools/call":
            return error_response(req_id, f"Method not found: {method}", code=-32601)
        name, args = params.get("name"), json_object(params.get("arguments") or {})
        call = getattr(self, f"_tool_{name}", None) if name in {t["name"] for t in TOOLS} else None
        if call is None or args is None:
            why = f"unknown tool {name!r}" if call is None else "arguments must be an object"
            return error_response(req_id, why, code=-32602)
        try:
            structured = await call(session, args)
        except (ToolError, UserError) as exc:
            return _failed(req_id, str(exc))
        except LockStoreUnavailable as exc:  # never "not acquired": the outcome is unknown
            return _failed(req_id, f"{exc} (the outcome is unknown: try again)")
        result = {"content": [{"type": "text", "text": json.dumps(structured)}], "structuredContent": structured}
        return {"jsonrpc": "2.0", "id": req_id, "result": result}

    def cancel(self, session: AgentSession, agent_id: Any) -> None:
        return None  # every tool answers at once

    def close_session(self, session: AgentSession) -> None:
        """The session ended: its session-bound leases go with it."""
        self.sessions.pop(session.id, None)
        held = self._bound.pop(session.id, [])
        if held:
            task = asyncio.ensure_future(self._release_all(held))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def _release_all(self, held: list[_Held]) -> None:
        try:
            service = await self.leases()
            for lease in held:
                await service.release(lease.task, lease.owner, lease.token)
        except LockStoreUnavailable:
            pass  # its TTL ends it

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            self.close_session(session)
        await asyncio.gather(*self._releasing, return_exceptions=True)

    # --- the tools ---------------------------------------------------------------------------

    def _running(self) -> Orchestrator:
        orchestrator = self.orchestrator()
        if orchestrator is None:
            raise ToolError("the servers are not running yet")
        return orchestrator

    async def _tool_list_servers(self, session: AgentSession, args: dict[str, Any]) -> dict[str, Any]:
        full = args.get("full", False)
        if not isinstance(full, bool):
            raise ToolError("full must be true or false")
        fields = ("name", "type", "state", "pid", "restarts", "uptime_s", "last_error", "protocol_version")
        snaps = self._running().snapshot()
        if full:
            return {"servers": [s.to_dict() for s in snaps]}
        return {"servers": [{k: v for k, v in s.to_dict().items() if k in fields} for s in snaps]}

    async def _tool_server_logs(self, session: AgentSession, args: dict[str, Any]) -> dict[str, Any]:
        server = _text(args, "server")
        lines = args.get("lines", 50)
        if not isinstance(lines, int) or isinstance(lines, bool) or not 1 <= lines <= 200:
            raise ToolError("lines must be an integer from 1 to 200")
        return {"server": server, "lines": self._running().stderr_tail(server, lines)}

    async def _tool_restart_server(self, session: AgentSession, args: dict[str, Any]) -> dict[str, Any]:
        snapshot = await self._running().restart(_text(args, "server"))
        return {"server": snapshot.to_dict()}

    def _owner(self, session: AgentSession, args: dict[str, Any]) -> str:
        if "owner" in args:
            return _text(args, "owner")
        client = session.client_info.get("name") if isinstance(session.client_info.get("name"), str) else "agent"
        return f"{client} (session {session.id[:8]})"

    async def _tool_acquire_lease(self, session: AgentSession, args: dict[str, Any]) -> dict[str, Any]:
        task, owner, ttl = _text(args, "task"), self._owner(session, args), parse_ttl_ms(args.get("ttl_ms"))
        bind = args.get("bind_to_session", True)
        if not isinstance(bind, bool):
            raise ToolError("bind_to_session must be true or false")
        service = await self.leases()
        lease = await service.acquire(task, owner, ttl)
        if lease is None:  # who holds it (absent if they let go just now: try again)
            holder = await service.get(task)
            return {"acquired": False, **({"holder": lease_out(holder)} if holder else {})}
        if bind:
            self._bound.setdefault(session.id, []).append(_Held(task, owner, lease.token))
        return {"acquired": True, "lease": lease_out(lease)}

    async def _tool_renew_lease(self, session: AgentSession, args: dict[str, Any]) -> dict[str, Any]:
        task, token, ttl = _text(args, "task"), _int(args, "token"), parse_ttl_ms(args.get("ttl_ms"))
        owner = self._owner(session, args)
        lease = await (await self.leases()).renew(task, owner, token, ttl)
        return {"renewed": lease is not None, **({"lease": lease_out(lease)} if lease else {})}

    async def _tool_release_lease(self, session: AgentSession, args: dict[str, Any]) -> dict[str, Any]:
        task, token, owner = _text(args, "task"), _int(args, "token"), self._owner(session, args)
        released = await (await self.leases()).release(task, owner, token)
        held = self._bound.get(session.id, [])
        self._bound[session.id] = [h for h in held if (h.task, h.token) != (task, token)]
        return {"released": released}

    async def _tool_list_leases(self, session: AgentSession, args: dict[str, Any]) -> dict[str, Any]:
        return {"leases": [lease_out(lease) for lease in await (await self.leases()).list()]}


def _failed(req_id: Any, text: str) -> Message:
    return {"jsonrpc": "2.0", "id": req_id, "result": {"content": [{"type": "text", "text": text}], "isError": True}}


def _text(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise ToolError(f"{key} must be a non-empty string")
    return value


def _int(args: dict[str, Any], key: str) -> int:
    value = args.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolError(f"{key} must be an integer")
    return value
