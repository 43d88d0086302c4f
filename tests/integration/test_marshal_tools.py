"""``/mcp/marshal``: agents coordinate through MCP tools (the official SDK client), on the same
leases as the editor and ``mcp-marshal lock``."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from tests.integration.gateway_support import PY, agent, conformance, running_up, write_workspace

pytestmark = pytest.mark.timeout(300)


async def call(session: ClientSession, tool: str, **args: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_servers_and_leases_as_tools(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"s": conformance()})
    async with running_up(ws) as up:
        pids = await up.ready("s")
        async with agent(up.endpoint("marshal")) as a, agent(up.endpoint("marshal")) as b:
            tools = {t.name: t for t in (await a.list_tools()).tools}
            assert set(tools) == {
                "list_servers", "server_logs", "restart_server",
                "acquire_lease", "renew_lease", "release_lease", "list_leases",
            }  # fmt: skip
            assert all(t.input_schema["type"] == "object" and t.description for t in tools.values())
            servers = (await call(a, "list_servers"))["servers"]
            assert [(s["name"], s["state"], s["pid"]) for s in servers] == [("s", "ready", pids["s"])]

            got = await call(a, "acquire_lease", task="deploy", ttl_ms=60000)
            assert got["acquired"] is True and got["lease"]["token"] >= 1
            token = got["lease"]["token"]
            denied = await call(b, "acquire_lease", task="deploy")
            assert denied["acquired"] is False and denied["holder"]["owner"] == got["lease"]["owner"]
            assert denied["holder"]["expires_at"] == got["lease"]["expires_at"]
            assert (await call(b, "release_lease", task="deploy", token=token))["released"] is False  # not b's
            renewed = await call(a, "renew_lease", task="deploy", token=token, ttl_ms=120000)
            assert renewed["renewed"] and renewed["lease"]["token"] == token
            assert [lease["task"] for lease in (await call(b, "list_leases"))["leases"]] == ["deploy"]

            # the shell sees it, and is refused it
            shell = [PY, "-m", "mcp_marshal", "lock", "acquire", "deploy", "--owner", "cli", "--workspace", str(ws)]
            lock = subprocess.run([*shell, "--json"], capture_output=True, text=True, timeout=60)
            assert lock.returncode == 1 and json.loads(lock.stdout)["holder"]["token"] == token

            bad = await a.call_tool("restart_server", {"server": "nope"})
            assert bad.is_error and "unknown server 'nope'" in bad.content[0].text  # type: ignore[union-attr]
            restarted = await call(a, "restart_server", server="s")
            assert restarted["server"]["state"] == "ready" and restarted["server"]["pid"] != pids["s"]
            # and the other way round: a lease the shell holds is refused to an agent
            assert subprocess.run([*shell[:5], "build", *shell[6:]], capture_output=True, timeout=60).returncode == 0
            assert (await call(b, "acquire_lease", task="build"))["holder"]["owner"] == "cli"
            dropped = time.monotonic()
        # a's session ended: its session-bound lease went with it, at once
        async with agent(up.endpoint("marshal")) as c:
            while not (got := await call(c, "acquire_lease", task="deploy"))["acquired"]:
                assert time.monotonic() - dropped < 1.0, "the dropped session's lease was not freed within 1 s"
            assert got["lease"]["token"] > token


async def test_two_agents_racing_for_one_task_never_overlap(tmp_path: Path) -> None:
    """1,000 rounds of acquire, renew, release or a dropped session, by two agents at once."""
    ws = write_workspace(tmp_path, {})
    async with running_up(ws) as up:
        holding: dict[str, int | None] = {"a": None, "b": None}
        tokens: list[int] = []
        overlaps = 0
        rng = random.Random(7)

        async def contender(name: str, rounds: int) -> None:
            nonlocal overlaps
            session_cm = agent(up.endpoint("marshal"))
            session = await session_cm.__aenter__()
            try:
                for _ in range(rounds):
                    got = await call(session, "acquire_lease", task="the-task", ttl_ms=30000)
                    if not got["acquired"]:
                        await asyncio.sleep(0)
                        continue
                    token = got["lease"]["token"]
                    other = "b" if name == "a" else "a"
                    if holding[other] is not None:
                        overlaps += 1
                    assert not tokens or token > tokens[-1]  # strictly increasing
                    tokens.append(token)
                    holding[name] = token
                    if rng.random() < 0.3:
                        assert (await call(session, "renew_lease", task="the-task", token=token))["renewed"]
                    if rng.random() < 0.1:  # a crash: the session is dropped without a release
                        holding[name] = None
                        await session_cm.__aexit__(None, None, None)
                        session_cm = agent(up.endpoint("marshal"))
                        session = await session_cm.__aenter__()
                        continue
                    holding[name] = None
                    assert (await call(session, "release_lease", task="the-task", token=token))["released"]
            finally:
                await session_cm.__aexit__(None, None, None)

        await asyncio.gather(contender("a", 500), contender("b", 500))
        print(f"\nlease race: {len(tokens)} grants, {overlaps} overlaps, tokens {tokens[0]}..{tokens[-1]}")
        assert overlaps == 0 and len(tokens) > 100
