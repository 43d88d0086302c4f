"""``${input:ID}``: asked of the client, else read from MCP_MARSHAL_INPUT_<ID>, else a failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from pytest_lsp.client import captured_exception_key

from tests.lsp.conftest import ENV_INPUT, fake, open_session, wait_states, wait_until, workspace_text

SECRET = "s3cret-Value-42"


def _workspace(tmp_path: Path, servers: dict[str, Any]) -> Path:
    ws = tmp_path / "i.code-workspace"
    inputs = [
        {"id": "token", "description": "API token", "password": True},
        {"id": "from-env", "description": "from the environment"},
        {"id": "missing", "description": "nobody knows"},
    ]
    ws.write_text(workspace_text(servers, inputs=inputs))
    return ws


async def test_inputs_from_client_then_environment(client: LanguageClient, tmp_path: Path) -> None:
    client.rec.inputs = {"token": SECRET}  # type: ignore[attr-defined]
    ws = _workspace(
        tmp_path,
        {
            "by-client": fake(FAKE_PIDFILE=str(tmp_path / "${input:token}.pid")),
            "by-env": fake(FAKE_PIDFILE=str(tmp_path / "${input:from-env}.pid")),
            "unresolved": fake(FAKE_NAME="${input:missing}"),
        },
    )
    await open_session(client, ws)
    listed = await wait_states(client, {"by-client": "ready", "by-env": "ready", "unresolved": "failed"})
    assert (tmp_path / f"{SECRET}.pid").exists()
    assert (tmp_path / f"{ENV_INPUT[1]}.pid").exists()
    assert "missing" in (listed["unresolved"]["last_error"] or "")
    requests = client.rec.input_requests  # type: ignore[attr-defined]
    assert {"id": "token", "description": "API token", "password": True} in requests
    assert {r["id"] for r in requests} == {"token", "from-env", "missing"}

    prompt = await wait_until(lambda: client.rec.prompts, "the failure prompt")  # type: ignore[attr-defined]
    assert "'unresolved' failed" in prompt[0].message and "missing" in prompt[0].message

    # secrets never leave the server in messages, logs or notifications
    seen = [m.message for m in client.messages] + [m.message for m in client.log_messages]
    seen += [str(s) for s in client.rec.states]  # type: ignore[attr-defined]
    assert not [text for text in seen if SECRET in text or ENV_INPUT[1] in text]


async def test_client_without_input_support_falls_back_to_environment(
    client: LanguageClient, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    client.rec.inputs = {"from-env": "never-asked"}  # type: ignore[attr-defined]
    del client.protocol.fm.features["mcpMarshal/resolveInput"]  # the client answers MethodNotFound
    ws = _workspace(tmp_path, {"by-env": fake(FAKE_PIDFILE=str(tmp_path / "${input:from-env}.pid"))})
    await open_session(client, ws)
    await wait_states(client, {"by-env": "ready"})
    assert (tmp_path / f"{ENV_INPUT[1]}.pid").exists()
    assert not [m for m in client.messages if m.type == types.MessageType.Error]
    # pytest-lsp records the client's own MethodNotFound answer as an error; it is what we test
    request.node.stash[captured_exception_key] = None
