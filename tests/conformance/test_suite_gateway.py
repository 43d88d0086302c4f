"""Conformance parity: the official suite through the gateway passes every check it passes
against the server directly ((b) ⊇ (a) of ``.ci/conformance``).

(a) the fixture server over its own Streamable HTTP (the SDK's transport); (b) the same server
on stdio under ``mcp-marshal up``, reached through the gateway's capability URL.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from mcp_marshal.paths import workspace_state_dir
from tests.conformance import run_suite as rs

pytestmark = [pytest.mark.npm, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def tools() -> rs.Tools:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    try:
        return rs.ensure_tools()
    except (RuntimeError, OSError) as e:
        pytest.skip(f"the conformance suite could not be installed: {e}")


def passed(summary: dict) -> set[str]:
    return {f"{name}:{check}" for name, s in summary["scenarios"].items() for check in s["passed"]}


def test_the_gateway_passes_what_the_server_passes(
    tools: rs.Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = rs.free_port()
    with rs.serving(rs.fixture_command(port), port):
        direct = rs.run_suite(f"http://127.0.0.1:{port}/mcp", tools=tools)

    monkeypatch.setenv("MCP_MARSHAL_STATE_DIR", str(tmp_path / "state"))  # up, a subprocess, reads it too
    gateway_port = rs.free_port()
    ws = tmp_path / "conformance.code-workspace"
    servers = {"conformance": {"command": sys.executable, "args": [str(rs.FIXTURE)]}}
    settings = {"mcpMarshal.servers": servers, "mcpMarshal.gateway": {"port": gateway_port}}
    ws.write_text(json.dumps({"folders": [{"path": "."}], "settings": settings}))
    up = [sys.executable, "-m", "mcp_marshal", "up", str(ws), "--trust", "--json"]
    with rs.serving(up, gateway_port):
        token = (workspace_state_dir(ws) / "gateway.token").read_text().strip()
        through = rs.run_suite(f"http://127.0.0.1:{gateway_port}/{token}/mcp/conformance", tools=tools)
    print(f"\nconformance: direct {direct['totals']['passed']}/{direct['totals']['denominator']}, "
          f"through the gateway {through['totals']['passed']}/{through['totals']['denominator']}")  # fmt: skip
    assert passed(direct) - passed(through) == set()
    assert {n: s["failed"] for n, s in through["scenarios"].items() if s["failed"]} == {}
    assert through["totals"]["passed"] == direct["totals"]["passed"] == 73
