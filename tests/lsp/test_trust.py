"""An untrusted workspace spawns nothing until the user (or trustWorkspace) accepts it."""

from __future__ import annotations

from pathlib import Path

from pytest_lsp import LanguageClient

from tests.lsp.conftest import command, fake, open_session, servers, wait_states, wait_until, workspace_text
from tests.support import pid_alive


def _workspace(tmp_path: Path) -> tuple[Path, Path]:
    pidfile = tmp_path / "pids"
    ws = tmp_path / "t.code-workspace"
    ws.write_text(workspace_text({"a": fake(FAKE_PIDFILE=pidfile), "b": fake(FAKE_PIDFILE=pidfile)}))
    return ws, pidfile


async def test_not_now_spawns_nothing_until_trust_command(client: LanguageClient, tmp_path: Path) -> None:
    ws, pidfile = _workspace(tmp_path)
    client.rec.answer = lambda p: "Not now"  # type: ignore[attr-defined]
    await open_session(client, ws, trusted=False)
    prompt = await wait_until(lambda: client.rec.prompts, "the trust prompt")  # type: ignore[attr-defined]
    assert prompt[0].message == "Start 2 MCP servers defined in t.code-workspace?"
    assert [a.title for a in prompt[0].actions or []] == ["Start", "Not now"]

    listed = await servers(client)  # answered after the prompt was handled
    assert {s["state"] for s in listed.values()} == {"stopped"}
    assert not pidfile.exists()
    err = await _error_of(client, "mcpMarshal.restartServer", "a")
    assert "not trusted" in err

    result = await command(client, "mcpMarshal.trustWorkspace")
    assert result["trusted"] is True
    listed = await wait_states(client, {"a": "ready", "b": "ready"})
    assert all(pid_alive(s["pid"]) for s in listed.values())


async def test_start_answer_starts_servers(client: LanguageClient, tmp_path: Path) -> None:
    ws, pidfile = _workspace(tmp_path)
    client.rec.answer = lambda p: "Start"  # type: ignore[attr-defined]
    await open_session(client, ws, trusted=False)
    await wait_states(client, {"a": "ready", "b": "ready"})
    assert len(pidfile.read_text().split()) == 2


async def _error_of(client: LanguageClient, name: str, *args: object) -> str:
    try:
        await command(client, name, *args)
    except Exception as exc:
        return str(exc)
    raise AssertionError(f"{name} {args} did not fail")
