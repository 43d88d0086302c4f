"""Remote (HTTP / SSE) servers: the MCP handshake over HTTP is their readiness and health check."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from mcp_marshal.config.models import HealthPolicy, RestartPolicy, ServerSpec
from mcp_marshal.events import EventBus, HealthCheckFailed, ServerStateChanged, wait_for
from mcp_marshal.supervise.orchestrator import Orchestrator
from tests.support import FIXTURES, PY, config_of, until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepting(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def http_servers() -> Iterator[dict[str, tuple[int, subprocess.Popen[bytes]]]]:
    servers = {}
    for transport in ("streamable-http", "sse"):
        port = free_port()
        proc = subprocess.Popen(
            [PY, str(FIXTURES / "sdk_http_server.py"), transport, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers[transport] = (port, proc)
    try:
        yield servers
    finally:
        for _port, proc in servers.values():
            proc.kill()
            proc.wait()


async def test_http_and_sse_servers_are_checked_by_handshake(http_servers: dict) -> None:
    for port, _proc in http_servers.values():
        await until(lambda port=port: accepting(port), 30)
    health = HealthPolicy(start_timeout_ms=10000, ping_interval_ms=200, ping_timeout_ms=2000, failure_threshold=2)
    http_port, http_proc = http_servers["streamable-http"]
    sse_port, _ = http_servers["sse"]
    cfg = config_of(
        ServerSpec(
            name="web", type="http", url=f"http://127.0.0.1:{http_port}/mcp", health=health, headers={"X-Test": "1"}
        ),
        ServerSpec(name="legacy", type="sse", url=f"http://127.0.0.1:{sse_port}/sse", health=health),
    )
    bus = EventBus()
    async with Orchestrator(cfg, bus) as orch:
        await orch.start_all()
        snaps = {s.name: s for s in orch.snapshot()}
        assert snaps["web"].state == "ready", snaps["web"].last_error
        assert snaps["legacy"].state == "ready", snaps["legacy"].last_error
        assert snaps["web"].server_info["name"] == "sdk-http"
        assert snaps["web"].protocol_version == "2025-11-25"
        assert snaps["web"].pid is None  # remote servers are not spawned
        with bus.queue() as q:
            http_proc.kill()
            http_proc.wait()
            failed = await wait_for(q, lambda e: isinstance(e, HealthCheckFailed) and e.name == "web", 15)
            assert "cannot reach http://127.0.0.1" in failed.reason
            await wait_for(q, lambda e: isinstance(e, ServerStateChanged) and e.state == "unhealthy", 15)


async def test_unreachable_remote_server_fails_with_a_reason() -> None:
    spec = ServerSpec(
        name="down",
        type="http",
        url=f"http://user:secret@127.0.0.1:{free_port()}/mcp?key=abc",
        restart=RestartPolicy(max_restarts=1, initial_delay_ms=10),
    )
    async with Orchestrator(config_of(spec), EventBus()) as orch:
        await orch.start_all()
        snap = orch.get("down")
    assert snap.state == "failed"
    assert "cannot reach http://127.0.0.1:" in snap.last_error
    assert "secret" not in snap.last_error and "key=abc" not in snap.last_error
