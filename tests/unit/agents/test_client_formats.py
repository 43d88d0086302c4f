"""Our connect entries merged into each client's file: others' entries and the file's layout
kept, ours updated in place, the user's of the same name left alone unless forced."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomlkit

from mcp_marshal.agents.client_formats import FORMATS, default_file
from mcp_marshal.agents.connect_entries import MARSHAL, Entry, connect_entries, ownership
from mcp_marshal.agents.jsonc_edit import CannotEdit
from mcp_marshal.config import load_workspace

WS = Path("/home/ann/proj/proj.code-workspace")
EXE = "/opt/mm/bin/mcp-marshal"


def entry(name: str, workspace: Path = WS, exe: str = EXE) -> Entry:
    return Entry(name, exe, ("connect", name, str(workspace)))


def test_every_served_server_gets_an_entry_and_marshal_comes_last(tmp_path: Path) -> None:
    ws = tmp_path / "w.code-workspace"
    servers = {
        "files": {"command": "node", "args": ["s.js"], "env": {"TOKEN": "${env:T}"}},
        "remote": {"type": "http", "url": "https://x.example/mcp", "headers": {"Authorization": "Bearer abc"}},
        "legacy": {"type": "sse", "url": "https://x.example/sse"},
        "marshal": {"command": "echo"},
    }
    ws.write_text(json.dumps({"folders": [{"path": "."}], "settings": {"mcpMarshal.servers": servers}}))
    config = load_workspace(ws).config
    assert config is not None
    entries, skipped = connect_entries(config, ("/bin/mm",))
    assert [(e.name, e.command, e.args) for e in entries] == [
        ("files", "/bin/mm", ("connect", "files", str(ws))),
        ("remote", "/bin/mm", ("connect", "remote", str(ws))),
        (MARSHAL, "/bin/mm", ("connect", MARSHAL, str(ws))),
    ]
    assert {s.name for s in skipped} == {"legacy", "marshal"}
    assert "abc" not in repr(entries) and "${env:T}" not in repr(entries)  # nothing of the servers' secrets
    moved, _ = connect_entries(config, ("python", "-m", "mcp_marshal"), "/state")
    assert moved[0].args == ("-m", "mcp_marshal", "connect", "files", str(ws)) and moved[0].env == {
        "MCP_MARSHAL_STATE_DIR": "/state"
    }


def test_ownership_tells_ours_from_the_users_and_from_another_workspace() -> None:
    ours = {"command": "/old/venv/bin/mcp-marshal", "args": ["connect", "db", str(WS)]}
    assert ownership(ours, "db", WS) == "ours"
    assert (
        ownership({"command": "python3", "args": ["-m", "mcp_marshal", "connect", "db", str(WS)]}, "db", WS) == "ours"
    )
    assert ownership({**ours, "args": ["connect", "db", "/else/x.code-workspace"]}, "db", WS) == "other-workspace"
    assert ownership({"command": "npx", "args": ["-y", "db"]}, "db", WS) == "user"
    assert ownership({**ours, "args": ["connect", "other", str(WS)]}, "db", WS) == "user"
    assert ownership("nonsense", "db", WS) == "user"


CLAUDE = """{
    "mcpServers": {
        "memory": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-memory"]
        },
        "db": {"command": "uvx", "args": ["db"]}
    }
}
"""


def test_claude_merge_keeps_other_entries_and_leaves_the_users_alone() -> None:
    merged = FORMATS["claude"].merge(CLAUDE, [entry("db"), entry("conf")], WS, force=False, what=".mcp.json")
    assert [(a.name, a.kind) for a in merged.actions] == [("db", "keep"), ("conf", "add")]
    assert merged.text.startswith(CLAUDE[: CLAUDE.index('"db"')])  # memory's bytes untouched, 4-space indent
    servers = json.loads(merged.text)["mcpServers"]
    assert servers["memory"] == {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]}
    assert servers["db"] == {"command": "uvx", "args": ["db"]}
    assert servers["conf"] == {"command": EXE, "args": ["connect", "conf", str(WS)]}
    assert '\n        "conf": {\n            "command": ' in merged.text

    forced = FORMATS["claude"].merge(CLAUDE, [entry("db")], WS, force=True, what=".mcp.json")
    assert [a.kind for a in forced.actions] == ["replace"]
    assert json.loads(forced.text)["mcpServers"]["db"]["args"] == ["connect", "db", str(WS)]


def test_our_entry_is_updated_in_place_not_duplicated_and_the_users_additions_stay() -> None:
    fmt = FORMATS["cursor"]
    first = fmt.merge("", [entry("db", exe="/old/bin/mcp-marshal")], WS, force=False, what="f").text
    edited = first.replace('"args"', '"disabled": false,\n      "args"')  # something the user added
    again = fmt.merge(edited, [entry("db")], WS, force=False, what="f")
    assert [a.kind for a in again.actions] == ["update"]
    assert json.loads(again.text) == {
        "mcpServers": {"db": {"command": EXE, "disabled": False, "args": ["connect", "db", str(WS)]}}
    }
    assert [a.kind for a in fmt.merge(again.text, [entry("db")], WS, force=False, what="f").actions] == ["unchanged"]


def test_vscode_entries_are_typed_stdio_under_servers_and_jsonc_comments_stay() -> None:
    text = '{\n\t// servers for chat\n\t"servers": {\n\t\t"mine": {"url": "https://x"}, // remote\n\t},\n}\n'
    merged = FORMATS["vscode"].merge(text, [entry("db")], WS, force=False, what="mcp.json")
    assert "// servers for chat" in merged.text and "// remote" in merged.text
    assert '\t\t"db": {\n\t\t\t"type": "stdio",' in merged.text
    assert merged.text.endswith("\t},\n}\n")  # the trailing commas, as written


CODEX = """# Codex settings
model = "o4-mini"  # fast enough

