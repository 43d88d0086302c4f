"""Translated servers and inputs written into a ``.code-workspace`` file's ``settings``, at the
spans of ``mcpMarshal.servers`` and ``mcpMarshal.inputs`` (flat keys, or the nested
``"mcpMarshal": {...}`` form when the file uses it): every comment and other setting stays.
"""

# pyright: strict

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from mcp_marshal.agents import jsonc_edit
from mcp_marshal.agents.client_formats import Action, Merged
from mcp_marshal.agents.jsonc_edit import CannotEdit, JsonPath
from mcp_marshal.agents.translate import Note, Translation
from mcp_marshal.config import load_workspace

_PREFIX = "mcpMarshal"


def where(settings: dict[str, Any], key: str) -> tuple[str, ...]:
    """The path of ``mcpMarshal.<key>`` in the file: where it is written, else the flat key."""
    nested = settings.get(_PREFIX)
    if f"{_PREFIX}.{key}" not in settings and isinstance(nested, dict) and key in nested:
        return ("settings", _PREFIX, key)
    return ("settings", f"{_PREFIX}.{key}")


def merge_into_workspace(text: str, translation: Translation, *, force: bool, what: str) -> Merged:
    """``text`` with the translated servers added (``replace``d only when ``force``; a server
    of the same name is otherwise left alone) and the inputs those servers use."""
    doc = jsonc_edit.parse_or_refuse(text, what)
    top = doc.value
    if not isinstance(top, dict):
        raise CannotEdit(f"{what} does not hold a JSON object; nothing was changed")
    settings: Any = cast(dict[str, Any], top).get("settings", {})
    if not isinstance(settings, dict):
        raise CannotEdit(f'"settings" in {what} is not an object; nothing was changed')
    settings = cast(dict[str, Any], settings)
    servers_at, inputs_at = where(settings, "servers"), where(settings, "inputs")
    existing: Any = _at(top, servers_at)
    if existing is None:
        existing = {}
    if not isinstance(existing, dict):
        raise CannotEdit(f'"{servers_at[-1]}" in {what} is not an object; nothing was changed')
    existing = cast(dict[str, Any], existing)
    actions: list[Action] = []
    written: set[str] = set()
    for name, entry in translation.servers.items():
        if name not in existing:
            kind = "add"
        elif existing[name] == entry:
            kind = "unchanged"
        else:
            kind = "replace" if force else "keep"
        detail = "a server of this name is in the workspace file; --force replaces it" if kind == "keep" else ""
        actions.append(Action(name, kind, detail))
        if kind in ("add", "replace"):
            text = jsonc_edit.set_value(text, [*servers_at, name], entry, what=what)
            written.add(name)
    needed = sorted({i for name in written for i in translation.uses.get(name, ())})
    text, input_actions = _merge_inputs(text, inputs_at, [translation.inputs[i] for i in needed], force, what)
    return Merged(text, (*actions, *input_actions))


def without_unloadable(
    file: Path,
    text: str,
    translation: Translation,
    *,
    force: bool,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Translation:
    """``translation`` less the servers whose entry would stop ``file`` (``text``, which loads)
    from loading here, each with the loader's reason: a ``url`` whose ``${env:…}`` is unset in
    this environment, say. What is written must pass ``mcp-marshal check``."""
    keep: dict[str, dict[str, Any]] = {}
    notes = list(translation.notes)
    for name, entry in translation.servers.items():
        alone = dataclasses.replace(translation, servers={name: entry}, notes=[])
        merged = merge_into_workspace(text, alone, force=force, what=str(file))
        result = load_workspace(file, text=merged.text, environ=environ, home=home)
        if not result.errors:
            keep[name] = entry
            continue
        mine = [p.message for p in result.problems if f'server "{name}"' in p.message]
        why = "; ".join(dict.fromkeys([result.errors[0].message, *mine]))
        notes.append(Note(name, "skipped", f"not imported: the workspace file would not load: {why}"))
    uses = {n: u for n, u in translation.uses.items() if n in keep}
    return dataclasses.replace(translation, servers=keep, uses=uses, notes=notes)


def _merge_inputs(
    text: str, at: JsonPath, inputs: list[dict[str, Any]], force: bool, what: str
) -> tuple[str, list[Action]]:
    actions: list[Action] = []
    for entry in inputs:
        current: Any = _at(jsonc_edit.parse_or_refuse(text, what).value, at)
        if current is not None and not isinstance(current, list):
            raise CannotEdit(f'"{at[-1]}" in {what} is not an array; nothing was changed')
        items = cast(list[Any], current or [])
        ids = [cast(dict[str, Any], item).get("id") if isinstance(item, dict) else None for item in items]
        index = ids.index(entry["id"]) if entry["id"] in ids else None
        label = f'input "{entry["id"]}"'
        if index is None:
            text = jsonc_edit.append_item(text, at, entry, what=what)
            actions.append(Action(label, "add"))
        elif items[index] == entry:
            actions.append(Action(label, "unchanged"))
        elif force:
            text = jsonc_edit.set_value(text, [*at, index], entry, what=what)
            actions.append(Action(label, "replace"))
        else:
            why = "the workspace file declares it differently, and its declaration is used; --force replaces it"
            actions.append(Action(label, "keep", why))
    return text, actions


def _at(value: Any, path: JsonPath) -> Any:
    for part in path:
        if isinstance(part, str) and isinstance(value, dict):
            value = cast(dict[str, Any], value).get(part)
        else:
            return None
    return value
