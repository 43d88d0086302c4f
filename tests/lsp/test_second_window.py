"""Two editor windows on one workspace file: one copy of each server (DESIGN §10). The second
language server follows the first (its servers, its gateway), starts nothing, forwards a
restart, and takes over when the first ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.conftest import (
    SERVER_COMMAND,
    SERVER_ENV,
    TIMEOUT,
    command,
    fake,
    messages,
    open_session,
    record,
    wait_states,
    wait_until,
    workspace_text,
)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND, server_env=SERVER_ENV))
async def second(lsp_client: LanguageClient):
    record(lsp_client)
    yield
    if lsp_client.capabilities is not None:
        await asyncio.wait_for(lsp_client.shutdown_session(), TIMEOUT)


def _language_servers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if p.cmdline()[-2:] == ["mcp_marshal", "lsp"]]


def _fakes_under(proc: psutil.Process) -> set[int]:
    return {p.pid for p in proc.children(recursive=True) if any("fake_server" in a for a in p.cmdline())}


async def test_a_second_window_uses_the_first_ones_servers(
    client: LanguageClient, second: LanguageClient, tmp_path: Path
) -> None:
    ws = tmp_path / "two.code-workspace"
    ws.write_text(workspace_text({"a": fake(), "b": fake()}))
    await open_session(client, ws)
    first_listed = await wait_states(client, {"a": "ready", "b": "ready"})
    first_lsp = next(p for p in _language_servers())
    gateway = await command(client, "mcpMarshal.gateway")
    assert gateway["url"].startswith("http://127.0.0.1:") and len(gateway["token"]) >= 32
    assert [s["name"] for s in gateway["servers"]] == ["a", "b"] and gateway["marshal"].endswith("/mcp/marshal")
    rec: Any = client.rec  # type: ignore[attr-defined]
    await wait_until(lambda: any(g["url"] == gateway["url"] for g in rec.gateway), "mcpMarshal/gatewayChanged")
    assert all("token" not in g for g in rec.gateway)  # the token only comes on request

    await open_session(second, ws)
    await wait_until(
        lambda: any("is supervised by the MCP Marshal language server" in m for m in messages(second)),
        "the second window saying who supervises the file",
    )
    listed = await command(second, "mcpMarshal.listServers")
    assert listed["owner"]["pid"] == first_lsp.pid
    pids = {s["name"]: s["pid"] for s in listed["servers"]}
    assert pids == {n: s["pid"] for n, s in first_listed.items()}  # the first window's processes
    second_lsp = next(p for p in _language_servers() if p.pid != first_lsp.pid)
    assert _fakes_under(second_lsp) == set()  # no copy of its own
    followed = await command(second, "mcpMarshal.gateway")
    assert (followed["url"], followed["token"]) == (gateway["url"], gateway["token"])
    assert followed["owner"]["pid"] == first_lsp.pid

    restarted = await command(second, "mcpMarshal.restartServer", "a")  # done by the first window
    assert restarted["state"] == "ready" and restarted["pid"] != pids["a"]
    assert restarted["pid"] in _fakes_under(first_lsp)
    # its rows stay live: the owner's change reaches the second window as the views expect it
    seen: Any = second.rec  # type: ignore[attr-defined]
    live = await wait_until(
        lambda: [s for s in seen.states if s["name"] == "a" and s["pid"] == restarted["pid"] and s["state"] == "ready"],
        "serverStateChanged in the second window for the restart done by the first",
    )
    assert live[0]["server"]["pid"] == restarted["pid"]
    with pytest.raises(JsonRpcException, match="supervised by"):  # only the supervising window stops
        await command(second, "mcpMarshal.stopServer", "b")

    # the first window closes: the second supervises from now on, with processes of its own
    await asyncio.wait_for(client.shutdown_session(), TIMEOUT)
    client.capabilities = None
    await wait_until(lambda: any("supervising it here now" in m for m in messages(second)), "the takeover")
    taken = await wait_states(second, {"a": "ready", "b": "ready"})
    assert {s["pid"] for s in taken.values()} <= _fakes_under(second_lsp)
    assert (await command(second, "mcpMarshal.listServers")).get("owner") is None
    assert (await command(second, "mcpMarshal.gateway"))["url"] is not None
    assert not [m for m in messages(second, types.MessageType.Error)]
