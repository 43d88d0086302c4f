"""Other clients' server entries as ``mcpMarshal.servers``: the same meaning where it exists, a
note (naming fields and variables, never values) where it does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcp_marshal.agents.translate import Translation, read_source, translate
from mcp_marshal.config.models import Folder
from mcp_marshal.errors import UserError

ROOT = Path("/p")
FOLDERS = [Folder("api", ROOT / "api"), Folder("web", ROOT / "web")]


def run(file: Path, doc: dict[str, Any], folders: list[Folder] = FOLDERS, **kw: Any) -> Translation:
    return translate(read_source(file, json.dumps(doc), **kw), folders)


def notes(t: Translation, kind: str | None = None) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    for n in t.notes:
        if kind is None or n.kind == kind:
            out.setdefault(n.server, []).append(n.message)
    return out


VSCODE = {
    "inputs": [
        {"type": "promptString", "id": "gh", "description": "GitHub PAT", "password": True},
        {"type": "promptString", "id": "spare", "description": "nobody uses it"},
    ],
    "servers": {
        "github": {
            "type": "http",
            "url": "https://api.example/mcp",
            "headers": {"Authorization": "Bearer ${input:gh}"},
        },
        "db": {
            "command": "uvx",
            "args": ["mcp-server-sqlite", "--db", "${workspaceFolder}/dev.db", 3],
            "envFile": "${workspaceFolder}/.env",
            "env": {"LEVEL": 2, "UNSET_ME": None, "HOME_DIR": "${userHome}", "PASS": "${env:DB_PASS}"},
            "dev": {"watch": "src/**"},
        },
        "old": {"type": "sse", "url": "http://localhost:9/sse"},
        "file": {"command": "x", "args": ["${file}"]},
        "typo": {"command": "x", "args": ["${input:nope}"]},
        "extra": {"command": "x", "alwaysAllow": ["t"]},
    },
    "sandbox": {"network": {}},
}


def test_vscode_entries_keep_their_meaning_in_the_first_folder() -> None:
    t = run(ROOT / "api" / ".vscode" / "mcp.json", VSCODE)
    assert t.servers["github"] == VSCODE["servers"]["github"]
    assert t.servers["db"] == {
        "command": "uvx",
        "args": ["mcp-server-sqlite", "--db", "${workspaceFolder}/dev.db", "3"],
        "env": {"LEVEL": 2, "UNSET_ME": None, "HOME_DIR": "${userHome}", "PASS": "${env:DB_PASS}"},
        "envFile": "${workspaceFolder}/.env",
        "dev": {"watch": "src/**"},
    }
    assert t.servers["old"] == {"type": "sse", "url": "http://localhost:9/sse"}
    assert t.servers["extra"] == {"command": "x"}
    assert set(t.servers) == {"github", "db", "old", "extra"}
    assert t.inputs == {"gh": VSCODE["inputs"][0]} and t.uses["github"] == {"gh"}
    said = notes(t)
    assert any("${file}" in m for m in said["file"]) and any('"nope" is not declared' in m for m in said["typo"])
    assert any('"alwaysAllow"' in m for m in said["extra"]) and any('"dev"' in m for m in said["db"])
    assert any("SSE" in m for m in said["old"])
    assert any('"sandbox"' in m for m in said[None]) and any("spare" in m for m in said[None])


def test_a_second_folders_variables_and_default_cwd_become_explicit() -> None:
    doc = {
        "servers": {
            "ui": {"command": "./bin/ui", "cwd": "tools", "envFile": ".env"},
            "plain": {"command": "node", "args": ["${workspaceFolder}/s.js", "${workspaceFolderBasename}"]},
        }
    }
    t = run(ROOT / "web" / ".vscode" / "mcp.json", doc)
    assert t.servers["ui"] == {
        "command": "${workspaceFolder:web}/tools/bin/ui",
        "envFile": "${workspaceFolder:web}/.env",
        "cwd": "${workspaceFolder:web}/tools",
    }
    assert t.servers["plain"] == {
        "command": "node",
        "args": ["${workspaceFolder:web}/s.js", "${workspaceFolderBasename:web}"],
        "cwd": "${workspaceFolder:web}",
    }
    elsewhere = run(Path("/q/.vscode/mcp.json"), doc)
    assert elsewhere.servers["plain"]["args"] == ["/q/s.js", "q"] and elsewhere.servers["plain"]["cwd"] == "/q"


def test_claude_variables_become_env_variables_and_defaults_are_kept_and_reported() -> None:
    doc = {
        "mcpServers": {
            "api": {
                "type": "http",
                "url": "${API_BASE:-https://api.example.com}/mcp",
                "headers": {"Authorization": "Bearer ${API_KEY}", "X-Tenant": "acme-s3cr3t"},
            },
            "local": {
                "command": "${HOME}/bin/srv",
                "args": ["--port", "$PORT", "${EMPTY:-}"],
                "env": {"TOKEN": "${TOKEN:-s3cr3t}"},
            },
            "nested": {"command": "x", "args": ["${A:-${B}}"]},
            "vscodeish": {"command": "x", "args": ["${env:X}"]},
        }
    }
    t = run(ROOT / "api" / ".mcp.json", doc)
    assert t.servers["api"] == {
        "type": "http",
        "url": "https://api.example.com/mcp",
        "headers": {"Authorization": "Bearer ${env:API_KEY}", "X-Tenant": "acme-s3cr3t"},
    }
    assert t.servers["local"] == {
        "command": "${env:HOME}/bin/srv",
        "args": ["--port", "$PORT", "${env:EMPTY}"],
        "env": {"TOKEN": "s3cr3t"},
    }
    inexact = notes(t, "inexact")
    assert any("${API_BASE:-…}" in m and "default" in m for m in inexact["api"])
    assert any("${TOKEN:-…}" in m for m in inexact["local"]) and len(inexact["local"]) == 1  # ${EMPTY:-} is exact
    assert any("env.TOKEN" in m for m in notes(t, "secret")["local"])  # the default is a literal now
    assert set(notes(t, "skipped")) == {"nested", "vscodeish"}
    assert not any("s3cr3t" in n.message or "example.com" in n.message for n in t.notes)  # names, never values


def test_literal_secrets_are_pointed_out_by_name() -> None:
    doc = {"mcpServers": {"s": {"command": "x", "env": {"API_KEY": "sk-live-123", "MODE": "dev", "TOKEN": "${T}"}}}}
    t = run(ROOT / "api" / ".mcp.json", doc)
    [secret] = [n for n in t.notes if n.kind == "secret"]
    assert "env.API_KEY" in secret.message and "sk-live" not in secret.message


def test_cursor_files_use_vscode_style_variables() -> None:
    doc = {"mcpServers": {"c": {"command": "npx", "args": ["${env:X}", "${userHome}/d"], "envFile": ".env"}}}
    t = run(ROOT / "api" / ".cursor" / "mcp.json", doc)
    assert t.servers["c"] == {
        "command": "npx",
        "args": ["${env:X}", "${userHome}/d"],
        "envFile": "${workspaceFolder}/.env",
    }
    as_claude = run(ROOT / "api" / ".cursor" / "mcp.json", doc, dialect="claude")
    assert "c" not in as_claude.servers  # ${env:X} is no Claude variable


def test_inputs_carry_over_or_take_their_servers_with_them() -> None:
    doc = {
        "inputs": [
            {
                "type": "pickString",
                "id": "region",
                "description": "d",
                "options": [{"label": "EU", "value": "eu"}, "us"],
            },
            {"type": "promptString", "id": "k", "description": "d", "password": True, "extra": 1},
            {"type": "shellCommand", "id": "bad"},
        ],
        "servers": {
            "a": {"command": "x", "args": ["${input:region}", "${input:k}"]},
            "b": {"type": "http", "url": "https://x/${input:bad}"},
        },
    }
    t = run(ROOT / "api" / "mcp.json", doc)
    assert t.inputs["region"]["options"] == ["eu", "us"]
    assert "extra" not in t.inputs["k"]
    assert set(t.servers) == {"a"} and "bad" not in t.inputs
    assert any('"bad"' in m for m in notes(t, "skipped")["b"])


def test_sources_in_a_workspace_file_in_settings_json_and_as_a_bare_map(tmp_path: Path) -> None:
    ws = tmp_path / "x.code-workspace"
    doc = {
        "folders": [{"path": "app", "name": "App"}],
        "settings": {"mcp": {"servers": {"s": {"command": "c", "cwd": "${workspaceFolder:App}"}}}},
    }
    src = read_source(ws, json.dumps(doc))
    assert src.folder == tmp_path / "app" and src.kind.startswith("a .code-workspace")
    assert translate(src, [Folder("app", tmp_path / "app")]).servers["s"]["cwd"] == "${workspaceFolder}"
    settings = read_source(
        tmp_path / ".vscode" / "settings.json", json.dumps({"mcp": {"servers": {"s": {"command": "c"}}}})
    )
    assert settings.folder == tmp_path and set(settings.servers) == {"s"}
    bare = read_source(tmp_path / ".mcp.json", json.dumps({"s": {"command": "c"}}))
    assert bare.dialect == "claude" and set(bare.servers) == {"s"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.json", '{"other": 1}', "declares no MCP servers"),
        ("a.json", '{"mcpServers": []}', "is not an object"),
        ("x.code-workspace", '{"settings": {}}', 'no "settings.mcp"'),
        ("a.json", '{"servers": ', "nothing was changed"),
    ],
)
def test_files_without_servers_say_so(name: str, text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        read_source(ROOT / name, text)


def test_a_relative_program_with_a_claude_variable_is_translated_once() -> None:
    doc = {"mcpServers": {"s": {"command": "bin/${TOOL}", "args": []}}}
    t = run(ROOT / "web" / ".mcp.json", doc)
    assert t.servers["s"] == {
        "command": "${workspaceFolder:web}/bin/${env:TOOL}",
        "args": [],
        "cwd": "${workspaceFolder:web}",
    }
