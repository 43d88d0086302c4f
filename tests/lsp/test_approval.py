"""Trust per server through the language server: a server that is new or changed since the user
approved it is not spawned; the row says so; the editor's answer or a terminal's
``mcp-marshal trust`` starts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_lsp import LanguageClient

from tests.lsp.conftest import (
    command,
    fake,
    open_session,
    run_cli,
    servers,
    wait_states,
    wait_until,
    workspace_text,
    write_atomic,
)

ASKED = "since you approved it"


async def test_a_declined_new_server_waits_marked_until_approved(client: LanguageClient, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    ws = tmp_path / "t.code-workspace"
    ws.write_text(workspace_text({"a": fake()}))
    await open_session(client, ws)
    await wait_states(client, {"a": "ready"})
    assert not [p for p in client.rec.prompts if ASKED in p.message]  # type: ignore[attr-defined]  # the first trust approves

    write_atomic(ws, workspace_text({"a": fake(), "added": fake(FAKE_PIDFILE=pidfile)}))
    prompt = await wait_until(lambda: [p for p in client.rec.prompts if ASKED in p.message], "the approval prompt")  # type: ignore[attr-defined]
    assert "added (new)" in prompt[0].message and [a.title for a in prompt[0].actions] == [
        "Approve and Start",
        "Not now",
    ]
    # dismissed: the row says why it does not run, and starting it is refused, saying why
    row = (await servers(client))["added"]
    assert row["state"] == "stopped" and row["needs_approval"] is True and row["changed"] == ["new"]
    with pytest.raises(Exception, match="needs approval"):
        await command(client, "mcpMarshal.startServer", "added")
    assert not pidfile.exists()  # never spawned

    await command(client, "mcpMarshal.approveServers", "added")
    listed = await wait_states(client, {"added": "ready"})
    assert listed["added"]["needs_approval"] is False and pidfile.exists()


async def test_a_terminal_approval_reaches_the_editor(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "c.code-workspace"
    ws.write_text(workspace_text({"a": fake()}))
    await open_session(client, ws)
    before = await wait_states(client, {"a": "ready"})
    write_atomic(ws, workspace_text({"a": fake(FAKE_NAME="changed")}))
    await wait_until(lambda: [p for p in client.rec.prompts if "a (env changed)" in p.message], "the approval prompt")  # type: ignore[attr-defined]
    assert (await servers(client))["a"]["needs_approval"] is True

    code, result = await run_cli("trust", str(ws))
    assert code == 0 and result["approved"] == ["a"]
    listed = await wait_states(client, {"a": "ready"})
    assert listed["a"]["needs_approval"] is False and listed["a"]["pid"] != before["a"]["pid"]
