"""Server commands: list, start, stop, restart, restart all, show logs, reload, trust."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from mcp_marshal.errors import NotNow
from mcp_marshal.gateway.attach import owner_call, owner_of, owner_servers
from mcp_marshal.lsp.commands.args import Args, Command
from mcp_marshal.supervise.mcp_stdio import as_dict
from mcp_marshal.wire import ApproveResult, ListServersResult, ReloadResult, ServersResult, ShowLogsResult

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession


async def list_servers(session: WorkspaceSession | None, args: Args) -> dict[str, Any]:
    args.at_most(0)
    if session is None:
        return ListServersResult.model_validate({}).to_dict()
    fields: dict[str, Any] = {"workspaceFile": str(session.file), "trusted": session.trusted}
    elsewhere = session.supervisor.elsewhere
    if (owner := owner_of(elsewhere)) is not None:  # a window following another supervisor shows its servers
        try:
            fields |= {"servers": await owner_servers(elsewhere, session.file), "owner": owner}
        except NotNow as exc:
            fields |= {"servers": session.supervisor.snapshots(), "owner": owner, "reason": str(exc)}
    else:
        fields["servers"] = session.supervisor.snapshots()
    return ListServersResult.model_validate(fields).to_dict()


def _name(args: Args) -> str:
    name = args.text(0, "NAME")
    args.at_most(1)
    return name


async def start_server(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    return (await session.supervisor.require_orchestrator().start(_name(args))).to_dict()


async def stop_server(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    return (await session.supervisor.require_orchestrator().stop(_name(args))).to_dict()


async def restart_server(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    name = _name(args)
    elsewhere = session.supervisor.elsewhere
    if elsewhere is not None:  # the supervising process restarts it
        answer = await owner_call(elsewhere, session.file, "restart_server", {"server": name})
        return as_dict(answer.get("server"))
    return (await session.supervisor.require_orchestrator().restart(name)).to_dict()


async def restart_all(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    await session.supervisor.require_orchestrator().restart_all()
    return ServersResult(servers=session.supervisor.snapshots()).to_dict()


async def show_logs(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    name = _name(args)
    return ShowLogsResult(name=name, lines=session.show_logs(name)).to_dict()


async def reload_config(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    outcome = await session.supervisor.reload()
    plan = outcome.plan
    return ReloadResult(
        applied=outcome.applied,
        summary=plan.summary() if plan is not None else None,
        plan={k: list(v) for k, v in dataclasses.asdict(plan).items()} if plan is not None else None,
        problems=[p.format() for p in outcome.problems],
        reason=outcome.reason or None,
    ).to_dict()


async def approve_servers(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    """Approve the current launch of NAMEs (all that need approval when none is named) and
    start them: the user's answer to "needs approval"."""
    names = [args.text(i, "NAME") for i in range(len(args.raw))]
    approved = await session.supervisor.approve(names or None)
    return ApproveResult(approved=approved, servers=session.supervisor.snapshots()).to_dict()


async def trust_workspace(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    await session.trust()
    return ServersResult(trusted=True, servers=session.supervisor.snapshots()).to_dict()


COMMANDS: dict[str, Command] = {
    "mcpMarshal.listServers": Command("mcpMarshal.listServers", list_servers, needs_workspace=False),
    "mcpMarshal.startServer": Command("mcpMarshal.startServer NAME", start_server),
    "mcpMarshal.stopServer": Command("mcpMarshal.stopServer NAME", stop_server),
    "mcpMarshal.restartServer": Command("mcpMarshal.restartServer NAME", restart_server),
    "mcpMarshal.restartAll": Command("mcpMarshal.restartAll", restart_all),
    "mcpMarshal.showLogs": Command("mcpMarshal.showLogs NAME", show_logs),
    "mcpMarshal.reloadConfig": Command("mcpMarshal.reloadConfig", reload_config),
    "mcpMarshal.trustWorkspace": Command("mcpMarshal.trustWorkspace", trust_workspace),
    "mcpMarshal.approveServers": Command("mcpMarshal.approveServers [NAME...]", approve_servers),
}
