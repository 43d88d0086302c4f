"""A reference MCP server from npm (@modelcontextprotocol/server-memory), when npm is present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mcp_marshal.config.models import ServerSpec
from mcp_marshal.events import EventBus
from mcp_marshal.supervise.orchestrator import Orchestrator
from tests.support import FAST_HEALTH, config_of, pid_alive

PACKAGE = "@modelcontextprotocol/server-memory"
CACHE = Path.home() / ".cache" / "mcp-marshal-tests" / "npm"

pytestmark = pytest.mark.npm


@pytest.fixture(scope="module")
def memory_server_bin() -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node are not installed")
    binary = CACHE / "node_modules" / ".bin" / "mcp-server-memory"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", PACKAGE],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if res.returncode != 0:
            pytest.skip(f"npm could not install {PACKAGE}: {res.stderr.strip()[-300:]}")
    return binary


async def test_npm_memory_server_handshake_tools_and_stop(memory_server_bin: Path, tmp_path: Path) -> None:
    spec = ServerSpec(
        name="memory",
        type="stdio",
        command=str(memory_server_bin),
        cwd=tmp_path,
        health=FAST_HEALTH,
        env={"MEMORY_FILE_PATH": str(tmp_path / "memory.jsonl")},
    )
    async with Orchestrator(config_of(spec), EventBus()) as orch:
        await orch.start_all()
        snap = orch.get("memory")
        assert snap.state == "ready", (snap.last_error, snap.stderr_tail)
        assert snap.protocol_version and snap.server_info.get("name")
        tools = await orch.list_tools("memory")
        assert tools and any(t["name"] == "create_entities" for t in tools)
        pid = snap.pid
    assert pid is not None and not pid_alive(pid)
    print(f"server-memory: handshake {snap.handshake_ms} ms, protocol {snap.protocol_version}, {len(tools)} tools")
