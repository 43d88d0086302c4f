"""Initialize → servers start with progress; listServers shows them; shutdown leaves no process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from mcp_marshal.wire import ServerStateChangedParams
from tests.lsp.conftest import (
    UNWRITABLE_STATE,
    command,
    fake,
    open_session,
    servers,
    wait_states,
    wait_until,
    workspace_text,
)
from tests.support import pid_alive


async def test_start_with_progress_then_shutdown_stops_all(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "demo.code-workspace"
    ws.write_text(
        workspace_text(
            {
                "memory": fake(FAKE_NAME="memory"),
                "files": {**fake(FAKE_NAME="files"), "dependsOn": ["memory"]},
                "search": {**fake(FAKE_NAME="search"), "tier": 1},
            }
        )
    )
    t0 = time.perf_counter()
    result = await open_session(client, ws)
    assert result.server_info is not None and result.server_info.name == "mcp-marshal"
    listed = await wait_states(client, {"memory": "ready", "files": "ready", "search": "ready"})
    print(f"initialize → all ready: {time.perf_counter() - t0:.2f} s")
    pids = [s["pid"] for s in listed.values()]
    assert all(isinstance(pid, int) and pid_alive(pid) for pid in pids)

    # progress: begin, "k/3 ready" reports, end
    reports = await wait_until(
        lambda: next(
            (r for r in client.progress_reports.values() if isinstance(r[-1], types.WorkDoneProgressEnd)), None
        ),
        "the start progress to end",
    )
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert any(isinstance(r, types.WorkDoneProgressReport) and r.message == "3/3 ready" for r in reports)
    assert reports[-1].message == "3/3 ready"

    # live view: every state change is the typed contract, with the server's snapshot
    ready = [s for s in client.rec.states if s["state"] == "ready"]  # type: ignore[attr-defined]
    assert {s["name"] for s in ready} == {"memory", "files", "search"}
    for s in ready:
        ServerStateChangedParams.model_validate(s)
        assert s["server"]["name"] == s["name"] and s["server"]["state"] == "ready"
    # the output channel shows the start plan and each server's readiness
    lines = [m.message for m in client.log_messages]
    assert "MCP: starting 3 servers: memory, search → files" in lines
    assert {name for name in ("memory", "files", "search") if any(f"MCP: {name}: ready in" in x for x in lines)} == {
        "memory",
        "files",
        "search",
    }

    await client.shutdown_session()
    client.capabilities = None  # the fixture must not shut down twice
    for pid in pids:
        assert not pid_alive(pid), f"server pid {pid} outlived shutdown"


async def test_idle_without_workspace_file(client: LanguageClient, tmp_path: Path) -> None:
    await open_session(client, None, root=tmp_path)
    await wait_until(lambda: any("idle" in m.message for m in client.messages), "the idle message")
    assert (await servers(client)) == {}
    assert "no *.code-workspace" in client.messages[0].message


async def test_no_state_directory_degrades_but_servers_start(
    client_without_state: LanguageClient, tmp_path: Path
) -> None:
    client = client_without_state
    ws = tmp_path / "nostate.code-workspace"
    ws.write_text(workspace_text({"a": fake()}))
    await open_session(client, ws)
    listed = await wait_states(client, {"a": "ready"})
    assert pid_alive(listed["a"]["pid"])
    services = {"telemetry file", "task leases", "process ledger", "single-supervisor check", "gateway", "approvals"}

    def degraded() -> list[types.ShowMessageParams]:
        found = [m for m in client.messages if m.type == types.MessageType.Warning]
        named = {m.message.removeprefix("MCP: ").split(" unavailable")[0] for m in found}
        return found if named >= services else []

    warnings = await wait_until(degraded, "one warning per degraded service")
    assert len(warnings) == len(services) and all(UNWRITABLE_STATE in m.message for m in warnings)
    # a lease command says why, instead of failing with a traceback
    with pytest.raises(JsonRpcException, match="cannot be used"):
        await command(client, "mcpMarshal.listLocks")
