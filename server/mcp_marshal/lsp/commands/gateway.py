"""Where agents reach the supervised servers (``mcpMarshal.gateway``), and the commands that a
window following another supervisor (a second window, an ``mcp-marshal up``) answers with that
process's servers: it starts none of its own (DESIGN §10: one copy per workspace file)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_marshal.errors import NotNow
from mcp_marshal.gateway import discovery
from mcp_marshal.gateway.attach import call_owner_tool
from mcp_marshal.gateway.marshal import NAME as MARSHAL
from mcp_marshal.lsp.commands.args import Args, Command
from mcp_marshal.paths import StateUnavailable
from mcp_marshal.wire import GatewayEndpoint, GatewayOwner, GatewayResult, ServerSnapshot

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession


def owner_of(session: WorkspaceSession) -> GatewayOwner | None:
    """The process the session follows, if it follows one."""
    owner = session.supervisor.elsewhere
    if owner is None:
        return None
    pid = owner.get("pid")
    return GatewayOwner(pid=pid if isinstance(pid, int) else None, kind=str(owner.get("kind") or ""))


def _owner_url(session: WorkspaceSession) -> str | None:
    owner = session.supervisor.elsewhere or {}
    url = owner.get("url")
    return url if isinstance(url, str) and url else None


async def owner_call(session: WorkspaceSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A marshal tool of the followed process's gateway (``NotNow`` when it does not serve)."""
    url = _owner_url(session)
    if url is None:
        raise NotNow(f"{session.file.name} is supervised by another process whose gateway does not serve (yet)")
    try:
        token = discovery.token(session.file)
    except (StateUnavailable, OSError) as exc:
        raise NotNow(f"the gateway token cannot be read: {exc}") from exc
    return await call_owner_tool(url, token, tool, arguments)


async def owner_servers(session: WorkspaceSession) -> list[ServerSnapshot]:
    answer = await owner_call(session, "list_servers", {"full": True})
    servers = answer.get("servers")
    return [ServerSnapshot.model_validate(s) for s in servers] if isinstance(servers, list) else []


async def gateway_info(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    gateway = session.supervisor.gateway
    if gateway.url is not None and gateway.token is not None:
        url, token = gateway.url, gateway.token
        names = list(gateway.endpoints())
    elif (owner := owner_of(session)) is not None:
        url = _owner_url(session)
        if url is None:
            return GatewayResult(owner=owner, reason="the supervising process does not serve a gateway (yet)").to_dict()
        try:
            token = discovery.token(session.file)
        except (StateUnavailable, OSError) as exc:
            return GatewayResult(owner=owner, reason=f"the gateway token cannot be read: {exc}").to_dict()
        listed = (session.supervisor.elsewhere or {}).get("servers")
        names = [*(str(n) for n in listed), MARSHAL] if isinstance(listed, list) else [MARSHAL]
    else:
        config = session.supervisor.config
        if config is None:
            reason = "the workspace file has no valid configuration"
        elif not config.gateway.enabled:
            reason = "the gateway is disabled (mcpMarshal.gateway.enabled)"
        elif not session.trusted:
            reason = f"{session.file.name} is not trusted yet"
        else:
            reason = "the gateway is not serving (see the output for why)"
        return GatewayResult(reason=reason).to_dict()
    servers = [GatewayEndpoint(name=n, url=f"{url}/mcp/{n}") for n in names if n != MARSHAL]
    return GatewayResult(
        url=url, token=token, servers=servers, marshal=f"{url}/mcp/{MARSHAL}", owner=owner_of(session)
    ).to_dict()


COMMANDS: dict[str, Command] = {
    "mcpMarshal.gateway": Command("mcpMarshal.gateway", gateway_info),
}
