"""A client that renders logs and failures itself (the VS Code extension, ``views: true``) gets
them as typed notifications; a generic LSP client gets log lines and a prompt instead."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from mcp_marshal.wire import ServerFailedParams, ServerLogParams
from tests.lsp.conftest import fake, open_session, wait_states, wait_until, workspace_text

RESTART = {"maxRestarts": 1, "initialDelayMs": 50, "maxDelayMs": 100, "resetAfterMs": 60000}


async def test_views_get_server_logs_and_failures_as_data(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "v.code-workspace"
    servers = {"chatty": fake(FAKE_STDERR="hello [there]"), "doomed": fake(FAKE_CRASH_AT_START=1, FAKE_EXIT_CODE=4)}
    ws.write_text(workspace_text(servers, restart=RESTART))
    await open_session(client, ws, views=True)
    await wait_states(client, {"chatty": "ready", "doomed": "failed"})

    logs = await wait_until(lambda: [x for x in client.rec.server_logs if x["name"] == "chatty"], "chatty's log")  # type: ignore[attr-defined]
    assert ServerLogParams.model_validate(logs[0]) == ServerLogParams(name="chatty", stream="stderr", line="<redacted>")
    failed = await wait_until(lambda: client.rec.failed, "the serverFailed notification")  # type: ignore[attr-defined]
    params = ServerFailedParams.model_validate(failed[0])
    assert (
        params.name == "doomed"
        and "exited (code 4)" in params.reason
        and params.message.startswith("MCP server 'doomed' failed")
    )
    assert any("crashing at start" in line for line in params.stderr_tail)
    # neither a "[name] line" log string nor a prompt: the client renders both from the data
    assert not [m for m in client.log_messages if m.message.startswith(("[chatty]", "[doomed]"))]
    assert client.rec.prompts == []  # type: ignore[attr-defined]


async def test_editors_with_their_own_json_checker_get_no_syntax_diagnostics(
    client: LanguageClient, tmp_path: Path
) -> None:
    ws = tmp_path / "j.code-workspace"
    good = workspace_text({"a": fake()})
    ws.write_text(good)
    await open_session(client, ws, syntaxDiagnostics=False)
    await wait_states(client, {"a": "ready"})
    uri = ws.as_uri()

    def change(version: int, text: str) -> None:
        change = types.TextDocumentContentChangeWholeDocument(text)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(version=version, uri=uri), [change])
        )

    wrong = good.replace('"args"', '"argz"', 1)  # not syntax: a problem only we know about
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "jsonc", 1, wrong)))
    diagnostics = await wait_until(lambda: client.diagnostics.get(uri), "the unknown-field diagnostic")
    assert [d.code for d in diagnostics] == ["invalid"] and "argz" in diagnostics[0].message
    change(2, good.replace('"args"', '"args" "oops"', 1))  # a syntax error: the editor's JSON checker says it
    await wait_until(lambda: uri in client.diagnostics and not client.diagnostics[uri], "the diagnostics to clear")
    change(3, wrong)
    await wait_until(lambda: client.diagnostics.get(uri), "the unknown-field diagnostic again")
