"""The VS Code extension's settings schema (``vscode-client/package.json``) matches the pydantic
models of ``mcp_marshal.config.models`` key for key, default for default, enum for enum.

A field added to a model without a schema entry (or the reverse) fails here, so VS Code never
flags a valid ``mcpMarshal.*`` setting nor completes one the server rejects.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pydantic
import pytest
from pydantic import BaseModel

from mcp_marshal.config.models import (
    HttpServerSettings,
    InputSettings,
    MarshalSettings,
    StdioServerSettings,
)

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "vscode-client"
MANIFEST = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))
PROPERTIES: dict[str, dict[str, Any]] = MANIFEST["contributes"]["configuration"]["properties"]
FIXTURES = CLIENT / "test" / "fixtures"

# The extension's own settings: read by the TypeScript client, never by the server.
CLIENT_KEYS = {"mcpMarshal.server.path", "mcpMarshal.server.python"}
# The settings that are one nested policy model each.
POLICY_KEYS = ("restart", "health", "stop", "locks", "telemetry")


def _alias(name: str, field: pydantic.fields.FieldInfo) -> str:
    return field.alias or name


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models reachable from an annotation (Optional, Annotated unions, containers)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _literal_values(annotation: Any) -> list[Any] | None:
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in get_args(annotation):
            values = _literal_values(arg)
            if values is not None:
                return values
    return None


def _compare(model: type[BaseModel], schema: dict[str, Any], path: str, problems: list[str]) -> None:
    fields = {_alias(n, f): f for n, f in model.model_fields.items()}
    props: dict[str, Any] = schema.get("properties", {})
    for key in sorted(fields.keys() - props.keys()):
        problems.append(f"{path}.{key}: in the pydantic model, missing from package.json")
    for key in sorted(props.keys() - fields.keys()):
        problems.append(f"{path}.{key}: in package.json, not in the pydantic model")
    if schema.get("additionalProperties") is not False:
        problems.append(f"{path}: must set additionalProperties: false (the model forbids extra keys)")
    required = sorted(k for k, f in fields.items() if f.is_required())
    if sorted(schema.get("required", [])) != required:
        problems.append(f"{path}: required {schema.get('required', [])} != model's {required}")
    for key, field in fields.items():
        sub = props.get(key)
        if sub is None:
            continue
        has_default = not field.is_required() and field.default_factory is None
        if has_default and field.default is not None and sub.get("default") != field.default:
            problems.append(f"{path}.{key}: default {sub.get('default')!r} != model's {field.default!r}")
        literal = _literal_values(field.annotation)
        if literal is not None and sorted(sub.get("enum", [])) != sorted(literal):
            problems.append(f"{path}.{key}: enum {sub.get('enum')} != model's {literal}")
        models = _models_in(field.annotation)
        if len(models) == 1 and get_origin(field.annotation) not in (dict, list):
            _compare(models[0], sub, f"{path}.{key}", problems)


def _server_variants() -> dict[tuple[str, ...], dict[str, Any]]:
    """The ``mcpMarshal.servers`` entry schemas, keyed by their ``type`` enum."""
    variants = PROPERTIES["mcpMarshal.servers"]["additionalProperties"]["anyOf"]
    return {tuple(v["properties"]["type"]["enum"]): v for v in variants}


def test_every_model_key_is_in_the_schema_and_back() -> None:
    expected = {f"mcpMarshal.{_alias(n, f)}" for n, f in MarshalSettings.model_fields.items()}
    assert set(PROPERTIES) - CLIENT_KEYS == expected


@pytest.mark.parametrize("key", POLICY_KEYS)
def test_policy_sections_match_their_models(key: str) -> None:
    field = MarshalSettings.model_fields[key]
    (model,) = _models_in(field.annotation)
    schema = PROPERTIES[f"mcpMarshal.{key}"]
    problems: list[str] = []
    _compare(model, schema, f"mcpMarshal.{key}", problems)
    assert problems == []
    assert schema["default"] == model().model_dump(by_alias=True)


def test_server_entries_match_both_server_models() -> None:
    by_type = _server_variants()
    assert set(by_type) == {("stdio",), ("http", "sse")}
    problems: list[str] = []
    _compare(StdioServerSettings, by_type[("stdio",)], "servers.<stdio>", problems)
    _compare(HttpServerSettings, by_type[("http", "sse")], "servers.<http>", problems)
    assert problems == []


def test_inputs_match_the_input_model() -> None:
    problems: list[str] = []
    _compare(InputSettings, PROPERTIES["mcpMarshal.inputs"]["items"], "inputs[]", problems)
    assert problems == []


def test_numeric_bounds_match() -> None:
    """``ge``/``gt`` constraints appear as ``minimum`` so VS Code flags what the server rejects."""
    from annotated_types import Ge, Gt

    problems: list[str] = []

    def walk(model: type[BaseModel], schema: dict[str, Any], path: str) -> None:
        for name, field in model.model_fields.items():
            sub = schema["properties"][_alias(name, field)]
            for meta in field.metadata:
                bound = meta.ge if isinstance(meta, Ge) else meta.gt + 1 if isinstance(meta, Gt) else None
                if bound is not None and sub.get("minimum") != bound:
                    problems.append(f"{path}.{_alias(name, field)}: minimum {sub.get('minimum')} != {bound}")
            models = _models_in(field.annotation)
            if len(models) == 1 and get_origin(field.annotation) not in (dict, list):
                walk(models[0], sub, f"{path}.{_alias(name, field)}")

    for key in POLICY_KEYS:
        (model,) = _models_in(MarshalSettings.model_fields[key].annotation)
        walk(model, PROPERTIES[f"mcpMarshal.{key}"], key)
    by_type = _server_variants()
    walk(StdioServerSettings, by_type[("stdio",)], "servers.<stdio>")
    walk(HttpServerSettings, by_type[("http", "sse")], "servers.<http>")
    assert problems == []


def _settings(path: Path) -> dict[str, Any]:
    """The fixture's ``settings`` (JSONC: comments and trailing commas stripped)."""
    text = re.sub(r"^\s*//.*$", "", path.read_text(encoding="utf-8"), flags=re.M)
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text)["settings"]


def _marshal(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        k.removeprefix("mcpMarshal."): v
        for k, v in settings.items()
        if k.startswith("mcpMarshal.") and k not in CLIENT_KEYS
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
    from mcp_marshal.config import load_workspace

    ws = tmp_path / "x.code-workspace"
    ws.write_text(
        json.dumps({"folders": [{"path": "."}], "settings": {"mcpMarshal.server.python": "/usr/bin/python3"}})
    )
    result = load_workspace(ws)
    assert [p.message for p in result.problems] == []
