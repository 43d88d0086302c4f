"""pydantic's validation errors → problems in the user's words, at the place they wrote it.

pydantic speaks of its own models (``servers.a.stdio.command``, ``int_type``); a user wrote a
key in a JSON file. This module walks each error's ``loc`` through the document, skipping the
parts that are pydantic's alone (discriminator tags, union member names), and words the
message from the field and the kind of error. Messages never include the offending value: it
may be a secret.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mcp_marshal.config.jsonc import JsoncDocument, JsonPath, Span
from mcp_marshal.config.models import PREFIX


def validation_problems(
    exc: ValidationError, doc: JsoncDocument, settings_at: Mapping[str, JsonPath] | None = None
) -> Iterator[tuple[Span, str]]:
    """One ``(span, message)`` per place in the file; pydantic reports a union's members
    separately, and they land on the same place.

    ``settings_at`` maps each ``MarshalSettings`` key to where it is written (the error's
    ``loc`` then starts with that key); without it, ``loc`` is a path from the document root.
    """
    seen: set[tuple[int, int, int, int]] = set()
    for err in exc.errors():
        loc: JsonPath = tuple(err["loc"])
        if settings_at is not None and loc:
            head = str(loc[0])
            path: JsonPath = (*settings_at.get(head, ("settings", f"{PREFIX}{head}")), *loc[1:])
        else:
            path = loc
        value, key = _walk(doc, path, err["type"])
        node = key if err["type"] in ("extra_forbidden", "missing") and key is not None else value
        span = doc.span(node) if node is not None else doc.root_span()
        place = (span.line, span.character, span.end_line, span.end_character)
        if place in seen:
            continue
        seen.add(place)
        yield span, message(err, loc, in_settings=settings_at is not None)


def _walk(doc: JsoncDocument, loc: JsonPath, kind: str) -> tuple[Any, Any]:
    """Follow a pydantic ``loc`` in the file, skipping parts that are not written there
    (discriminator tags, union member names). ``missing`` ends at the object that lacks the
    key; ``union_tag_invalid`` goes on to the ``type`` that names the bad tag."""
    path: list[str | int] = []
    for i, part in enumerate(loc):
        if doc.find((*path, part))[2] == len(path) + 1:
            path.append(part)
        elif i + 1 < len(loc) and doc.find((*path, loc[i + 1]))[2] == len(path) + 1:
            continue
        else:
            break
    if kind == "union_tag_invalid" and doc.find((*path, "type"))[2] == len(path) + 1:
        path.append("type")
    value, key, _ = doc.find(path)
    return value, key


_SIGNS = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}
_TYPES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "string_too_short": "must not be empty",
    "none_required": "must be null",
}
_MEMBERS = ("str", "int", "float", "none")  # union member names pydantic puts in a loc


def message(err: ErrorDetails, loc: JsonPath, *, in_settings: bool) -> str:
    """A pydantic error in the user's words: which server or setting, which field, what is
    wrong. Never includes the offending value (it
    may be a secret)."""
    kind = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    parts = list(loc)
    subject, tag = "", None
    if in_settings and parts:
        if kind == "extra_forbidden" and len(parts) == 1:
            return f'unknown setting "{PREFIX}{parts[0]}"'
        head = parts.pop(0)
        if head == "servers" and parts:
            subject = f'server "{parts.pop(0)}"'
            if parts and parts[0] in ("stdio", "http"):
                tag = str(parts.pop(0))
        else:
            subject = f'"{PREFIX}{head}"'
    if kind == "extra_forbidden":
        return f"{subject}: unknown field {_field(parts)}" if subject else f"unknown field {_field(parts)}"
    if kind == "union_tag_invalid":
        return f'{subject}: unknown type "{ctx.get("tag")}" (expected "stdio", "http" or "sse")'
    if kind == "union_tag_not_found":
        return f'{subject} must be an object with "command" (stdio) or "url" (http, sse)'
    while parts and parts[-1] in _MEMBERS:
        parts.pop()
    field = _field(parts)
    if kind == "missing":
        need = f'"{parts[-1]}" is required' if parts else "a value is required"
        what = {"stdio": " for a stdio server", "http": " for an http server"}.get(tag or "", "")
        return f"{subject}: {need}{what}" if subject else need
    if field == '"tier"' and kind in ("int_type", "greater_than_equal"):
        phrase = "must be an integer ≥ 0"
    elif kind == "string_pattern_mismatch" and parts and parts[-1] == "url":
        phrase = "must start with http:// or https://"
    elif kind == "literal_error":
        phrase = f"must be {ctx.get('expected')}"
    elif kind in _SIGNS:
        bound = next(iter(ctx.values()), "")
        phrase = f"must be {_SIGNS[kind]} {bound}"
    else:
        phrase = _TYPES.get(kind, err["msg"].lower())
    if subject and field:
        return f"{subject}: {field} {phrase}"
    return f"{subject or field} {phrase}".strip()


def _field(parts: Sequence[str | int]) -> str:
    if not parts:
        return ""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return f'"{text}"'
