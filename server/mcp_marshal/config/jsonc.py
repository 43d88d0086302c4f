"""JSONC (JSON with comments and trailing commas, as VS Code reads it) to values and positions.

One tree-sitter parse yields both the Python values and the place of every key and value, so a
problem found later (a bad type, an unknown ``dependsOn`` name) can point at the exact text.
tree-sitter's grammar is plain JSON: comments are nodes, trailing commas are recovered as
``ERROR(',')`` or a zero-width MISSING value; both are accepted here, anything else is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import tree_sitter_json
from tree_sitter import Language, Node, Parser

#: A place in a JSON document: object keys and array indices from the root.
JsonPath = tuple[str | int, ...]

_PARSER = Parser(Language(tree_sitter_json.language()))
_CLOSERS = ("}", "]")
# json's wording, in the words VS Code uses for the same mistakes.
_MESSAGES = {
    "Expecting ',' delimiter": "Expected comma",
    "Expecting ':' delimiter": "Colon expected",
    "Expecting value": "Value expected",
    "Expecting property name enclosed in double quotes": "Property name expected (in double quotes)",
    "Extra data": "End of file expected",
    "Invalid control character at": "Unterminated string, or a control character that must be escaped",
    "Unterminated string starting at": "Unterminated string",
    "Invalid \\escape": "Invalid escape character in string",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A range in the text: 0-based lines, characters in UTF-16 code units (LSP), plus the
    1-based code-point column of the start for terminal output."""

    line: int
    character: int
    end_line: int
    end_character: int
    column: int


