"""The gateway with real processes, real HTTP and the official SDK client: sharing, restarts,
security and bad input (issue acceptance, DESIGN §10)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp import MCPError

from tests.integration.gateway_support import (
    FAKE,
    PY,
    agent,
    conformance,
    headers,
    http,
    initialize,
    pid_alive,
    running_up,
    write_workspace,
)

pytestmark = pytest.mark.timeout(120)


def text(result: types.CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


async def test_many_agents_share_one_backend_and_never_see_each_others_answers(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"shared": conformance()})
    async with running_up(ws) as up:
        pids = await up.ready("shared")
        url = up.endpoint("shared")
        progress: dict[int, list[float]] = {i: [] for i in range(5)}

        async def one_agent(i: int) -> list[str]:
            async with agent(url) as session:
                assert text(await session.call_tool("whoami", {})) == str(pids["shared"])

                async def on_progress(value: float, total: float | None, message: str | None, i: int = i) -> None:
                    progress[i].append(value)

                await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
                calls = [session.call_tool("echo", {"text": f"agent {i} call {n}"}) for n in range(200)]
                return [text(r) for r in await asyncio.gather(*calls)]

        t0 = time.perf_counter()
        answers = await asyncio.gather(*(one_agent(i) for i in range(5)))
        print(f"\n5 agents x 200 concurrent calls through one backend: {time.perf_counter() - t0:.2f} s")
        for i, got in enumerate(answers):
            assert got == [f"agent {i} call {n}" for n in range(200)]  # 1,000 calls, none mixed up
        assert all(values == [0, 50, 100] for values in progress.values())  # each its own progress only
        starts = [e for e in up.events if e["event"] == "ServerStateChanged" and e["state"] == "starting"]
        assert len(starts) == 1  # one process for all five


async def test_a_sampling_request_reaches_the_session_whose_call_caused_it(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"s": conformance()})
    async with running_up(ws) as up:
        await up.ready("s")
        asked: list[str] = []

        def sampler(who: str) -> Any:
            async def answer(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
                asked.append(who)
                return types.CreateMessageResult(
                    role="assistant", content=types.TextContent(type="text", text=f"from {who}"), model="test"
                )

            return answer

        async with (
            agent(up.endpoint("s"), sampling_callback=sampler("a")) as a,
            agent(up.endpoint("s"), sampling_callback=sampler("b")) as b,
        ):
            result = await b.call_tool("test_sampling", {"prompt": "hello"})
            assert "from b" in text(result)
            result = await a.call_tool("test_sampling", {"prompt": "hello"})
            assert "from a" in text(result)
        assert asked == ["b", "a"]


async def test_a_backend_crash_fails_the_call_at_once_and_the_sessions_live_on(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"s": conformance()})
    async with running_up(ws) as up:
        pids = await up.ready("s")
        seen: dict[str, list[str]] = {"a": [], "b": []}

        def recorder(who: str) -> Any:
            async def on_message(message: Any) -> None:
                if isinstance(getattr(message, "method", None), str):  # a notification the server sent
                    seen[who].append(message.method)

            return on_message

        async with (
            agent(up.endpoint("s"), message_handler=recorder("a")) as a,
            agent(up.endpoint("s"), message_handler=recorder("b")) as b,
        ):
            await a.subscribe_resource("test://watched-resource")
            in_flight = asyncio.Event()

            async def started(value: float, total: float | None, message: str | None) -> None:
                in_flight.set()  # the backend has the call: it reported progress 0

            long_call = asyncio.ensure_future(b.call_tool("sleep", {"ms": 20000}, progress_callback=started))
            await asyncio.wait_for(in_flight.wait(), 10)
            after = len(up.events)
            t0 = time.perf_counter()
            os.kill(pids["s"], signal.SIGKILL)
            with pytest.raises(MCPError) as failed:
                await long_call
            elapsed_ms = (time.perf_counter() - t0) * 1000
            print(f"\nin-flight call failed {elapsed_ms:.0f} ms after the SIGKILL: {failed.value}")
            assert elapsed_ms < 100 and "stopped while handling this request" in str(failed.value)
            # sent while it restarts: waits for the new life instead of failing
            assert text(await a.call_tool("echo", {"text": "after"})) == "after"
            new = await up.ready("s", after=after)
            assert new["s"] != pids["s"] and not pid_alive(pids["s"])
            for who in ("a", "b"):
                await _until(lambda who=who: "notifications/tools/list_changed" in seen[who])
            await a.call_tool("test_update_watched_resource", {"text": "changed"})  # the subscription was replayed
            await _until(lambda: "notifications/resources/updated" in seen["a"])
            assert "notifications/resources/updated" not in seen["b"]


async def _until(condition: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)  # polling interval of the condition, not a synchronisation


async def test_answers_on_a_kept_alive_connection_do_not_wait_for_a_delayed_ack(tmp_path: Path) -> None:
    # without TCP_NODELAY each answer's body, sent after its headers, waited ~40 ms for the ACK
    ws = write_workspace(tmp_path, {"f": {"command": PY, "args": [FAKE]}})
    async with running_up(ws) as up, http(up) as client:
        await up.ready("f")
        first = await client.post("/mcp/f", json=initialize(), headers=headers(up))
        session = headers(up, **{"Mcp_Session_Id": first.headers["mcp-session-id"]})
        elapsed = []
        for n in range(10):
            t0 = time.perf_counter()
            ping = {"jsonrpc": "2.0", "id": n + 2, "method": "ping"}
            answer = await client.post("/mcp/f", json=ping, headers=session)
            elapsed.append(time.perf_counter() - t0)
            assert answer.status_code == 200, answer.text
        assert sorted(elapsed)[5] < 0.03, elapsed


async def test_refused_requests_never_reach_the_backend(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    fake = {"command": PY, "args": [FAKE], "env": {"FAKE_LOG": str(log)}}
    ws = write_workspace(tmp_path, {"f": fake})
    async with running_up(ws) as up, http(up) as client:
        await up.ready("f")
        before = log.read_text()
        host = up.url.removeprefix("http://")
        body = initialize()
        refused = [
            (await client.post("/mcp/f", json=body, headers=headers()), 401),
            (await client.post("/mcp/f", json=body, headers=headers(Authorization="Bearer nope")), 401),
            (await client.post(f"/{'x' * 43}/mcp/f", json=body, headers=headers()), 401),
            (await client.post("/mcp/f", json=body, headers=headers(up, Origin="http://evil.example.com")), 403),
            (await client.post("/mcp/f", json=body, headers=headers(up, Host="evil.example.com")), 403),
            (await client.post("/mcp/nope", json=body, headers=headers(up)), 404),
        ]
        for response, status in refused:
            assert response.status_code == status, response.text
            assert response.json()["jsonrpc"] == "2.0" and response.json()["error"]["message"]
        assert log.read_text() == before  # nothing reached the backend
        ok = await client.post("/mcp/f", json=body, headers=headers(up, Origin=f"http://{host}"))
        assert ok.status_code == 200 and ok.headers["mcp-session-id"]


async def test_bad_input_gets_clear_errors_and_harms_nobody(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"s": conformance()})
    async with running_up(ws) as up, http(up) as client, agent(up.endpoint("s")) as bystander:
        first = await client.post("/mcp/s", json=initialize(), headers=headers(up))
        sid = first.headers["mcp-session-id"]
        with_session = headers(up, **{"Mcp-Session-Id": sid})
        cases: list[tuple[Any, int, int | None]] = [
            (b"{not json", 400, -32700),
            (json.dumps([initialize(1), initialize(2)]).encode(), 400, -32600),
            (b'{"id": 1, "method": "ping"}', 400, -32600),
            (b"x" * (10 * 1024 * 1024), 413, -32600),
        ]
        for body, status, code in cases:
            response = await client.post("/mcp/s", content=body, headers=with_session)
            assert response.status_code == status, (body[:40], response.text)
            assert response.json()["error"]["code"] == code
        ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
        assert (await client.post("/mcp/s", json=ping, headers=headers(up))).status_code == 400  # no session id
        assert (await client.delete("/mcp/s", headers=with_session)).status_code == 200
        gone = await client.post("/mcp/s", json=ping, headers=with_session)
        assert gone.status_code == 404 and gone.json()["error"]["message"] == "Session not found"
        assert text(await bystander.call_tool("echo", {"text": "still here"})) == "still here"


async def test_a_second_up_spawns_nothing_and_the_next_takes_over_after_a_kill(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"s": conformance()})
    async with running_up(ws) as first:
        await first.ready("s")
        second = await asyncio.create_subprocess_exec(
            PY,
            "-m",
            "mcp_marshal",
            "up",
            str(ws),
            "--trust",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 3
        assert f"pid {first.proc.pid}" in err.decode() and first.url in err.decode()
        first.proc.kill()
        await first.proc.wait()
    async with running_up(ws) as third:  # the dead one's claim died with it
        await third.ready("s")
        async with agent(third.endpoint("s")) as session:
            assert text(await session.call_tool("echo", {"text": "mine now"})) == "mine now"


async def test_an_unshared_server_gives_each_session_its_own_process(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"base": conformance(), "browser": conformance(shared=False, dependsOn=["base"])})
    async with running_up(ws) as up, http(up) as client:
        await up.ready("base")
        async with agent(up.endpoint("browser")) as a, agent(up.endpoint("browser")) as b:
            pid_a = int(text(await a.call_tool("whoami", {})))
            pid_b = int(text(await b.call_tool("whoami", {})))
            assert pid_a != pid_b and pid_alive(pid_a) and pid_alive(pid_b)
            # a raw session of its own, ended by DELETE: its process goes with it
            first = await client.post("/mcp/browser", json=initialize(), headers=headers(up))
            sid = first.headers["mcp-session-id"]
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
            answer = await client.post("/mcp/browser", json=call, headers=headers(up, **{"Mcp-Session-Id": sid}))
            pid_c = int(answer.json()["result"]["content"][0]["text"])
            assert pid_c not in (pid_a, pid_b)
            await client.delete("/mcp/browser", headers=headers(up, **{"Mcp-Session-Id": sid}))
            await _until(lambda: not pid_alive(pid_c))
            assert pid_alive(pid_a) and pid_alive(pid_b)
        await _until(lambda: not pid_alive(pid_a) and not pid_alive(pid_b))  # the SDK clients DELETE on close
        starts = [e["name"] for e in up.events if e["event"] == "ServerStateChanged" and e["state"] == "starting"]
        assert starts == ["base"]  # the copies are the sessions' own: no row, no shared process


async def test_a_secret_a_server_echoes_never_reaches_an_agent(tmp_path: Path) -> None:
    """...while the server's settings (``DEBUG=true``, a path) are data an answer may hold."""
    canary = 'Canary-Gw-5e8f "quoted" tail'
    env = {"TOKEN": canary, "DEBUG": "true", "DATA_DIR": str(tmp_path), "MODE": "production"}
    ws = write_workspace(tmp_path, {"s": conformance(env=env)})
    async with running_up(ws) as up:
        await up.ready("s")
        async with agent(up.endpoint("s")) as session:
            echoed = text(await session.call_tool("echo", {"text": f"the token is {canary}!"}))
            assert echoed == "the token is <redacted>!"
            assert text(await session.call_tool("echo", {"text": "plain text survives"})) == "plain text survives"
            settings = f"debug is true in production, data in {tmp_path}"
            assert text(await session.call_tool("echo", {"text": settings})) == settings
            listed = await session.list_tools()  # booleans and schemas arrive intact, as JSON
            assert listed.tools and all(t.input_schema.get("type") == "object" for t in listed.tools)


async def test_a_remote_server_is_relayed_with_its_configured_headers(tmp_path: Path) -> None:
    """The agent sends no secret; the gateway adds the configured one; the remote's echo of it
    never comes back."""
    from tests.integration.test_remote import accepting, free_port
    from tests.support import FIXTURES

    port = free_port()
    remote = await asyncio.create_subprocess_exec(
        PY, str(FIXTURES / "conformance_server.py"), "--http", str(port), stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await _until(lambda: accepting(port), 30)
        canary = "Remote-Canary-2b7e9a"
        entry = {"type": "http", "url": f"http://127.0.0.1:{port}/mcp", "headers": {"X-Api-Key": canary}}
        ws = write_workspace(tmp_path, {"remote": entry})
        async with running_up(ws) as up:
            await up.ready("remote")
            async with agent(up.endpoint("remote")) as session:
                assert text(await session.call_tool("echo", {"text": "via the gateway"})) == "via the gateway"
                assert text(await session.call_tool("echo", {"text": canary})) == "<redacted>"
                progress: list[float] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    progress.append(value)

                await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
                assert progress == [0, 50, 100]
    finally:
        remote.kill()
        await remote.wait()
