"""Edits to JSON/JSONC text at exact spans: one value set or one array item appended, and every
other byte (comments, key order, indentation, line endings, trailing commas) left as written.

VS Code's jsonc-parser ``modify`` works the same way for its settings files. The places come
from ``config.jsonc`` (tree-sitter-json), so what we edit is what the loader reads.
"""

# pyright: strict

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from tree_sitter import Node

from mcp_marshal.config.jsonc import JsoncDocument, parse_jsonc
from mcp_marshal.errors import UserError

JsonPath = Sequence[str | int]


_WIDTH = 100  # an array of scalars longer than this gets one item a line


class CannotEdit(UserError):
    """The text cannot take the edit (a syntax error, a value of the wrong kind on the path)."""

    code = "cannot-edit"


@dataclass(frozen=True, slots=True)
class _Layout:
    unit: str  # one level of indentation
    eol: str


def parse_or_refuse(text: str, what: str) -> JsoncDocument:
    """``text`` parsed, or ``CannotEdit`` naming the first syntax error (``what``: the file)."""
    doc = parse_jsonc(text)
    if doc.errors:
        error = doc.errors[0]
        raise CannotEdit(f"{what}:{error.span.line + 1}:{error.span.column}: {error.message}; nothing was changed")
    if not doc.empty and not isinstance(doc.value, dict | list):
        raise CannotEdit(f"{what} does not hold a JSON object; nothing was changed")
    return doc


def set_value(text: str, path: JsonPath, value: Any, *, what: str = "the file") -> str:
    """``text`` with the value at ``path`` replaced by ``value``, or inserted as the last member
    of the deepest object on ``path`` that exists (missing objects in between are created)."""
    doc = parse_or_refuse(text, what)
    data = text.encode("utf-8")
    root = doc.find(())[0]
    layout = _layout(text, data, root)
    if root is None:  # an empty file (or only comments): the new value is the whole document
        head = "" if not text.strip() else text if text.endswith("\n") else text + layout.eol
        out = head + _dumps(_nest(path, value), "", layout) + layout.eol
        _check(out, path, value)
        return out
    node, _, matched = doc.find(path)
    assert node is not None
    if matched == len(path):
        new = _replace(data, node, value, layout)
    else:
        part = path[matched]
        if node.type != "object" or not isinstance(part, str):
            kind = "an array" if node.type == "array" else "an object" if node.type == "object" else "a value"
            raise CannotEdit(f"{_dotted(path[:matched]) or 'the top level'} in {what} is {kind}; nothing was changed")
        new = _insert(data, node, _member(part, _nest(path[matched + 1 :], value)), layout)
    out = new.decode("utf-8")
    _check(out, path, value)
    return out


def append_item(text: str, path: JsonPath, value: Any, *, what: str = "the file") -> str:
    """``text`` with ``value`` appended to the array at ``path`` (created holding only ``value``
    when nothing is there)."""
    doc = parse_or_refuse(text, what)
    node, _, matched = doc.find(path)
    if node is None or matched < len(path):
        return set_value(text, path, [value], what=what)
    if node.type != "array":
        raise CannotEdit(f"{_dotted(path)} in {what} is not an array; nothing was changed")
    count = len(_items(node))
    data = text.encode("utf-8")
    layout = _layout(text, data, doc.find(())[0])
    out = _insert(data, node, lambda base, layout: _dumps(value, base, layout), layout)
    result = out.decode("utf-8")
    _check(result, [*path, count], value)
    return result


def render(value: Any) -> str:
    """``value`` as JSON laid out as the edits lay it out (two spaces), for showing it."""
    return _dumps(value, "", _Layout("  ", "\n"))


# --- the edits ---------------------------------------------------------------------------------


def _replace(data: bytes, node: Node, value: Any, layout: _Layout) -> bytes:
    base = _line_indent(data, node.start_byte)
    return data[: node.start_byte] + _dumps(value, base, layout).encode("utf-8") + data[node.end_byte :]


_Render = Callable[[str, _Layout], str]
"""The text of one member or item, given the indentation of its line."""


def _member(key: str, value: Any) -> _Render:
    def render(base: str, layout: _Layout) -> str:
        return f"{_dumps(key, base, layout)}: {_dumps(value, base, layout)}"

    return render


