"""Edits of the workspace file on disk: the planned processes change, nothing else does."""

from __future__ import annotations

import time
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import (
    fake,
    messages,
    open_session,
    wait_states,
    wait_until,
    workspace_text,
    write_atomic,
)
from tests.support import pid_alive

INFO = types.MessageType.Info
APPROVE = "Approve and Start"


async def test_reload_add_change_remove(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "r.code-workspace"
    base = {
        "keep": fake(),
        "change": fake(FAKE_NAME="v1"),
        "dependent": {**fake(), "dependsOn": ["change"]},
        "remove": fake(),
    }
    ws.write_text(workspace_text(base))
    await open_session(client, ws)
    before = await wait_states(client, dict.fromkeys(base, "ready"))

    # rename-over save: add one, change one (its dependent restarts too), remove one; the new
    # and the changed launch wait for the user's approval, which names what changed
    client.rec.answer = lambda p: APPROVE if "since you approved it" in p.message else None  # type: ignore[attr-defined]
    edited = {k: v for k, v in base.items() if k != "remove"}
    edited["change"] = fake(FAKE_NAME="v2")
    edited["added"] = fake()
    t0 = time.perf_counter()
    write_atomic(ws, workspace_text(edited))
    summary = "MCP: configuration reloaded: +1 started, 2 restarted, 1 stopped; 2 wait for approval: added, change"
    await wait_until(lambda: summary in messages(client, INFO), "the summary")
    print(f"file write → plan applied: {(time.perf_counter() - t0) * 1000:.0f} ms")
    after = await wait_states(client, dict.fromkeys(edited, "ready"))
    (prompt,) = [p.message for p in client.rec.prompts if "since you approved it" in p.message]  # type: ignore[attr-defined]
    assert "change (env changed)" in prompt and "added (new)" in prompt, prompt
    assert "remove" not in after
    assert client.rec.removed == [{"name": "remove"}]  # type: ignore[attr-defined]  # the view drops its row
    assert not pid_alive(before["remove"]["pid"])
    assert after["keep"]["pid"] == before["keep"]["pid"]
    for name in ("change", "dependent"):
        assert after[name]["pid"] != before[name]["pid"] and not pid_alive(before[name]["pid"])
    assert pid_alive(after["added"]["pid"])

    # an in-place write of a policy-only change: no process changes
    edited["keep"] = {**fake(), "health": {"pingTimeoutMs": 3000}}
    ws.write_text(workspace_text(edited))
    await wait_until(lambda: "MCP: configuration reloaded: 1 updated" in messages(client, INFO), "the update summary")
    again = await wait_states(client, dict.fromkeys(edited, "ready"))
    assert {n: s["pid"] for n, s in again.items()} == {n: s["pid"] for n, s in after.items()}
    summaries = [m for m in messages(client, INFO) if m.startswith("MCP: ")]
    assert summaries == [summary, "MCP: configuration reloaded: 1 updated"]  # one per reload


def _cleared(client: LanguageClient, uri: str) -> bool:
    return uri in client.diagnostics and len(client.diagnostics[uri]) == 0


def _position(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


async def test_invalid_edit_publishes_diagnostics_and_keeps_running(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "d.code-workspace"
    good = workspace_text({"a": fake(), "b": fake()})
    ws.write_text(good)
    await open_session(client, ws)
    before = await wait_states(client, {"a": "ready", "b": "ready"})
    uri = ws.as_uri()

    bad = workspace_text({"a": fake(), "b": {**fake(), "dependsOn": ["ghost"]}})
    write_atomic(ws, bad)
    diagnostics = await wait_until(lambda: client.diagnostics.get(uri), "diagnostics on the file")
    (diag,) = diagnostics
    line, character = _position(bad, '"ghost"')
    assert diag.source == "mcp-marshal" and diag.severity == types.DiagnosticSeverity.Error
    assert "ghost" in diag.message
    assert (diag.range.start.line, diag.range.start.character) == (line, character)
    assert (diag.range.end.line, diag.range.end.character) == (line, character + len('"ghost"'))
    still = await wait_states(client, {"a": "ready", "b": "ready"})
    assert {n: s["pid"] for n, s in still.items()} == {n: s["pid"] for n, s in before.items()}

    ws.write_text(good)
    await wait_until(lambda: _cleared(client, uri), "the diagnostics to clear")
    assert not [m for m in messages(client, INFO) if m.startswith("MCP: ")]  # nothing was changed

    # an editor buffer with problems: diagnostics, but the unsaved text is never applied
    broken_buffer = good.replace('"args"', '"argz"', 1)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="jsonc", version=1, text=broken_buffer)
        )
    )
    diagnostics = await wait_until(lambda: client.diagnostics.get(uri), "diagnostics for the buffer")
    line, character = _position(broken_buffer, '"argz"')
    assert diagnostics[0].range.start == types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=good)],
        )
    )
    await wait_until(lambda: _cleared(client, uri), "the buffer's diagnostics to clear")
    unchanged = await wait_states(client, {"a": "ready", "b": "ready"})
    assert {n: s["pid"] for n, s in unchanged.items()} == {n: s["pid"] for n, s in before.items()}


async def test_one_save_is_one_reload(client: LanguageClient, tmp_path: Path) -> None:
    """The watcher alone reloads: an editor's save (the write, then didSave) applies once."""
    ws = tmp_path / "s.code-workspace"
    ws.write_text(workspace_text({"a": fake()}))
    await open_session(client, ws)
    await wait_states(client, {"a": "ready"})
    client.rec.answer = lambda p: APPROVE if "since you approved it" in p.message else None  # type: ignore[attr-defined]
    uri = ws.as_uri()
    text = workspace_text({"a": fake(), "b": fake()})
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(uri, "jsonc", 1, text))
    )
    write_atomic(ws, text)
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri), text))
    await wait_states(client, {"a": "ready", "b": "ready"})
    # a second, different save is the barrier: a duplicate of the first would have come before it
    write_atomic(ws, workspace_text({"a": fake(), "b": fake(), "c": fake()}))
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
    await wait_states(client, {"a": "ready", "b": "ready", "c": "ready"})
    reloads = [m.message for m in client.log_messages if m.message.startswith("MCP: configuration reloaded")]
    assert reloads == [
        "MCP: configuration reloaded: +1 started; 1 wait for approval: b",
        "MCP: configuration reloaded: +1 started; 1 wait for approval: c",
    ]
