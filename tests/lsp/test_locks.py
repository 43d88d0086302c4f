"""Task leases through the LSP: commands, events from other processes, expiry, dead holders, Redis.

The CLI runs as a separate process on the same state directory, so the LSP and it share one
sqlite lease database exactly as an editor window and an agent's shell would.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.lsp.conftest import command, open_session, run_cli, wait_until, workspace_text

LEASE_KEYS = {"task", "owner", "token", "acquired_at", "expires_at"}

BAD_ARGS = [
    ("mcpMarshal.acquireLock", [], "missing TASK"),
    ("mcpMarshal.acquireLock", ["t"], "missing OWNER"),
    ("mcpMarshal.acquireLock", ["t", 7], "OWNER must be a non-empty string, got the number 7"),
    # the one TTL check the CLI and the MCP tools use too (locks/ttl.py)
    ("mcpMarshal.acquireLock", ["t", "o", 0], "TTL must be a whole number of milliseconds from 1 to 604800000"),
    ("mcpMarshal.acquireLock", ["t", "o", -5], "got -5; leave it out for the default"),
    ("mcpMarshal.acquireLock", ["t", "o", 1e308], "got 1e+308"),
    ("mcpMarshal.acquireLock", ["t", "o", "soon"], 'got "soon"'),
    ("mcpMarshal.acquireLock", ["t", "o", 1.5], "got 1.5"),
    ("mcpMarshal.renewLock", ["t", "o", 1, 604800001], "from 1 to 604800000 (7 days), got 604800001"),
    ("mcpMarshal.acquireLock", ["t", "o", 1000, "x"], "at most 3 argument"),
    ("mcpMarshal.renewLock", ["t", "o"], "missing TOKEN"),
    ("mcpMarshal.renewLock", ["t", "o", "one"], "TOKEN must be an integer ≥ 0, got a string"),
    ("mcpMarshal.releaseLock", ["", "o", 1], "TASK must be a non-empty string, got an empty string"),
    ("mcpMarshal.releaseLock", ["t", "o", 1, 2], "at most 3 argument"),
    ("mcpMarshal.listLocks", ["x"], "at most 0 argument"),
]


def _workspace(tmp_path: Path, **locks: Any) -> Path:
    ws = tmp_path / "l.code-workspace"
    ws.write_text(workspace_text({}, **({"locks": locks} if locks else {})))
    return ws


def _locks(client: LanguageClient) -> list[dict[str, Any]]:
    return client.rec.locks  # type: ignore[attr-defined,no-any-return]


def _lock_event(client: LanguageClient, event: str, task: str, owner: str | None = None) -> Any:
    return lambda: next(
        (
            e
            for e in _locks(client)
            if e["event"] == event and e["task"] == task and (owner is None or e["owner"] == owner)
        ),
        None,
    )


async def test_lock_commands(client: LanguageClient, tmp_path: Path) -> None:
    await open_session(client, _workspace(tmp_path))

    got = await command(client, "mcpMarshal.acquireLock", "build", "agent-1")
    assert got["acquired"] is True and set(got["lease"]) == LEASE_KEYS
    lease = got["lease"]
    assert lease["task"] == "build" and lease["owner"] == "agent-1" and lease["token"] >= 1
    assert 590 < lease["expires_at"] - lease["acquired_at"] <= 600  # mcpMarshal.locks.defaultTtlMs
    await wait_until(_lock_event(client, "LeaseAcquired", "build"), "lockChanged for our own acquire")

    denied = await command(client, "mcpMarshal.acquireLock", "build", "agent-2", 1000)
    assert denied == {"acquired": False, "lease": None, "holder": lease}
    await wait_until(_lock_event(client, "LeaseDenied", "build", "agent-2"), "lockChanged LeaseDenied")

    assert await command(client, "mcpMarshal.listLocks") == {"locks": [lease]}

    token = lease["token"]
    assert await command(client, "mcpMarshal.renewLock", "build", "agent-1", token + 1) == {
        "renewed": False,
        "lease": None,
    }
    renewed = await command(client, "mcpMarshal.renewLock", "build", "agent-1", token, 1_200_000)
    assert renewed["renewed"] is True and renewed["lease"]["token"] == token
    assert renewed["lease"]["expires_at"] > lease["expires_at"] + 500
    await wait_until(_lock_event(client, "LeaseRenewed", "build"), "lockChanged LeaseRenewed")

    assert await command(client, "mcpMarshal.releaseLock", "build", "agent-2", token) == {"released": False}
    assert await command(client, "mcpMarshal.releaseLock", "build", "agent-1", token) == {"released": True}
    await wait_until(_lock_event(client, "LeaseReleased", "build", "agent-1"), "lockChanged LeaseReleased")
    assert await command(client, "mcpMarshal.listLocks") == {"locks": []}
    again = await command(client, "mcpMarshal.acquireLock", "build", "agent-2")
    assert again["acquired"] is True and again["lease"]["token"] > token  # fencing tokens only grow

    for name, args, expected in BAD_ARGS:
        with pytest.raises(JsonRpcInvalidParams) as caught:
            await command(client, name, *args)
        assert expected in str(caught.value), (name, args, str(caught.value))
    # every lockChanged is the event's JSON form
    for event in _locks(client):
        assert set(event) == {"event", "ts", "task", "owner", "token", "expires_at"}
        # the view shows when an acquired or renewed lease ends, without asking for the list
        assert (event["expires_at"] is not None) == (event["event"] in ("LeaseAcquired", "LeaseRenewed")), event
    assert not [m for m in client.messages if "Error in server" in m.message]


async def test_leases_shared_with_the_cli(client: LanguageClient, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    editor = subprocess.Popen(["sleep", "600"])  # stands in for the editor's process (initialize.processId)
    try:
        await _shared_with_the_cli(client, ws, editor)
    finally:
        editor.kill()
        editor.wait()


async def _shared_with_the_cli(client: LanguageClient, ws: Path, editor: subprocess.Popen[bytes]) -> None:
    await open_session(client, ws, process_id=editor.pid)
    assert await command(client, "mcpMarshal.listLocks") == {"locks": []}  # the editor's first view
    cli = ("--workspace", str(ws))

    # a lease the CLI takes is denied to the editor, and the editor hears of it (another process)
    code, out = await run_cli("lock", "acquire", "deploy", "--owner", "cli", *cli)
    assert code == 0 and out["acquired"] is True
    await wait_until(_lock_event(client, "LeaseAcquired", "deploy", "cli"), "lockChanged for the CLI's acquire")
    denied = await command(client, "mcpMarshal.acquireLock", "deploy", "editor")
    assert denied["acquired"] is False and denied["holder"]["owner"] == "cli"
    assert denied["holder"]["token"] == out["lease"]["token"]

    # and the other way round
    mine = await command(client, "mcpMarshal.acquireLock", "review", "editor")
    assert mine["acquired"] is True
    code, out = await run_cli("lock", "acquire", "review", "--owner", "cli", *cli)
    assert code == 1 and out["acquired"] is False and out["holder"]["owner"] == "editor"

    # a lease that runs out without a release is announced once
    code, out = await run_cli("lock", "acquire", "short", "--owner", "cli", "--ttl", "300", *cli)
    assert code == 0
    expected = f"MCP: lease on 'short' held by cli expired without release (token {out['lease']['token']})"
    await wait_until(
        lambda: any(m.message == expected and m.type == types.MessageType.Info for m in client.messages),
        "the expiry message",
    )
    await wait_until(_lock_event(client, "LeaseExpired", "short", "cli"), "lockChanged LeaseExpired")

    # the editor's lease is bound to the editor: a language server that dies (and is restarted)
    # leaves it to the agent still working in the editor; once the editor is gone, it is free
    lsp = _lsp_process()
    lsp.send_signal(signal.SIGKILL)
    await asyncio.to_thread(lsp.wait, 30)
    client.capabilities = None  # nobody left to shut down
    code, out = await run_cli("lock", "acquire", "review", "--owner", "cli", *cli)
    assert code == 1 and out["holder"]["owner"] == "editor"
    editor.kill()
    editor.wait()
    code, out = await run_cli("lock", "acquire", "review", "--owner", "cli", *cli)
    assert code == 0 and out["acquired"] is True and out["lease"]["token"] > mine["lease"]["token"], out


def _lsp_process() -> psutil.Process:
    """The ``mcp-marshal lsp`` process this test's client started."""
    procs = [p for p in psutil.Process().children() if p.cmdline()[-2:] == ["mcp_marshal", "lsp"]]
    assert len(procs) == 1, procs
    return procs[0]


