"""JSONC (JSON with comments and trailing commas, as VS Code reads it) to values and positions.

One tree-sitter parse yields both the Python values and the place of every key and value, so a
problem found later (a bad type, an unknown ``dependsOn`` name) can point at the exact text.
tree-sitter's grammar is plain JSON: comments are nodes, trailing commas are recovered as
``ERROR(',')`` or a zero-width MISSING value; both are accepted here, anything else is an error.

Any text gives a document, never an exception: every walk over the tree is iterative, and
values nested deeper than ``MAX_DEPTH`` are refused with a problem where the limit is passed.
Positions are LSP positions: a line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r``, and
characters count UTF-16 code units.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import tree_sitter_json
from tree_sitter import Language, Node, Parser

#: A place in a JSON document: object keys and array indices from the root.
JsonPath = tuple[str | int, ...]

#: Arrays and objects nested deeper than this are refused: every reader of the values after us
#: (pydantic, ``==``, ``json.dumps``, ``repr``) recurses once per level.
MAX_DEPTH = 128

_PARSER = Parser(Language(tree_sitter_json.language()))
_CLOSERS = ("}", "]")
_CONTAINERS = ("object", "array")
_LINE_BREAK = re.compile(r"\r\n?|\n")
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
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


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """Why the text is not a JSONC value: ``code`` is ``syntax`` or ``too-deep``."""

    span: Span
    message: str
    code: str = "syntax"


class _BadNode(Exception):
    def __init__(self, node: Node, message: str, code: str = "syntax") -> None:
        super().__init__(message)
        self.node, self.message, self.code = node, message, code


class _Lines:
    """Offsets ↔ LSP positions. tree-sitter counts rows at ``\\n`` only and columns in bytes;
    an LSP client breaks lines at ``\\n``, ``\\r\\n`` and ``\\r`` and counts UTF-16 units."""

    def __init__(self, text: str, data: bytes) -> None:
        self.text = text
        self.starts = [0]  # code-point offset where each line starts
        self.ends: list[int] = []  # code-point offset where each line's text ends (before its break)
        for match in _LINE_BREAK.finditer(text):
            self.ends.append(match.start())
            self.starts.append(match.end())
        self.ends.append(len(text))
        self.ascii = len(data) == len(text)
        self.byte_starts: list[int] = self.starts
        if not self.ascii:
            self.byte_starts, at, last = [], 0, 0
            for start in self.starts:
                at += len(text[last:start].encode("utf-8", "surrogatepass"))
                self.byte_starts.append(at)
                last = start
        self.data = data

    def offset(self, byte: int) -> int:
        """The code-point offset of a byte offset (a count of UTF-8 lead bytes, so it is total)."""
        if self.ascii:
            return byte
        line = bisect.bisect_right(self.byte_starts, byte) - 1
        chunk = self.data[self.byte_starts[line] : byte]
        return self.starts[line] + len(chunk.translate(None, _CONTINUATION_BYTES))

    def position(self, offset: int) -> tuple[int, int, int]:
        """``(line, UTF-16 character, code-point column)`` of a code-point offset; an offset
        past a line's text (inside its break, or past the end) is clamped to that text's end."""
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        col = min(offset, self.ends[line]) - start
        text = self.text[start : start + col]
        units = col if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2
        return line, units, col

    @property
    def count(self) -> int:
        return len(self.starts)


class JsoncDocument:
    """A parsed JSONC text. ``value`` is ``None`` for an empty document or one with ``errors``.

    ``duplicates`` lists the key spans of repeated object keys; as in VS Code the last one wins.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        data = text.encode("utf-8", "surrogatepass")  # an editor buffer may hold a lone surrogate
        self._lines = _Lines(text, data)
        self._tree = _PARSER.parse(data)
        self._members: dict[int, dict[str, Node]] = {}
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
                span = self._opening(exc.node) if exc.code == "too-deep" else self.span(exc.node)
                self.errors.append(SyntaxProblem(span, exc.message, exc.code))

    @property
    def empty(self) -> bool:
        return self._root is None and not self.errors

    @property
    def line_count(self) -> int:
        """Lines as an LSP client counts them (``\\n``, ``\\r\\n`` and ``\\r`` end a line)."""
        return self._lines.count

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

    def keys(self, path: Sequence[str | int]) -> list[str]:
        """The keys of the object at ``path`` (none if there is no object there)."""
        node, _, matched = self.find(path)
        if node is None or matched != len(path) or node.type != "object":
            return []
        self._pair(node, "")
        return list(self._members[node.id])

    def root_span(self) -> Span:
        return self.span(self._root or self._tree.root_node)

    def span(self, node: Node) -> Span:
        lines = self._lines
        return self._span(lines.offset(node.start_byte), lines.offset(node.end_byte))

    def string_span(self, node: Node, start: int, end: int) -> Span:
        """The span of decoded characters ``start:end`` of the string ``node``; the whole string
        when escapes make decoded and written offsets differ."""
        raw = node.text.decode("utf-8", "surrogatepass") if node.text else ""
        if node.type != "string" or "\\" in raw or _LINE_BREAK.search(raw):
            return self.span(node)
        first = self._lines.offset(node.start_byte) + 1  # after the opening quote
        return self._span(first + start, first + end)

    # --- internals -----------------------------------------------------------------------------

    def _pair(self, obj: Node, key: str) -> Node | None:
        members = self._members.get(obj.id)
        if members is None:  # indexed once per object, so a walk per problem stays cheap
            members = {}
            for pair in _values(obj):
                name = _key(pair) if pair.type == "pair" else None
                if name is not None:
                    members[name] = pair  # last wins, as in JSON.parse
            self._members[obj.id] = members
        return members.get(key)

    def _to_value(self, root: Node) -> Any:
        """The value of ``root``, built in document order without recursion: each container is
        made empty when its node is reached and filled as its children are."""
        if root.type not in _CONTAINERS:
            return self._leaf(root)
        top: Any = {} if root.type == "object" else []
        # (node, container it belongs in, key or index there, its depth); pushed in reverse.
        stack: list[tuple[Node, Any, str | int, int]] = []
        self._push(root, top, 1, stack)
        while stack:
            node, into, at, depth = stack.pop()
            if node.type in _CONTAINERS:
                if depth > MAX_DEPTH:
                    raise _BadNode(node, f"nested deeper than {MAX_DEPTH} arrays and objects", "too-deep")
                value: Any = {} if node.type == "object" else []
                self._push(node, value, depth, stack)
            else:
                value = self._leaf(node)
            into[at] = value
        return top

    def _push(self, node: Node, container: Any, depth: int, stack: list[tuple[Node, Any, str | int, int]]) -> None:
        children = _values(node)
        if node.type == "array":
            container.extend([None] * len(children))
            stack.extend((item, container, i, depth + 1) for i, item in reversed(list(enumerate(children))))
            return
        entries: list[tuple[Node, Any, str | int, int]] = []
        seen: set[str] = set()
        for pair in children:
            key_node, value_node = pair.child_by_field_name("key"), pair.child_by_field_name("value")
            if pair.type != "pair" or key_node is None or value_node is None or key_node.type != "string":
                raise _BadNode(pair, "Expected a property")
            key: str = self._leaf(key_node)
            if key in seen:
                self.duplicates.append((self.span(key_node), key))
            seen.add(key)
            entries.append((value_node, container, key, depth + 1))
        stack.extend(reversed(entries))

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
        chars = list(self.text)
        for start, end in _benign_ranges(self._tree.root_node):
            first, last = self._lines.offset(start), self._lines.offset(end)
            # Keep line breaks so json's offsets are the text's own.
            chars[first:last] = [c if c in "\r\n" else " " for c in chars[first:last]]
        try:
            json.loads("".join(chars))
        except json.JSONDecodeError as exc:
            return SyntaxProblem(self._span(exc.pos, exc.pos + 1), _MESSAGES.get(exc.msg, exc.msg))
        except (ValueError, RecursionError):  # json's scanner recurses once per nesting level
            pass
        return SyntaxProblem(self.span(node), "Syntax error")

    def _opening(self, node: Node) -> Span:
        """The opening bracket of a container: where a nesting limit was passed."""
        start = self._lines.offset(node.start_byte)
        return self._span(start, start + 1)

    def _span(self, start: int, end: int) -> Span:
        line, character, col = self._lines.position(start)
        end_line, end_character, _ = self._lines.position(max(end, start))
        return Span(line, character, end_line, end_character, col + 1)