[mcp_servers.memory]
command = "npx"   # pinned below
args = ["-y", "@modelcontextprotocol/server-memory@1.2.0"]

# profiles for later
[profiles.deep]
model = "o3"
"""


def test_codex_merge_keeps_comments_and_tables_and_updates_ours() -> None:
    fmt = FORMATS["codex"]
    merged = fmt.merge(CODEX, [entry("db"), entry(MARSHAL)], WS, force=False, what="config.toml")
    assert [a.kind for a in merged.actions] == ["add", "add"]
    text = merged.text
    for line in CODEX.splitlines():
        assert line in text.splitlines()
    assert text.index("[mcp_servers.memory]") < text.index("[mcp_servers.db]") < text.index("# profiles for later")
    parsed = tomllib.loads(text)
    assert parsed["model"] == "o4-mini" and parsed["profiles"] == {"deep": {"model": "o3"}}
    assert parsed["mcp_servers"]["db"] == {"command": EXE, "args": ["connect", "db", str(WS)]}
    updated = fmt.merge(
        text,
        [Entry("db", "/new/mcp-marshal", ("connect", "db", str(WS)), {"MCP_MARSHAL_STATE_DIR": "/s"})],
        WS,
        force=False,
        what="config.toml",
    )
    assert [(a.name, a.kind) for a in updated.actions] == [("db", "update"), (MARSHAL, "stale")]
    assert tomllib.loads(updated.text)["mcp_servers"]["db"] == {
        "command": "/new/mcp-marshal",
        "args": ["connect", "db", str(WS)],
        "env": {"MCP_MARSHAL_STATE_DIR": "/s"},
    }
    assert updated.text.count("[mcp_servers.db]") == 1


def test_codex_inline_tables_and_names_codex_refuses() -> None:
    fmt = FORMATS["codex"]
    merged = fmt.merge('mcp_servers = { memory = { command = "npx" } }\n', [entry("db")], WS, force=False, what="c")
    assert tomllib.loads(merged.text)["mcp_servers"]["db"]["args"] == ["connect", "db", str(WS)]
    assert fmt.refusal(entry("my.server")) is not None and fmt.refusal(entry("my-server_2")) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("claude", '{"mcpServers": {"a": 1,,}}'),
        ("claude", '{"mcpServers": ["a"]}'),
        ("vscode", "[]"),
        ("codex", "[mcp_servers\ncommand = 1"),
        ("codex", 'mcp_servers = "x"'),
    ],
)
def test_a_file_that_cannot_take_the_entries_is_refused(name: str, text: str) -> None:
    with pytest.raises(CannotEdit, match="nothing was changed"):
        FORMATS[name].merge(text, [entry("db")], WS, force=True, what="the file")


def test_snippets_parse_in_their_own_syntax_and_hold_no_token() -> None:
    entries = [entry("db"), entry(MARSHAL)]
    assert json.loads(FORMATS["json"].snippet(entries))["mcpServers"]["db"]["command"] == EXE
    assert json.loads(FORMATS["vscode"].snippet(entries))["servers"]["db"]["type"] == "stdio"
    assert tomlkit.parse(FORMATS["codex"].snippet(entries))["mcp_servers"]["marshal"]["args"][1] == MARSHAL  # type: ignore[index]


def test_default_files(tmp_path: Path) -> None:
    ws = tmp_path / "w.code-workspace"
    (tmp_path / "app").mkdir()
    ws.write_text('{"folders": [{"path": "app"}]}')
    config = load_workspace(ws).config
    assert config is not None
    home = Path("/home/ann")
    where = {name: default_file(fmt, config, {}, home) for name, fmt in FORMATS.items()}
    assert where == {
        "claude": tmp_path / ".mcp.json",
        "codex": home / ".codex" / "config.toml",
        "cursor": tmp_path / ".cursor" / "mcp.json",
        "vscode": tmp_path / "app" / ".vscode" / "mcp.json",
        "json": None,
    }
    assert default_file(FORMATS["codex"], config, {"CODEX_HOME": "/c"}, home) == Path("/c/config.toml")


def test_an_entry_we_wrote_for_a_server_now_gone_is_reported_not_removed() -> None:
    for name in ("claude", "codex"):
        fmt = FORMATS[name]
        first = fmt.merge("", [entry("old"), entry("db")], WS, force=False, what="f").text
        merged = fmt.merge(first, [entry("db")], WS, force=False, what="f")
        assert [(a.name, a.kind) for a in merged.actions] == [("db", "unchanged"), ("old", "stale")]
        assert merged.text == first and not merged.changed