# --- Redis ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


async def _until_redis_answers(port: int) -> None:
    async def ping() -> bool:
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"PING\r\n")
            answer = await reader.readline()
            writer.close()
            return answer.startswith(b"+PONG")
        return False

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await ping():
        assert loop.time() < deadline, "redis-server did not start"
        await asyncio.sleep(0.02)  # polling interval of the condition


@pytest.mark.skipif(not Path("/usr/bin/redis-server").exists(), reason="needs redis-server")
async def test_redis_store_down_is_an_error_never_a_grant(client: LanguageClient, tmp_path: Path) -> None:
    port = _free_port()
    with _redis(port) as server:
        await _until_redis_answers(port)
        await open_session(client, _workspace(tmp_path, backend="redis", redisUrl=f"redis://127.0.0.1:{port}/0"))
        got = await command(client, "mcpMarshal.acquireLock", "ship", "editor", 60_000)
        assert got["acquired"] is True and (await command(client, "mcpMarshal.listLocks"))["locks"] == [got["lease"]]
        server.kill()
        server.wait(10)
        for name, args in [
            ("mcpMarshal.acquireLock", ["other", "editor"]),
            ("mcpMarshal.renewLock", ["ship", "editor", got["lease"]["token"]]),
            ("mcpMarshal.listLocks", []),
        ]:
            with pytest.raises(JsonRpcException) as caught:
                await command(client, name, *args)
            assert caught.value.code == -32803, (name, caught.value)  # RequestFailed, not a refusal
            assert "redis" in str(caught.value).lower(), str(caught.value)


async def test_leases_before_trust(client: LanguageClient, tmp_path: Path) -> None:
    """Leases spawn nothing, so an untrusted workspace has them, unless the file names a Redis."""
    ws = _workspace(tmp_path)
    await open_session(client, ws, trusted=False)
    got = await command(client, "mcpMarshal.acquireLock", "draft", "editor")
    assert got["acquired"] is True

    ws.write_text(workspace_text({}, locks={"backend": "redis", "redisUrl": f"redis://127.0.0.1:{_free_port()}/0"}))
    await command(client, "mcpMarshal.reloadConfig")
    with pytest.raises(JsonRpcException) as caught:
        await command(client, "mcpMarshal.listLocks")
    assert caught.value.code == -32803 and "not trusted yet" in str(caught.value)