def _insert(data: bytes, container: Node, render: _Render, layout: _Layout) -> bytes:
    """``render``'s text as the last member/item of ``container``, laid out like its siblings."""
    items = _items(container)
    opener, closer = container.children[0], container.children[-1]
    last = items[-1] if items else None
    comma = _trailing_comma(container, last)
    after = comma if comma is not None else (last.end_byte if last is not None else opener.end_byte)
    closer_line = _line_start(data, closer.start_byte)
    outer = _line_indent(data, container.start_byte)
    if items and _line_start(data, items[0].start_byte) != _line_start(data, opener.start_byte):
        inner = _line_indent(data, items[0].start_byte)
    else:
        inner = outer + layout.unit
    edits: list[tuple[int, int, str]] = []
    if data[closer_line : closer.start_byte].strip() == b"" and _line_start(data, after) < closer_line:
        # The closer has a line of its own: the new item goes on a new line just above it.
        if last is not None and comma is None:
            edits.append((last.end_byte, last.end_byte, ","))
        trail = "," if comma is not None else ""
        edits.append((closer_line, closer_line, f"{inner}{render(inner, layout)}{trail}{layout.eol}"))
    elif last is None:  # "{}" on one line: opened up, since a server entry spans lines
        edits.append(
            (closer.start_byte, closer.start_byte, f"{layout.eol}{inner}{render(inner, layout)}{layout.eol}{outer}")
        )
    else:  # a one-line container stays on one line
        compact = _Layout("", layout.eol)
        edits.append((after, after, f"{' ' if comma is not None else ', '}{render('', compact)}"))
    for start, end, new in sorted(edits, reverse=True):
        data = data[:start] + new.encode("utf-8") + data[end:]
    return data


# --- reading the tree --------------------------------------------------------------------------


def _items(container: Node) -> list[Node]:
    return [c for c in container.named_children if c.type not in ("comment", "ERROR") and not c.is_missing]


def _trailing_comma(container: Node, last: Node | None) -> int | None:
    """Where the comma after the last member ends, when the text has one (JSONC allows it)."""
    if last is None:
        return None
    sibling = last.next_sibling
    while sibling is not None and (sibling.type == "comment" or sibling.is_missing):
        sibling = sibling.next_sibling
    if sibling is not None and (sibling.type == "," or (sibling.type == "ERROR" and sibling.text == b",")):
        return sibling.end_byte
    return None


def _line_start(data: bytes, pos: int) -> int:
    return data.rfind(b"\n", 0, pos) + 1


def _line_indent(data: bytes, pos: int) -> str:
    start = end = _line_start(data, pos)
    while end < len(data) and data[end : end + 1] in (b" ", b"\t"):
        end += 1
    return data[start:end].decode("utf-8")


def _layout(text: str, data: bytes, root: Node | None) -> _Layout:
    """The file's own line ending and indentation unit: its top level's first member's, else
    the first indented line's that starts a key or value (not a comment's), else two spaces."""
    eol = "\r\n" if "\r\n" in text else "\n"
    items = _items(root) if root is not None and root.type in ("object", "array") else []
    if root is not None and items and _line_start(data, items[0].start_byte) != _line_start(data, root.start_byte):
        outer, inner = _line_indent(data, root.start_byte), _line_indent(data, items[0].start_byte)
        if inner.startswith(outer) and len(inner) > len(outer):
            return _Layout(inner[len(outer) :], eol)
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if stripped[:1] in ('"', "{", "[") and len(stripped) < len(line):
            return _Layout(line[: len(line) - len(stripped)], eol)
    return _Layout("  ", eol)


# --- writing values ----------------------------------------------------------------------------


def _dumps(value: Any, base: str, layout: _Layout) -> str:
    """``value`` as JSON on lines nested ``base`` deep (one line without ``layout.unit``): objects
    one member a line, arrays of scalars on one line when short, as people write them. Characters
    that never show as themselves (controls, bidi and zero-width marks, separators) are written
    as ``\\u`` escapes so no file hides them."""
    text = _render(value, base, layout)
    return "".join(c if c.isprintable() or c in "\r\n\t" else _escape(c) for c in text)


def _render(value: Any, base: str, layout: _Layout) -> str:
    inner = base + layout.unit
    if isinstance(value, dict) and value:
        pairs = cast(dict[str, Any], value).items()
        members = [f"{json.dumps(k, ensure_ascii=False)}: {_render(v, inner, layout)}" for k, v in pairs]
        return _join("{", members, "}", base, layout)
    if isinstance(value, list) and value:
        values = cast(list[Any], value)
        items = [_render(v, inner, layout) for v in values]
        one_line = f"[{', '.join(items)}]"
        if not layout.unit or (all(not isinstance(v, dict | list) for v in values) and len(base + one_line) <= _WIDTH):
            return one_line
        return _join("[", items, "]", base, layout)
    return json.dumps(value, ensure_ascii=False)


def _join(opener: str, parts: list[str], closer: str, base: str, layout: _Layout) -> str:
    if not layout.unit:
        return f"{opener}{', '.join(parts)}{closer}"
    sep = f",{layout.eol}{base}{layout.unit}"
    return f"{opener}{layout.eol}{base}{layout.unit}{sep.join(parts)}{layout.eol}{base}{closer}"


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _nest(path: JsonPath, value: Any) -> Any:
    for part in reversed(path):
        if not isinstance(part, str):
            raise CannotEdit(f"cannot create array item {part} of {_dotted(path)}")
        value = {part: value}
    return value


def _dotted(path: JsonPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f'["{p}"]' for p in path)


def _check(text: str, path: JsonPath, value: Any) -> None:
    """The edit reads back as meant: anything else is a bug, caught before a file is written."""
    doc = parse_jsonc(text)
    got: Any = doc.value
    for part in path:
        got = got[part]
    assert not doc.errors and got == value, f"edit at {_dotted(path)} did not read back"
