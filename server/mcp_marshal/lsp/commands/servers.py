"""Server commands: list, start, stop, restart, restart all, show logs, reload, trust."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_marshal.lsp.commands.args import Args, Command

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession


async def list_servers(session: WorkspaceSession | None, args: Args) -> dict[str, Any]:
    args.at_most(0)
    if session is None:
        return {"workspaceFile": None, "trusted": False, "servers": []}
    return {"workspaceFile": str(session.file), "trusted": session.trusted, "servers": session.servers()}


def _name(args: Args) -> str:
    name = args.text(0, "NAME")
    args.at_most(1)
    return name


async def start_server(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    return (await session.require_orchestrator().start(_name(args))).to_dict()


async def stop_server(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    return (await session.require_orchestrator().stop(_name(args))).to_dict()


async def restart_server(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    return await session.restart(_name(args))


async def restart_all(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    await session.require_orchestrator().restart_all()
    return {"servers": session.servers()}


async def show_logs(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    name = _name(args)
    return {"name": name, "lines": session.show_logs(name)}


async def reload_config(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    return await session.reload()


async def trust_workspace(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    await session.trust()
    return {"trusted": True, "servers": session.servers()}


COMMANDS: dict[str, Command] = {
    "mcpMarshal.listServers": Command("mcpMarshal.listServers", list_servers, needs_workspace=False),
    "mcpMarshal.startServer": Command("mcpMarshal.startServer NAME", start_server),
    "mcpMarshal.stopServer": Command("mcpMarshal.stopServer NAME", stop_server),
    "mcpMarshal.restartServer": Command("mcpMarshal.restartServer NAME", restart_server),
    "mcpMarshal.restartAll": Command("mcpMarshal.restartAll", restart_all),
    "mcpMarshal.showLogs": Command("mcpMarshal.showLogs NAME", show_logs),
    "mcpMarshal.reloadConfig": Command("mcpMarshal.reloadConfig", reload_config),
    "mcpMarshal.trustWorkspace": Command("mcpMarshal.trustWorkspace", trust_workspace),
}
