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
from mcp_marshal.literal import visible


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
        value, key, written, on_key = _walk(doc, path, err["type"])
        node = key if on_key and key is not None else value
        span = doc.span(node) if node is not None else doc.root_span()
        place = (span.line, span.character, span.end_line, span.end_character)
        if place in seen:
            continue
        seen.add(place)
        # The message names keys as written: a settings loc starts with its key, then the path.
        named = (loc[0], *written[len(path) - len(loc) + 1 :]) if settings_at is not None and loc else written
        yield span, message(err, named, in_settings=settings_at is not None)


def _walk(doc: JsoncDocument, loc: JsonPath, kind: str) -> tuple[Any, Any, JsonPath, bool]:
    """Follow a pydantic ``loc`` in the file, skipping parts that are not written there
    (discriminator tags, union member names). ``missing`` ends at the object that lacks the
    key; ``union_tag_invalid`` goes on to the ``type`` that names the bad tag; ``string_unicode``
    on an object goes on to the key that holds a lone surrogate.

    Returns the value and key nodes, ``loc`` with each key as written (pydantic's own strings
    cannot hold a lone surrogate, so it hands back such a key with U+FFFD in its place), and
    whether the problem belongs on the key rather than the value.
    """
    path: list[str | int] = []
    written = list(loc)
    for i, part in enumerate(loc):
        step = _key_as_written(doc, path, part)
        if step is not None:
            path.append(step)
            written[i] = step
        elif i + 1 < len(loc) and _key_as_written(doc, path, loc[i + 1]) is not None:
            continue
        else:
            break
    on_key = kind in ("extra_forbidden", "missing")
    if kind == "union_tag_invalid" and doc.find((*path, "type"))[2] == len(path) + 1:
        path.append("type")
    elif kind == "string_unicode":
        bad = next((k for k in doc.keys(path) if _lossy(k) != k), None)
        if bad is not None:
            path.append(bad)
            written.append(bad)
            on_key = True
    value, key, _ = doc.find(path)
    return value, key, tuple(written), on_key


def _key_as_written(doc: JsoncDocument, path: list[str | int], part: str | int) -> str | int | None:
    if doc.find((*path, part))[2] == len(path) + 1:
        return part
    if isinstance(part, str) and "\ufffd" in part:
        return next((k for k in doc.keys(path) if _lossy(k) == part), None)
    return None


def _lossy(key: str) -> str:
    """``key`` as pydantic reports it: lone surrogates become U+FFFD, one per UTF-8 byte."""
    return key.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


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
    "string_unicode": "must not contain an unpaired surrogate escape (\\uD800-\\uDFFF)",
}
_MEMBERS = ("str", "int", "float", "none")  # union member names pydantic puts in a loc


def message(err: ErrorDetails, loc: JsonPath, *, in_settings: bool) -> str:
    """A pydantic error in the user's words: which server or setting, which field, what is
    wrong. Names (keys the user wrote) are quoted through ``visible``; values never appear."""
    kind = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    parts = list(loc)
    subject, tag = "", None
    if in_settings and parts:
        if kind == "extra_forbidden" and len(parts) == 1:
            return f'unknown setting "{visible(PREFIX + str(parts[0]))}"'
        head = parts.pop(0)
        if head == "servers" and parts:
            subject = f'server "{visible(str(parts.pop(0)))}"'
            if parts and parts[0] in ("stdio", "http"):
                tag = str(parts.pop(0))
        else:
            subject = f'"{PREFIX}{head}"'
    if kind == "extra_forbidden":
        return f"{subject}: unknown field {_field(parts)}" if subject else f"unknown field {_field(parts)}"
    if kind == "union_tag_invalid":
        return f'{subject}: unknown type "{visible(str(ctx.get("tag")))}" (expected "stdio", "http" or "sse")'
    if kind == "union_tag_not_found":
        return f'{subject} must be an object with "command" (stdio) or "url" (http, sse)'
    while parts and parts[-1] in _MEMBERS:
        parts.pop()
    field = _field(parts)
    if kind == "missing":
        need = f'"{visible(str(parts[-1]))}" is required' if parts else "a value is required"
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
    """``env.K`` / ``args[2]``, quoted; keys the user wrote go through ``visible``."""
    if not parts:
        return ""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{visible(p)}" for p in parts).lstrip(".")
    return f'"{text}"'
