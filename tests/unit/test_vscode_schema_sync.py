"""The VS Code settings schema (``contributes.configuration`` of ``vscode-client/package.json``)
is what ``mcp_marshal.config.vscode_schema`` generates from the pydantic models, so VS Code
never flags a valid ``mcpMarshal.*`` setting nor completes one the server rejects.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest

from mcp_marshal.config import load_workspace
from mcp_marshal.config.models import MarshalSettings
from mcp_marshal.config.vscode_schema import CLIENT_SETTINGS, COMMAND, DEFAULT_MANIFEST, render, vscode_schema

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "vscode-client" / "package.json"
FIXTURES = ROOT / "vscode-client" / "test" / "fixtures"


def test_the_committed_schema_is_the_generated_one() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    assert render(text) == text, f"vscode-client/package.json is out of date with the models; run: {COMMAND}"
    assert DEFAULT_MANIFEST == MANIFEST


def test_render_replaces_only_the_configuration_section() -> None:
    before = '{\n  "name": "x",   "n": [1,2],\n  "contributes": {\n    "commands": [ ],\n    "configuration": '
    after = '\n  },\n  // a comment\n  "z": 1\n}\n'
    out = render(before + '{"old": true}' + after)
    assert out.startswith(before) and out.endswith(after)
    section = out[len(before) : len(out) - len(after)]
    assert json.loads(section)["title"] == "MCP Marshal"
    assert section.splitlines()[-1] == "    }"  # indented as the key that holds it
    with pytest.raises(ValueError, match=r"contributes\.configuration"):
        render('{"contributes": {}}')


DEFS = {
    "Policy": {
        "type": "object",
        "title": "Policy",
        "description": "Docstring of ``Policy``.",
        "properties": {"n": {"type": "integer", "title": "N", "exclusiveMinimum": 0, "default": 5}},
        "additionalProperties": False,
    }
}


NODES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"type": "string", "title": "T", "description": "Plain."}, {"type": "string", "description": "Plain."}),
    ({"type": "string", "description": "Has ``code``."}, {"type": "string", "markdownDescription": "Has `code`."}),
    (
        {"type": "string", "description": "A **bold** word."},
        {"type": "string", "markdownDescription": "A **bold** word."},
    ),
    (
        {"const": "stdio", "type": "string", "default": "stdio"},
        {"type": "string", "enum": ["stdio"], "default": "stdio"},
    ),
    (
        {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}], "default": None},
        {"type": ["integer", "null"], "minimum": 1},
    ),
    (
        {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "null"}]},
        {"type": ["string", "integer", "number", "null"]},
    ),
    (
        {"$ref": "#/$defs/Policy", "description": "The field's own words."},
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1, "default": 5}},
            "additionalProperties": False,
            "description": "The field's own words.",
        },
    ),
    (
        {"anyOf": [{"$ref": "#/$defs/Policy"}, {"type": "null"}], "description": "Override."},
        {
            "type": ["object", "null"],
            "properties": {"n": {"type": "integer", "minimum": 1, "default": 5}},
            "additionalProperties": False,
            "description": "Override.",
        },
    ),
    (
        {"oneOf": [{"$ref": "#/$defs/Policy"}, {"type": "object", "properties": {}}]},
        {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "minimum": 1, "default": 5}},
                    "additionalProperties": False,
                    "markdownDescription": "Docstring of `Policy`.",
                },
                {"type": "object", "properties": {}},
            ]
        },
    ),
    ({"description": "Anything.", "default": None}, {"description": "Anything."}),
]


@pytest.mark.parametrize(("pydantic_node", "vscode_node"), NODES)
def test_pydantic_nodes_become_vscode_nodes(pydantic_node: dict[str, Any], vscode_node: dict[str, Any]) -> None:
    assert vscode_schema(pydantic_node, DEFS) == vscode_node


def test_every_model_setting_and_the_client_settings_are_contributed() -> None:
    properties = json.loads(MANIFEST.read_text(encoding="utf-8"))["contributes"]["configuration"]["properties"]
    model_keys = {f"mcpMarshal.{f.alias}" for f in MarshalSettings.model_fields.values()}
    assert set(properties) == model_keys | set(CLIENT_SETTINGS)
    assert {k: v["scope"] for k, v in properties.items() if k in CLIENT_SETTINGS} == dict.fromkeys(
        CLIENT_SETTINGS, "machine-overridable"
    )


def _settings(path: Path) -> dict[str, Any]:
    """The fixture's ``settings`` (JSONC: comments and trailing commas stripped)."""
    text = re.sub(r"^\s*//.*$", "", path.read_text(encoding="utf-8"), flags=re.M)
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text)["settings"]


def _marshal(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        k.removeprefix("mcpMarshal."): v
        for k, v in settings.items()
        if k.startswith("mcpMarshal.") and k not in CLIENT_SETTINGS
    }


def test_the_extensions_valid_fixture_is_valid_for_the_models() -> None:
    MarshalSettings.model_validate(_marshal(_settings(FIXTURES / "full.code-workspace")), strict=True)


@pytest.mark.parametrize(
    "case",
    json.loads((FIXTURES / "broken-settings.json").read_text(encoding="utf-8")),
    ids=lambda c: c["why"],
)
def test_what_the_schema_rejects_the_models_reject(case: dict[str, Any]) -> None:
    """The same cases the extension's ajv test rejects (vscode-client/test/settingsSchema.test.ts),
    validated strictly as the workspace loader does (no string-to-number coercion)."""
    with pytest.raises(pydantic.ValidationError):
        MarshalSettings.model_validate(_marshal(case["settings"]), strict=True)


def test_the_loader_accepts_the_clients_own_settings(tmp_path: Path) -> None:
    ws = tmp_path / "x.code-workspace"
    ws.write_text(
        json.dumps({"folders": [{"path": "."}], "settings": {"mcpMarshal.server.python": "/usr/bin/python3"}})
    )
    result = load_workspace(ws)
    assert [p.message for p in result.problems] == []