def _values(node: Node) -> list[Node]:
    """Named children that are real values or pairs: no comments, recovery nodes or MISSING."""
    return [c for c in node.named_children if c.type not in ("comment", "ERROR") and not c.is_missing]


def _key(pair: Node) -> str | None:
    key = pair.child_by_field_name("key")
    if key is None or key.type != "string":
        return None
    try:
        name = json.loads(key.text or b"")
    except ValueError:
        return None
    return name if isinstance(name, str) else None


def _token(siblings: Sequence[Node], i: int, step: int) -> Node | None:
    """The sibling ``step`` away from ``siblings[i]``, skipping comments."""
    i += step
    while 0 <= i < len(siblings) and siblings[i].type == "comment":
        i += step
    return siblings[i] if 0 <= i < len(siblings) else None


def _is_trailing_comma(node: Node, siblings: Sequence[Node], i: int) -> bool:
    """``ERROR(',')`` right before a closer, or a MISSING value tree-sitter put there."""
    after = _token(siblings, i, 1)
    if after is None or after.type not in _CLOSERS:
        return False
    if node.type == "ERROR":
        return [c.type for c in node.children] == [","]
    if node.is_missing:
        before = _token(siblings, i, -1)
        return before is not None and before.type == ","
    return False


def _walk(root: Node, *, into_errors: bool = True) -> Iterator[tuple[Node, list[Node], int]]:
    """Every node under ``root`` in document order, with its siblings and its index among them
    (tree-sitter finds a sibling or parent by searching from the root: once per node is too
    slow for a deep tree). Without ``into_errors``, nothing under an ``ERROR`` node is visited."""
    stack: list[tuple[Node, list[Node], int]] = [(root, [root], 0)]
    while stack:
        node, siblings, i = stack.pop()
        yield node, siblings, i
        if node.type == "ERROR" and not into_errors:
            continue
        children = node.children
        stack.extend((child, children, j) for j, child in reversed(list(enumerate(children))))


def _real_errors(root: Node) -> list[Node]:
    """Error and MISSING nodes other than accepted trailing commas, outermost only."""
    if not root.has_error:
        return []
    return [
        n
        for n, siblings, i in _walk(root, into_errors=False)
        if (n.type == "ERROR" or n.is_missing) and not _is_trailing_comma(n, siblings, i)
    ]


def _benign_ranges(root: Node) -> Iterator[tuple[int, int]]:
    """Byte ranges of comments and accepted trailing commas."""
    for n, siblings, i in _walk(root):
        if n.type == "comment" or (n.type == "ERROR" and _is_trailing_comma(n, siblings, i)):
            yield n.start_byte, n.end_byte
        elif n.is_missing and _is_trailing_comma(n, siblings, i):
            comma = _token(siblings, i, -1)
            if comma is not None:
                yield comma.start_byte, comma.end_byte


def parse_jsonc(text: str) -> JsoncDocument:
    """Parse JSONC text; never raises on bad input (see ``JsoncDocument.errors``)."""
    return JsoncDocument(text)
