"""Where agents reach the supervised servers (``mcpMarshal.gateway``), and the commands that a
window following another supervisor (a second window, an ``mcp-marshal up``) answers with that
process's servers: it starts none of its own (DESIGN §10: one copy per workspace file)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_marshal.gateway import discovery
from mcp_marshal.gateway.attach import owner_of, owner_url
from mcp_marshal.gateway.marshal import NAME as MARSHAL
from mcp_marshal.lsp.commands.args import Args, Command
from mcp_marshal.paths import StateUnavailable
from mcp_marshal.wire import GatewayEndpoint, GatewayResult

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession


async def gateway_info(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    gateway = session.supervisor.gateway
    if gateway.url is not None and gateway.token is not None:
        url, token = gateway.url, gateway.token
        names = list(gateway.endpoints())
    elif (owner := owner_of(session.supervisor.elsewhere)) is not None:
        url = owner_url(session.supervisor.elsewhere)
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
        url=url,
        token=token,
        servers=servers,
        marshal=f"{url}/mcp/{MARSHAL}",
        owner=owner_of(session.supervisor.elsewhere),
    ).to_dict()


COMMANDS: dict[str, Command] = {
    "mcpMarshal.gateway": Command("mcpMarshal.gateway", gateway_info),
}
