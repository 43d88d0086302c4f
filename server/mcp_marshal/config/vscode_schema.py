"""The VS Code extension's settings schema, generated from the pydantic models.

``contributes.configuration`` in ``vscode-client/package.json`` is what VS Code validates,
completes and documents ``mcpMarshal.*`` settings with; generating it from ``MarshalSettings``
means it can never drift from what the loader accepts. After changing a model, run::

    .venv/bin/python scripts/gen_settings_schema.py            # rewrite that section
    .venv/bin/python scripts/gen_settings_schema.py --check    # exit 1 if it is out of date

Only that section of the file changes; the rest is another owner's and stays byte for byte.
Pure functions here; the script is the shell that reads and writes the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from mcp_marshal.config.jsonc import parse_jsonc
from mcp_marshal.config.models import PREFIX, MarshalSettings

COMMAND = ".venv/bin/python scripts/gen_settings_schema.py"
DEFAULT_MANIFEST = Path(__file__).resolve().parents[3] / "vscode-client" / "package.json"

#: The extension's own settings: how VS Code launches us, read by the TypeScript client only.
CLIENT_SETTINGS: dict[str, dict[str, Any]] = {
    f"{PREFIX}server.path": {
        "type": "string",
        "default": "",
        "markdownDescription": (
            "Path to an `mcp-marshal` executable (wins over `server.python`). In a remote window (Remote-SSH,"
            " WSL, dev containers, code-server) set it in the **Remote** settings (Preferences: Open Remote"
            " Settings): User settings apply to local windows only."
        ),
        "scope": "machine-overridable",
        "order": 10,
    },
    f"{PREFIX}server.python": {
        "type": "string",
        "default": "",
        "markdownDescription": (
            "A Python interpreter that has `mcp_marshal` installed (used when `server.path` is empty). In a"
            " remote window set it in the **Remote** settings (Preferences: Open Remote Settings)."
        ),
        "scope": "machine-overridable",
        "order": 11,
    },
}

# Schema keywords first in this order (the rest after, as pydantic wrote them), so the file
# reads like the hand-written schema it replaces.
_KEY_ORDER = (
    "type",
    "enum",
    "properties",
    "additionalProperties",
    "items",
    "anyOf",
    "required",
    "minimum",
    "maximum",
    "minLength",
    "pattern",
    "description",
    "markdownDescription",
    "default",
    "enumDescriptions",
    "scope",
    "order",
    "defaultSnippets",
)
_DESCRIPTIONS = ("description", "markdownDescription")
_MARKDOWN = re.compile(r"`|\*\*|\[[^\]]+\]\(")


class _AsWritten(GenerateJsonSchema):
    """pydantic sorts keys alphabetically; keep the models' order (snippets, enum texts)."""

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        return value


def configuration() -> dict[str, Any]:
    """The ``contributes.configuration`` object for ``MarshalSettings`` plus ``CLIENT_SETTINGS``."""
    schema = MarshalSettings.model_json_schema(by_alias=True, schema_generator=_AsWritten)
    defs: dict[str, Any] = schema.get("$defs", {})
    defaults = MarshalSettings().model_dump(by_alias=True, mode="json")
    properties: dict[str, Any] = {}
    for order, (key, field) in enumerate(schema["properties"].items()):
        entry = vscode_schema(field, defs)
        entry.update(default=defaults[key], scope="window", order=order)
        properties[f"{PREFIX}{key}"] = _ordered(entry)
    properties.update(CLIENT_SETTINGS)
    return {"title": "MCP Marshal", "properties": properties}


def vscode_schema(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One pydantic JSON Schema node as VS Code's settings editor reads it best: ``$ref``
    inlined (the field's own description wins over its model's), no ``title``, a single
    ``const`` as an ``enum``, ``X | None`` as ``"type": [X, "null"]``, no ``"default": null``
    (completing a key with ``null`` helps nobody), ``gt`` on an integer as ``minimum``, and
    Markdown descriptions (RST double backticks made single) as ``markdownDescription``."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**_without_descriptions(target, node), **{k: v for k, v in node.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "default" and value is None):  # null means unset: nothing to offer
            continue
        if key == "properties":
            out[key] = {name: vscode_schema(sub, defs) for name, sub in value.items()}
        elif key in ("additionalProperties", "items") and isinstance(value, dict):
            out[key] = vscode_schema(cast("dict[str, Any]", value), defs)
        elif key in ("anyOf", "oneOf"):
            out["anyOf"] = [vscode_schema(member, defs) for member in value]
        elif key == "const":
            out["enum"] = [value]
        elif key == "description":
            text = value.replace("``", "`")
            out["markdownDescription" if _MARKDOWN.search(text) else "description"] = text
        else:
            out[key] = value
    members = out.pop("anyOf", None)
    if members is not None:
        merged = _nullable(members)
        out = {**_without_descriptions(merged, out), **out} if merged is not None else {**out, "anyOf": members}
    types = out.get("type")
    if "exclusiveMinimum" in out and (types == "integer" or (isinstance(types, list) and "integer" in types)):
        out["minimum"] = out.pop("exclusiveMinimum") + 1  # "at least 1" reads better than "more than 0"
    return _ordered(out)


def _nullable(members: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``anyOf`` of plain types, at most one with constraints, as one node with a type list."""
    if not all(isinstance(m.get("type"), str) for m in members):
        return None
    rich = [m for m in members if set(m) - {"type"}]
    if len(rich) > 1:
        return None
    return {**(rich[0] if rich else {}), "type": [m["type"] for m in members]}


def _without_descriptions(inner: dict[str, Any], outer: dict[str, Any]) -> dict[str, Any]:
    if any(k in outer for k in _DESCRIPTIONS):
        return {k: v for k, v in inner.items() if k not in _DESCRIPTIONS}
    return inner


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    first = {k: node[k] for k in _KEY_ORDER if k in node}
    return {**first, **{k: v for k, v in node.items() if k not in first}}


def render(manifest: str) -> str:
    """``manifest`` (the text of ``package.json``) with ``contributes.configuration`` replaced
    by ``configuration()``, indented as the file is; every other byte stays as it was."""
    doc = parse_jsonc(manifest)
    node, _, matched = doc.find(("contributes", "configuration"))
    if doc.errors or node is None or matched != 2:
        raise ValueError("the manifest has no readable contributes.configuration to replace")
    data = manifest.encode("utf-8")
    line = data[data.rfind(b"\n", 0, node.start_byte) + 1 : node.start_byte]
    indent = line[: len(line) - len(line.lstrip())].decode()
    text = json.dumps(configuration(), indent=2, ensure_ascii=False).replace("\n", "\n" + indent)
    return (data[: node.start_byte] + text.encode("utf-8") + data[node.end_byte :]).decode("utf-8")
