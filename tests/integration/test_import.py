"""``mcp-marshal import``: VS Code's and Claude's server entries become ``mcpMarshal.servers``
that resolve to the same launches, written into the workspace file with its comments kept."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_marshal.config import load_workspace
from tests.integration.gateway_support import CONFORMANCE, PY

pytestmark = pytest.mark.timeout(120)

WORKSPACE = """{
\t// the team's workspace
\t"folders": [{ "path": "." }],
\t"settings": {
\t\t"editor.tabSize": 4, // we like tabs
\t\t/* supervised servers */
\t\t"mcpMarshal.servers": {
\t\t\t"existing": { "command": "echo", "args": ["hi"] }, // keep me
\t\t},
\t\t"mcpMarshal.health": { "pingIntervalMs": 0 },
\t},
}
"""

VSCODE = {
    "inputs": [
        {"type": "promptString", "id": "api-key", "description": "API key", "password": True},
        {"type": "promptString", "id": "spare", "description": "unused"},
    ],
    "servers": {
        "conf": {
            "command": PY,
            "args": [CONFORMANCE],
            "env": {"DATA": "${workspaceFolder}/data", "MODE": "quick", "LEVEL": 3, "DROP": None},
            "envFile": "${workspaceFolder}/.env",
            "cwd": "sub",
        },
        "events": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
        "remote": {
            "type": "http",
            "url": "https://mcp.example/mcp",
            "headers": {"Authorization": "Bearer ${input:api-key}"},
            "oauth": {"clientId": "abc"},
        },
        "home": {"command": "node", "args": ["${userHome}/srv.js", "--port", "${env:PORT}"], "dev": {"watch": "*.js"}},
    },
}
ENV = {"PORT": "8931", "API_KEY": "k-123", "PATH": os.environ.get("PATH", "")}


def mcp_import(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mcp_marshal", "import", *map(str, args)]
    full = {**os.environ, "HOME": str(cwd), **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=full, timeout=60)


def launches(ws: Path, home: Path, environ: dict[str, str] = ENV) -> dict[str, tuple[Any, ...]]:
    result = load_workspace(ws, environ=environ, home=home)
    assert result.config is not None, [p.format() for p in result.errors]
    return {
        name: (s.type, s.command, s.args, dict(s.env), s.env_file, s.cwd, s.url, dict(s.headers), s.inputs)
        for name, s in result.config.servers.items()
    }


def only_additions(before: str, after: str) -> None:
    """``after`` is ``before`` with lines added; a changed line only gained a comma."""
    old, new = before.splitlines(), after.splitlines()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        assert op != "delete", old[i1:i2]
        if op == "replace":
            for line in old[i1:i2]:
                assert any(n.startswith(line.split("//")[0].rstrip()) for n in new[j1:j2]), line


def test_vscode_mcp_json_round_trips_to_the_same_launches(tmp_path: Path) -> None:
    ws = tmp_path / "team.code-workspace"
    ws.write_text(WORKSPACE)
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "mcp.json").write_text(json.dumps(VSCODE, indent=2))
    (tmp_path / "sub").mkdir()
    (tmp_path / ".env").write_text("FROM_FILE=1\n")

    preview = mcp_import(cwd=tmp_path)  # FILE found: .vscode/mcp.json beside the workspace
    assert preview.returncode == 0, preview.stderr
    assert ws.read_text() == WORKSPACE
    shown = json.loads(preview.stdout)
    assert set(shown["mcpMarshal.servers"]) == {"conf", "events", "remote", "home"}
    assert shown["mcpMarshal.servers"]["conf"]["env"]["MODE"] == "<redacted>"  # a literal value may be a secret
    assert [i["id"] for i in shown["mcpMarshal.inputs"]] == ["api-key"]
    assert "would get these" in preview.stderr

    done = mcp_import("--write", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = ws.read_text()
    only_additions(WORKSPACE, after)
    for comment in ("// the team's workspace", "// we like tabs", "/* supervised servers */", "// keep me"):
        assert comment in after
    assert '\n\t\t\t"conf": {\n\t\t\t\t"command": ' in after  # tabs, as the file indents

    home = tmp_path
    folder = tmp_path
    assert launches(ws, home) == {
        "existing": ("stdio", "echo", ("hi",), {}, None, folder, None, {}, ()),
        "conf": (
            "stdio", PY, (CONFORMANCE,), {"DATA": f"{folder}/data", "MODE": "quick", "LEVEL": "3", "DROP": None},
            folder / ".env", folder / "sub", None, {}, (),
        ),
        "events": ("sse", None, (), {}, None, None, "http://127.0.0.1:9/sse", {}, ()),
        "remote": ("http", None, (), {}, None, None, "https://mcp.example/mcp",
                   {"Authorization": "Bearer ${input:api-key}"}, ("api-key",)),
        "home": ("stdio", "node", (f"{home}/srv.js", "--port", "8931"), {}, None, folder, None, {}, ()),
    }  # fmt: skip
    config = load_workspace(ws).config
    assert config is not None and set(config.inputs) == {"api-key"} and config.inputs["api-key"].password
    said = done.stderr
    assert '"oauth"' in said and '"dev"' in said and "SSE" in said and "spare" in said

    check = subprocess.run([sys.executable, "-m", "mcp_marshal", "check", str(ws)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    probe = subprocess.run(  # the imported stdio server really starts (env, envFile and cwd as VS Code set them)
        [sys.executable, "-m", "mcp_marshal", "probe", str(ws), "--trust", "--server", "conf", "--json"],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stdout + probe.stderr
    [result] = [line for line in map(json.loads, probe.stdout.splitlines()) if line.get("name") == "conf"]
    assert result["ok"] and result["server"] == "mcp-marshal-conformance"

    again = mcp_import("--write", cwd=tmp_path)
    assert again.returncode == 0 and ws.read_text() == after and "nothing to change" in again.stderr


def test_a_server_of_the_same_name_is_left_alone_unless_forced(tmp_path: Path) -> None:
    ws = tmp_path / "team.code-workspace"
    ws.write_text(WORKSPACE)
    source = tmp_path / "other.json"
    source.write_text(json.dumps({"servers": {"existing": {"command": "node", "args": ["new.js"]}}}))
    kept = mcp_import(source, "--write", cwd=tmp_path)
    assert kept.returncode == 0 and "left alone existing" in kept.stderr and "--force" in kept.stderr
    assert ws.read_text() == WORKSPACE
    forced = mcp_import(source, "--write", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert launches(ws, tmp_path)["existing"][1:3] == ("node", ("new.js",))
    assert "// keep me" in ws.read_text()


def test_a_second_folders_mcp_json_keeps_pointing_at_that_folder(tmp_path: Path) -> None:
    for part in ("ws", "api", "web/tools"):
        (tmp_path / part).mkdir(parents=True)
    ws = tmp_path / "ws" / "multi.code-workspace"
    ws.write_text('{\n  // two folders\n  "folders": [{"path": "../api"}, {"path": "../web"}]\n}\n')
    source = tmp_path / "web" / ".vscode" / "mcp.json"
    source.parent.mkdir()
    servers = {
        "ui": {"command": "./bin/ui", "args": ["${workspaceFolder}"], "cwd": "tools"},
        "plain": {"command": "node", "envFile": ".env"},
    }
    source.write_text(json.dumps({"servers": servers}))
    done = mcp_import(source, "--workspace", ws, "--write", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    web = tmp_path / "web"
    got = launches(ws, tmp_path)
    assert got["ui"][1:3] == (str(web / "tools" / "bin" / "ui"), (str(web),)) and got["ui"][5] == web / "tools"
    assert got["plain"][4:6] == (web / ".env", web)  # VS Code ran it in its own folder, not the first one
    assert "// two folders" in ws.read_text()


def test_claude_defaults_are_reported_as_not_exact(tmp_path: Path) -> None:
    ws = tmp_path / "c.code-workspace"
    ws.write_text('{"folders": [{"path": "."}]}\n')
    (tmp_path / ".mcp.json").write_text(json.dumps({
        "mcpServers": {
            "api": {"type": "http", "url": "${API_BASE:-https://api.example.com}/mcp",
                    "headers": {"Authorization": "Bearer ${API_KEY}"}},
            "tool": {"command": "uvx", "args": ["tool", "--key", "${API_KEY}"], "env": {"MODE": "${MODE:-dev}"}},
            "odd": {"command": "x", "args": ["${A:-${B}}"]},
            "unset": {"type": "http", "url": "${NOT_SET_HERE}/mcp"},
        }
    }))  # fmt: skip
    done = mcp_import("--write", cwd=tmp_path, env={"API_KEY": "k-123"})
    assert done.returncode == 0, done.stderr
    said = done.stderr
    assert "not exact: api: ${API_BASE:-…} in url became its default" in said
    assert "not exact: tool: ${MODE:-…} in env.MODE became its default" in said
    assert "skipped: odd" in said and "k-123" not in said and "api.example.com" not in said
    assert "skipped: unset: not imported: the workspace file would not load" in said and "NOT_SET_HERE" in said
    got = launches(ws, tmp_path, {"API_KEY": "k-123", "API_BASE": "https://b.example"})
    # ${VAR} is exact; a default is kept, and the variable no longer overrides it
    assert got["api"][6:8] == ("https://api.example.com/mcp", {"Authorization": "Bearer k-123"})
    assert got["tool"][2:4] == (("tool", "--key", "k-123"), {"MODE": "dev"})
    assert set(got) == {"api", "tool"}


def test_a_workspace_file_that_cannot_be_parsed_is_left_as_it_was(tmp_path: Path) -> None:
    ws = tmp_path / "broken.code-workspace"
    text = '{\n  "settings": {\n    "mcpMarshal.servers": {}\n    "x": 1\n  }\n}\n'
    ws.write_text(text)
    (tmp_path / ".mcp.json").write_text('{"mcpServers": {"a": {"command": "x"}}}')
    done = mcp_import("--write", cwd=tmp_path)
    assert done.returncode == 1 and "nothing was changed" in done.stderr
    assert ws.read_text() == text