class _BadNode(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    span: Span
    message: str


class JsoncDocument:
    """A parsed JSONC text. ``value`` is ``None`` for an empty document or one with ``errors``.

    ``duplicates`` lists the key spans of repeated object keys; as in VS Code the last one wins.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines = text.split("\n")
        self._tree = _PARSER.parse(text.encode("utf-8"))
        self.errors: list[SyntaxProblem] = []
        self.duplicates: list[tuple[Span, str]] = []
        roots = _values(self._tree.root_node)
        self._root = roots[0] if roots else None
        self.value: Any = None
        bad = _real_errors(self._tree.root_node)
        if len(roots) > 1:
            bad.append(roots[1])
        if bad:
            self.errors.append(self._syntax_problem(bad[0]))
            return
        if self._root is not None:
            try:
                self.value = self._to_value(self._root)
            except _BadNode as exc:
                self.errors.append(SyntaxProblem(self.span(exc.node), exc.message))

    @property
    def empty(self) -> bool:
        return self._root is None and not self.errors

    # --- locating ------------------------------------------------------------------------------

    def find(self, path: Sequence[str | int]) -> tuple[Node | None, Node | None, int]:
        """Walk ``path`` (object keys and array indices) from the root.

        Returns ``(value node, key node of the last pair walked or None, parts matched)``; the
        walk stops at the first part that is not there, so the nodes are the deepest match.
        """
        node, key, matched = self._root, None, 0
        for part in path:
            if node is None:
                break
            if node.type == "object" and isinstance(part, str):
                pair = self._pair(node, part)
                if pair is None:
                    break
                node, key = pair.child_by_field_name("value"), pair.child_by_field_name("key")
            elif node.type == "array" and isinstance(part, int):
                items = _values(node)
                if not 0 <= part < len(items):
                    break
                node, key = items[part], None
            else:
                break
            matched += 1
        return node, key, matched

    def root_span(self) -> Span:
        return self.span(self._root or self._tree.root_node)

    def span(self, node: Node) -> Span:
        return self._span(node.start_point, node.end_point)

    def string_span(self, node: Node, start: int, end: int) -> Span:
        """The span of decoded characters ``start:end`` of the string ``node``; the whole string
        when escapes make decoded and written offsets differ."""
        raw = node.text.decode("utf-8") if node.text else ""
        if node.type != "string" or "\\" in raw or node.start_point.row != node.end_point.row:
            return self.span(node)
        row = node.start_point.row
        first = self._codepoint(row, node.start_point.column) + 1  # after the opening quote
        return self._span_cp(row, first + start, row, first + end)

    # --- internals -----------------------------------------------------------------------------

    def _pair(self, obj: Node, key: str) -> Node | None:
        found = None
        for pair in _values(obj):
            if pair.type == "pair" and _key(pair) == key:
                found = pair  # last wins, as in JSON.parse
        return found

    def _to_value(self, node: Node) -> Any:
        kind = node.type
        if kind == "object":
            out: dict[str, Any] = {}
            for pair in _values(node):
                key_node, value_node = pair.child_by_field_name("key"), pair.child_by_field_name("value")
                if pair.type != "pair" or key_node is None or value_node is None:
                    raise _BadNode(pair, "Expected a property")
                key = self._leaf(key_node)
                if key in out:
                    self.duplicates.append((self.span(key_node), key))
                out[key] = self._to_value(value_node)
            return out
        if kind == "array":
            return [self._to_value(item) for item in _values(node)]
        return self._leaf(node)

    def _leaf(self, node: Node) -> Any:
        try:
            return json.loads(node.text or b"")
        except ValueError:
            raise _BadNode(node, f"Invalid {node.type}") from None

    def _syntax_problem(self, node: Node) -> SyntaxProblem:
        """The first syntax error. tree-sitter's recovery ranges are coarse (a missing comma marks
        the pair before it), so the position and message come from ``json`` run on the text
        with comments and accepted trailing commas blanked out; tree-sitter's node is the
        fallback."""
        data = self.text.encode("utf-8")
        chars = list(self.text)
        for start, end in _benign_ranges(self._tree.root_node):
            first = len(data[:start].decode("utf-8", errors="ignore"))
            last = len(data[:end].decode("utf-8", errors="ignore"))
            # Keep line breaks so json's line/column are the text's own.
            chars[first:last] = [c if c in "\r\n" else " " for c in chars[first:last]]
        try:
            json.loads("".join(chars))
        except json.JSONDecodeError as exc:
            line, col = exc.lineno - 1, exc.colno - 1
            message = _MESSAGES.get(exc.msg, exc.msg)
            return SyntaxProblem(self._span_cp(line, col, line, col + 1), message)
        except ValueError:
            pass
        return SyntaxProblem(self.span(node), "Syntax error")

    def _codepoint(self, row: int, byte_col: int) -> int:
        line = self._lines[row] if row < len(self._lines) else ""
        if line.isascii():
            return byte_col
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def _utf16(self, row: int, cp_col: int) -> int:
        line = self._lines[row] if row < len(self._lines) else ""
        if line.isascii():
            return cp_col
        return len(line[:cp_col].encode("utf-16-le")) // 2

    def _span(self, start: Any, end: Any) -> Span:
        return self._span_cp(
            start.row,
            self._codepoint(start.row, start.column),
            end.row,
            self._codepoint(end.row, end.column),
        )

    def _span_cp(self, row: int, col: int, end_row: int, end_col: int) -> Span:
        line_len = len(self._lines[end_row]) if end_row < len(self._lines) else 0
        end_col = max(min(end_col, line_len), col if row == end_row else 0)
        return Span(row, self._utf16(row, col), end_row, self._utf16(end_row, end_col), col + 1)


def _values(node: Node) -> list[Node]:
    """Named children that are real values or pairs: no comments, recovery nodes or MISSING."""
    return [c for c in node.named_children if c.type not in ("comment", "ERROR") and not c.is_missing]


def _key(pair: Node) -> str | None:
    key = pair.child_by_field_name("key")
    try:
        return json.loads(key.text or b"") if key is not None else None
    except ValueError:
        return None


def _next_token(node: Node) -> Node | None:
    sibling = node.next_sibling
    while sibling is not None and sibling.type == "comment":
        sibling = sibling.next_sibling
    return sibling


def _prev_token(node: Node) -> Node | None:
    sibling = node.prev_sibling
    while sibling is not None and sibling.type == "comment":
        sibling = sibling.prev_sibling
    return sibling


def _is_trailing_comma(node: Node) -> bool:
    """``ERROR(',')`` right before a closer, or a MISSING value tree-sitter put there."""
    after = _next_token(node)
    if after is None or after.type not in _CLOSERS:
        return False
    if node.type == "ERROR":
        return [c.type for c in node.children] == [","]
    if node.is_missing:
        before = _prev_token(node)
        return before is not None and before.type == ","
    return False


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _real_errors(root: Node) -> list[Node]:
    if not root.has_error:
        return []
    return [
        n
        for n in _walk(root)
        if (n.type == "ERROR" or n.is_missing) and not _is_trailing_comma(n) and not _inside_error(n)
    ]


def _inside_error(node: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "ERROR":
            return True
        parent = parent.parent
    return False


def _benign_ranges(root: Node) -> Iterator[tuple[int, int]]:
    """Byte ranges of comments and accepted trailing commas."""
    for n in _walk(root):
        if n.type == "comment" or (n.type == "ERROR" and _is_trailing_comma(n)):
            yield n.start_byte, n.end_byte
        elif n.is_missing and _is_trailing_comma(n):
            comma = _prev_token(n)
            if comma is not None:
                yield comma.start_byte, comma.end_byte


def parse_jsonc(text: str) -> JsoncDocument:
    """Parse JSONC text; never raises on bad input (see ``JsoncDocument.errors``)."""
    return JsoncDocument(text)
