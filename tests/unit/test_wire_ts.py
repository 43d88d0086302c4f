"""``vscode-client/src/protocol.generated.ts`` is what ``mcp_marshal.wire_ts`` renders from the
wire models, so the extension's type checks (``test/protocol.test.ts``) always see the contract
the server really speaks; and the emitter handles each schema construct the models produce."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mcp_marshal.wire import schema
from mcp_marshal.wire_ts import COMMAND, DEFAULT_OUTPUT, render, ts_type

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "vscode-client" / "src" / "protocol.generated.ts"
SCRIPT = ROOT / "scripts" / "gen_protocol_ts.py"


def test_the_committed_file_is_the_generated_one() -> None:
    assert DEFAULT_OUTPUT == GENERATED
    assert GENERATED.read_text(encoding="utf-8") == render(schema()), f"{GENERATED.name} is stale; run: {COMMAND}"


def test_every_model_and_method_is_declared() -> None:
    text = render(schema())
    for name in schema()["$defs"]:
        assert f"export interface {name} {{" in text or f"export type {name} =" in text
    assert 'gatewayChanged: "mcpMarshal/gatewayChanged",' in text


DEFS = {"Lease": {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]}}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "integer"}, "number"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "string | null"),
        ({"enum": ["stdio", "http"]}, '"stdio" | "http"'),
        ({"const": 1}, "1"),
        ({"type": "array", "items": {"$ref": "#/$defs/Lease"}}, "Lease[]"),
        ({"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}, "(number | null)[]"),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, "Record<string, number>"),
        ({"type": "object", "additionalProperties": True}, "Record<string, unknown>"),
        ({"type": ["string", "null"]}, "string | null"),
        ({}, "unknown"),
    ],
)
def test_schema_nodes_become_typescript_types(node: dict[str, object], expected: str) -> None:
    assert ts_type(node, DEFS) == expected


def test_models_become_interfaces_with_optional_defaults_docs_and_extra_fields() -> None:
    text = render(
        {
            "$defs": {
                "Report": {
                    "type": "object",
                    "description": "``flushTelemetry``: what it delivered.",
                    "properties": {
                        "sent": {"type": "integer", "description": "How many."},
                        "mode": {"type": "string", "default": "x"},
                        "odd-key": {"type": "boolean"},
                    },
                    "required": ["sent"],
                    "additionalProperties": True,
                },
                "Strict": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
            }
        }
    )
    assert "/** `flushTelemetry`: what it delivered. */\nexport interface Report {\n" in text
    assert "  /** How many. */\n  sent: number;\n  mode?: string;\n" in text
    assert '  "odd-key"?: boolean;\n  [key: string]: unknown;\n}' in text
    assert "export interface Strict {\n  a?: string;\n}" in text


def test_an_unknown_reference_or_type_is_a_bug_here() -> None:
    with pytest.raises(ValueError, match="unknown \\$ref"):
        ts_type({"$ref": "#/$defs/Missing"}, DEFS)
    with pytest.raises(ValueError, match="unsupported schema type"):
        ts_type({"type": "tuple"}, DEFS)


def test_the_script_checks_and_writes(tmp_path: Path) -> None:
    out = tmp_path / "protocol.generated.ts"
    check = [sys.executable, str(SCRIPT), str(out), "--check"]
    stale = subprocess.run(check, capture_output=True, text=True, check=False)
    assert stale.returncode == 1 and "out of date" in stale.stderr
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True)
    assert out.read_text(encoding="utf-8") == render(schema())
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
