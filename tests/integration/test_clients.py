"""``mcp-marshal clients``: the entries it merges into each client's own file keep that file's
other entries, comments and layout, hold no secret, and work: a real MCP client started from
exactly what was written reaches the supervised server through the gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import mcp.types as types
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.integration.gateway_support import conformance, running_up, write_workspace

pytestmark = pytest.mark.timeout(120)

CLAUDE = """{
    "mcpServers": {
        "memory": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-memory"],
            "env": {"MEMORY_FILE_PATH": "/tmp/memory.json"}
        },
        "search": {"type": "http", "url": "https://search.example/mcp"}
    }
}
"""


def clients(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # HOME in the test's folder: nothing here may reach the real ~/.codex or ~/.cursor
    env = {**os.environ, "HOME": str(cwd), "CODEX_HOME": str(cwd / "codex-home")}
    cmd = [sys.executable, "-m", "mcp_marshal", "clients", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def text_of(result: types.CallToolResult) -> str:
    assert not result.is_error, result.content
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


async def test_claude_write_keeps_the_file_and_its_entry_reaches_the_server(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"conf": conformance()})
    mcp_json = tmp_path / ".mcp.json"
    mcp_json.write_text(CLAUDE)

    done = clients("claude", "--write", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = mcp_json.read_text()
    assert written.startswith(CLAUDE[: CLAUDE.rindex("\n    }\n}")])  # the user's entries, byte for byte
    servers = json.loads(written)["mcpServers"]
    assert list(servers) == ["memory", "search", "conf", "marshal"]
    assert servers["memory"]["env"] == {"MEMORY_FILE_PATH": "/tmp/memory.json"}
    conf = servers["conf"]
    assert conf["args"][-3:] == ["connect", "conf", str(ws)] and os.path.isabs(conf["command"])
    assert '\n        "conf": {\n            "command": ' in written  # four spaces, as the file indents

    again = clients("claude", "--write", cwd=tmp_path)
    assert again.returncode == 0 and mcp_json.read_text() == written and "nothing written" in again.stderr

    async with running_up(ws) as up:
        await up.ready("conf")
        assert up.token not in written  # the token stays in the state directory
        state = {"MCP_MARSHAL_STATE_DIR": os.environ["MCP_MARSHAL_STATE_DIR"]}
        assert conf.get("env", state) == state  # the state directory this test moved, nothing else
        answers = {}
        for name, tool, args in (("conf", "echo", {"text": "via .mcp.json"}), ("marshal", "list_servers", {})):
            entry = servers[name]  # exactly what a client reads from the file
            params = StdioServerParameters(command=entry["command"], args=entry["args"], env=state)
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                answers[name] = text_of(await session.call_tool(tool, args))
        assert answers["conf"] == "via .mcp.json"
        assert '"name": "conf"' in answers["marshal"] and '"ready"' in answers["marshal"]


def test_dry_run_prints_the_entries_and_where_and_writes_nothing(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, {"conf": conformance(), "old": {"type": "sse", "url": "http://127.0.0.1:9/sse"}})
    shown = clients("cursor", ws, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["mcpServers"]["conf"]["args"][-3:] == ["connect", "conf", str(ws)]
    assert "old" not in json.loads(shown.stdout)["mcpServers"] and "old: no entry" in shown.stderr
    assert str(tmp_path / ".cursor" / "mcp.json") in shown.stderr and "--write" in shown.stderr
    assert not (tmp_path / ".cursor").exists()
    generic = clients(cwd=tmp_path)  # json: a generic mcpServers object, for any client
    assert set(json.loads(generic.stdout)["mcpServers"]) == {"conf", "marshal"}


def test_codex_toml_merge_keeps_comments_and_layout(tmp_path: Path) -> None:
    write_workspace(tmp_path, {"conf": conformance()})
    config = tmp_path / "codex" / "config.toml"
    config.parent.mkdir()
    before = (
        '# my Codex\nmodel = "o4-mini"  # fast\n\n'
        '[mcp_servers.memory]\ncommand = "npx" # pinned\nargs = ["-y", "m"]\n\n'
        '# later\n[profiles.x]\nmodel = "o3"\n'
    )
    config.write_text(before)
    done = clients("codex", "--config", config, "--write", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = config.read_text()
    assert all(line in after.splitlines() for line in before.splitlines())
    assert after.index("[mcp_servers.memory]") < after.index("[mcp_servers.conf]") < after.index("# later")
    parsed = tomllib.loads(after)
    assert parsed["mcp_servers"]["memory"] == {"command": "npx", "args": ["-y", "m"]}
    assert parsed["mcp_servers"]["conf"]["args"][-2] == "conf" and parsed["profiles"] == {"x": {"model": "o3"}}
    assert not (tmp_path / "codex-home").exists()  # --config, not the default


def test_vscode_jsonc_merge_keeps_comments(tmp_path: Path) -> None:
    write_workspace(tmp_path, {"conf": conformance()})
    mcp_json = tmp_path / ".vscode" / "mcp.json"
    mcp_json.parent.mkdir()
    before = (
        '{\n  // for Copilot chat\n  "servers": {\n    /* the team\'s */\n'
        '    "mine": {"type": "http", "url": "https://x.example/mcp"},\n  },\n}\n'
    )
    mcp_json.write_text(before)
    done = clients("vscode", "--write", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = mcp_json.read_text()
    assert "// for Copilot chat" in after and "/* the team's */" in after
    assert after.startswith(before[: before.index("  },")])
    assert '"type": "stdio"' in after and after.endswith("  },\n}\n")


def test_users_entry_of_the_same_name_is_left_alone_unless_forced(tmp_path: Path) -> None:
    write_workspace(tmp_path, {"memory": conformance()})
    mcp_json = tmp_path / ".mcp.json"
    mcp_json.write_text(CLAUDE)
    kept = clients("claude", "--write", cwd=tmp_path)
    assert kept.returncode == 0 and "left alone memory" in kept.stderr and "--force" in kept.stderr
    assert json.loads(mcp_json.read_text())["mcpServers"]["memory"]["command"] == "npx"
    forced = clients("claude", "--write", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "replaced memory" in forced.stderr
    assert json.loads(mcp_json.read_text())["mcpServers"]["memory"]["args"][-2] == "memory"


@pytest.mark.parametrize(
    ("client", "relative", "text"),
    [
        ("claude", ".mcp.json", '{\n  "mcpServers": {\n    "a": {"command": "x"}\n    "b": {}\n  }\n}\n'),
        ("vscode", ".vscode/mcp.json", '{"servers": []}'),
        ("codex", "codex.toml", "[mcp_servers.a\ncommand = 'x'\n"),
    ],
)
def test_a_file_it_cannot_parse_is_left_exactly_as_it_was(
    tmp_path: Path, client: str, relative: str, text: str
) -> None:
    write_workspace(tmp_path, {"conf": conformance()})
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    stamp = target.stat().st_mtime_ns
    extra = ["--config", str(target)] if client == "codex" else []
    done = clients(client, "--write", *extra, cwd=tmp_path)
    assert done.returncode == 1
    assert "nothing was changed" in done.stderr and str(target) in done.stderr
    assert target.read_text() == text and target.stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.rglob("*") if "tmp" in p.name]  # no half-written file left behind


def test_a_workspace_with_problems_gets_no_entries(tmp_path: Path) -> None:
    ws = tmp_path / "bad.code-workspace"
    ws.write_text('{"settings": {"mcpMarshal.servers": {"a": {"args": []}}}}')
    done = clients("claude", "--write", cwd=tmp_path)
    assert done.returncode == 1 and '"command" is required' in done.stderr
    assert not (tmp_path / ".mcp.json").exists()


def test_what_the_workspace_names_is_shown_literally(tmp_path: Path) -> None:
    write_workspace(tmp_path, {"evil\x1b]0;pwned\x07\u202e": conformance()})
    shown = clients("claude", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    for text in (shown.stdout, shown.stderr):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "evil\\u001b]0;pwned\\u0007\\u202e" in shown.stdout  # JSON escapes: the file hides nothing either
    assert "evil\\x1b]0;pwned\\x07" in shown.stderr
