"""The peers we compare against, installed on demand into ``bench/.peers/`` (never committed).

* mcp-hub (npm ``mcp-hub``): a manager server for MCP servers, its REST API reports each one.
* supervisord (PyPI ``supervisor``): the classic restart-on-exit process supervisor.
* the MCP reference servers (npm ``@modelcontextprotocol/server-memory``, ``-filesystem``): real
  servers to supervise, run as ``node dist/index.js`` (npx would add its own start-up to every spawn).
* mcp-proxy (PyPI ``mcp-proxy``, sparfenyuk/mcp-proxy): serves one stdio server over Streamable HTTP,
  the gateway's peer. It pins the mcp SDK 1.x while the project uses 2.x, so it gets a venv of its
  own under ``~/.cache/mcp-marshal-bench/`` (kept across worktrees; ``MCP_MARSHAL_BENCH_CACHE`` moves it).

``python -m bench setup`` installs them all; each benchmark asks :func:`mcp_hub` / :func:`supervisord`
and reports the peer as unavailable (with the reason) rather than failing when it cannot be had.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEERS = Path(__file__).resolve().parent / ".peers"
MCP_HUB_VERSION = "4.2.1"
REFERENCE_SERVERS = {"server-memory": "2026.8.31", "server-filesystem": "2026.8.31"}
"""npm package (under ``@modelcontextprotocol/``) → pinned version."""
SUPERVISOR_VERSION = "4.3.0"
MCP_PROXY_VERSION = "0.13.0"
CACHE = Path(os.environ.get("MCP_MARSHAL_BENCH_CACHE") or Path.home() / ".cache" / "mcp-marshal-bench")


@dataclass(frozen=True)
class Peer:
    name: str
    argv: tuple[str, ...] | None
    """How to start it (to be followed by its own arguments); None when unavailable."""
    env: dict[str, str]
    why_not: str = ""


def _run(argv: list[str]) -> str:
    """Run an installer; return '' on success, else the tail of what it printed."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stdout + done.stderr)[-500:]


def _node_packages() -> list[str]:
    """Every node peer, pinned: one ``npm install`` names them all, since npm prunes what it is not told."""
    return [f"mcp-hub@{MCP_HUB_VERSION}", *(f"@modelcontextprotocol/{p}@{v}" for p, v in REFERENCE_SERVERS.items())]


@functools.cache
def _npm_install() -> str:
    """Install the node peers into bench/.peers/node; '' on success, else why not (once per run)."""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    (PEERS / "node").mkdir(parents=True, exist_ok=True)
    error = _run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(PEERS / "node"),
                  *_node_packages()])  # fmt: skip
    return f"npm install failed: {error.strip()}" if error else ""


@functools.cache
def mcp_hub() -> Peer:
    cli = PEERS / "node" / "node_modules" / "mcp-hub" / "dist" / "cli.js"
    node = shutil.which("node")
    if node is None:
        return Peer("mcp-hub", None, {}, "node is not installed")
    if not cli.exists():
        error = _npm_install()
        if error or not cli.exists():
            return Peer("mcp-hub", None, {}, error or "npm install did not create mcp-hub's cli.js")
    # its own state (workspaces.json, logs) goes under XDG_STATE_HOME: keep it out of the user's home
    env = {"XDG_STATE_HOME": str(PEERS / "state"), "XDG_CONFIG_HOME": str(PEERS / "config")}
    return Peer("mcp-hub", (node, str(cli)), env)


@functools.cache
def reference_server(name: str) -> Peer:
    """One MCP reference server (a key of REFERENCE_SERVERS): argv is ``node dist/index.js``."""
    script = PEERS / "node" / "node_modules" / "@modelcontextprotocol" / name / "dist" / "index.js"
    node = shutil.which("node")
    if node is None:
        return Peer(name, None, {}, "node is not installed")
    if not script.exists():
        error = _npm_install()
        if error or not script.exists():
            return Peer(name, None, {}, error or f"npm install did not create {name}'s dist/index.js")
    return Peer(name, (node, str(script)), {})


@functools.cache
def supervisord() -> Peer:
    target = PEERS / "python"
    if not (target / "supervisor").is_dir():
        error = _run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
                      f"supervisor=={SUPERVISOR_VERSION}"])  # fmt: skip
        if error or not (target / "supervisor").is_dir():
            return Peer("supervisord", None, {}, f"pip install supervisor failed: {error.strip()}")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH", "")]))}
    return Peer("supervisord", (sys.executable, "-m", "supervisor.supervisord"), env)


@functools.cache
def mcp_proxy() -> Peer:
    """sparfenyuk's mcp-proxy in a venv of its own; argv is its console script."""
    venv = CACHE / f"mcp-proxy-{MCP_PROXY_VERSION}"
    exe = venv / "bin" / "mcp-proxy"
    if not exe.exists():
        error = _run([sys.executable, "-m", "venv", "--clear", str(venv)])
        if not error:
            error = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          f"mcp-proxy=={MCP_PROXY_VERSION}"])  # fmt: skip
        if error or not exe.exists():
            return Peer("mcp-proxy", None, {}, f"pip install mcp-proxy failed: {error.strip()}")
    return Peer("mcp-proxy", (str(exe),), {})


def setup() -> list[Peer]:
    """Install every peer that is missing; return them (available or with the reason why not)."""
    return [mcp_hub(), supervisord(), mcp_proxy(), *(reference_server(name) for name in REFERENCE_SERVERS)]
