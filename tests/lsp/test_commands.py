"""Every command with good and bad arguments: JSON objects back, InvalidParams for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.lsp.conftest import command, fake, open_session, wait_states, wait_until, workspace_text
from tests.support import pid_alive

BAD_ARGS = [
    ("mcpMarshal.startServer", [], "missing NAME"),
    ("mcpMarshal.startServer", ["nope"], "nope"),
    ("mcpMarshal.stopServer", [42], "NAME must be a non-empty string, got the number 42"),
    ("mcpMarshal.restartServer", [""], "NAME must be a non-empty string, got an empty string"),
    ("mcpMarshal.restartServer", ["nope"], "nope"),
    ("mcpMarshal.showLogs", [{"name": "a"}], "got an object"),
    ("mcpMarshal.showLogs", ["a", "extra"], "at most 1 argument"),
    ("mcpMarshal.listServers", ["x"], "at most 0 argument"),
    ("mcpMarshal.restartAll", [None], "at most 0 argument"),
]


async def test_commands(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "c.code-workspace"
    ws.write_text(
        workspace_text(
            {
                "a": fake(FAKE_STDERR="hello from a"),
                "b": {**fake(), "dependsOn": ["a"]},
                "lazy": {**fake(), "autoStart": False},
            }
        )
    )
    await open_session(client, ws)
    listed = await wait_states(client, {"a": "ready", "b": "ready", "lazy": "stopped"})
    full = await command(client, "mcpMarshal.listServers")
    assert full["workspaceFile"] == str(ws) and full["trusted"] is True
    assert [s["name"] for s in full["servers"]] == ["a", "b", "lazy"]

    started = await command(client, "mcpMarshal.startServer", "lazy")
    assert started["name"] == "lazy" and started["state"] == "ready" and pid_alive(started["pid"])

    stopped = await command(client, "mcpMarshal.stopServer", "lazy")
    assert stopped == {**stopped, "name": "lazy", "state": "stopped"}
    assert not pid_alive(started["pid"])

    old_pid = listed["a"]["pid"]
    restarted = await command(client, "mcpMarshal.restartServer", "a")
    assert restarted["state"] == "ready" and restarted["pid"] != old_pid and not pid_alive(old_pid)

    everything = await command(client, "mcpMarshal.restartAll")
    assert {s["name"]: s["state"] for s in everything["servers"]} == {"a": "ready", "b": "ready", "lazy": "stopped"}

    logs = await command(client, "mcpMarshal.showLogs", "a")
    # FAKE_STDERR's value is an env value, so a secret: the tail holds it redacted, never in clear
    assert logs["name"] == "a" and "<redacted>" in logs["lines"] and "hello from a" not in logs["lines"]
    # every env value counts as a secret, so the line (FAKE_STDERR's own value) reaches the log redacted
    await wait_until(
        lambda: any("[a] last" in m.message and "<redacted>" in m.message for m in client.log_messages),
        "the logs in window/logMessage",
    )
    # stderr lines are forwarded as they come, prefixed with the server's name
    assert any(m.message == "[a] <redacted>" and m.type == types.MessageType.Log for m in client.log_messages)
    assert not [m for m in client.log_messages if "hello from a" in m.message]

    reloaded = await command(client, "mcpMarshal.reloadConfig")
    assert reloaded["applied"] is False and reloaded["summary"] == "no changes"
    assert (await command(client, "mcpMarshal.trustWorkspace"))["trusted"] is True

    for name, args, expected in BAD_ARGS:
        with pytest.raises(JsonRpcInvalidParams) as caught:
            await command(client, name, *args)
        assert expected in str(caught.value), (name, args, str(caught.value))
    # nothing crashed and nothing was shown as "Error in server"
    assert not [m for m in client.messages if "Error in server" in m.message]
    await wait_states(client, {"a": "ready", "b": "ready"})


async def test_what_a_server_echoes_is_redacted_in_results_and_notifications(
    client: LanguageClient, tmp_path: Path
) -> None:
    canary = "canary-Lsp-7d41b0"
    leaky = fake(TOKEN=canary, FAKE_ECHO_ENV="TOKEN")
    ws = tmp_path / "leak.code-workspace"
    ws.write_text(
        workspace_text(
            {"echoes": leaky, "refuses": {**leaky, "env": {**leaky["env"], "FAKE_REFUSE_INIT": "1"}}},
            restart={"maxRestarts": 0},
        )
    )
    await open_session(client, ws)
    listed = await wait_states(client, {"echoes": "ready", "refuses": "failed"})
    assert listed["echoes"]["server_info"]["name"] == "fake built with <redacted>"
    assert "the token <redacted> is not valid" in listed["refuses"]["last_error"]
    results = [
        listed,
        await command(client, "mcpMarshal.restartServer", "echoes"),
        await command(client, "mcpMarshal.startServer", "refuses"),
        client.rec.states,  # type: ignore[attr-defined]
        [p.message for p in client.rec.prompts],  # type: ignore[attr-defined]
        [m.message for m in client.log_messages],
    ]
    assert canary not in json.dumps(results)
