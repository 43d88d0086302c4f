"""JSONC as VS Code reads it: comments and trailing commas pass, anything else is placed exactly."""

from __future__ import annotations

import pytest

from mcp_marshal.config.jsonc import MAX_DEPTH, parse_jsonc


def test_comments_and_trailing_commas_are_accepted() -> None:
    doc = parse_jsonc(
        '{\n  // line\n  "a": [1, 2, /* x */],\n  "b": {"c": "d", },  /* end */\n  "e": [1, // c\n  ],\n}\n'
    )
    assert doc.errors == []
    assert doc.value == {"a": [1, 2], "b": {"c": "d"}, "e": [1]}


def test_values_decode_escapes_numbers_and_literals() -> None:
    doc = parse_jsonc('{"s": "a\\"b\\u00e9", "n": -1.5e3, "i": 7, "t": true, "f": false, "z": null}')
    assert doc.value == {"s": 'a"bé', "n": -1500.0, "i": 7, "t": True, "f": False, "z": None}


@pytest.mark.parametrize(
    ("text", "line", "char", "message"),
    [
        ('{\n  "a": 1\n  "b": 2\n}', 2, 2, "Expected comma"),  # missing comma → at the second pair
        ('{"a": [1,,2]}', 0, 9, "Value expected"),  # a double comma is not a trailing comma
        ('{"a" 1}', 0, 5, "Colon expected"),
        ('{"a": tru}', 0, 6, "Value expected"),
        ('{"a": 1}}', 0, 8, "End of file expected"),
        ('{"a": 0x1F}', 0, 7, "Expected comma"),
        ('{/* ü 🚀 */ "a": 1 "b": 2}', 0, 19, "Expected comma"),  # UTF-16 column after non-ASCII
    ],
)
def test_syntax_errors_point_at_the_bad_token(text: str, line: int, char: int, message: str) -> None:
    doc = parse_jsonc(text)
    assert doc.value is None
    [error] = doc.errors
    assert (error.span.line, error.span.character) == (line, char)
    assert error.message == message


def test_unterminated_string_is_an_error_on_its_line() -> None:
    [error] = parse_jsonc('{\n  "a": "open\n}').errors
    assert error.span.line == 1
    assert "string" in error.message.lower()


def test_empty_and_comment_only_documents_are_empty_not_errors() -> None:
    for text in ("", "  \n", "// nothing\n"):
        doc = parse_jsonc(text)
        assert doc.empty and doc.errors == [] and doc.value is None


def test_duplicate_keys_last_wins_and_are_listed() -> None:
    doc = parse_jsonc('{"a": 1,\n "a": 2}')
    assert doc.value == {"a": 2}
    [(span, key)] = doc.duplicates
    assert key == "a" and (span.line, span.character, span.end_character) == (1, 1, 4)
    value, _, _ = doc.find(["a"])
    assert value is not None and value.text == b"2"


def test_spans_are_utf16_with_codepoint_column() -> None:
    text = '{"bär": {"🚀": 42}}'
    doc = parse_jsonc(text)
    value, key, matched = doc.find(["bär", "🚀"])
    assert matched == 2 and value is not None and key is not None
    span = doc.span(value)
    # '{"bär": {"🚀": ' is 14 code points, and the rocket takes 2 UTF-16 units.
    assert (span.line, span.character, span.end_character, span.column) == (0, 15, 17, 15)
    assert doc.span(key).character == 9 and doc.span(key).end_character == 13


def test_find_stops_at_the_deepest_existing_part() -> None:
    doc = parse_jsonc('{"a": {"b": [10, 20]}}')
    value, _, matched = doc.find(["a", "b", 1])
    assert matched == 3 and value is not None and value.text == b"20"
    _, key, matched = doc.find(["a", "zz", "y"])
    assert matched == 1 and key is not None and key.text == b'"a"'


def test_string_span_points_inside_a_string_without_escapes() -> None:
    text = '{"k": "x ${bad} y"}'
    doc = parse_jsonc(text)
    value, _, _ = doc.find(["k"])
    assert value is not None
    span = doc.string_span(value, 2, 8)
    assert (span.character, span.end_character) == (text.index("${bad}"), text.index("${bad}") + 6)
    escaped = parse_jsonc('{"k": "\\t ${bad}"}')
    node, _, _ = escaped.find(["k"])
    assert node is not None
    whole = escaped.string_span(node, 3, 9)
    assert (whole.character, whole.end_character) == (6, 17)  # falls back to the whole string


@pytest.mark.parametrize("br", ["\n", "\r\n", "\r"])
def test_lines_end_where_an_lsp_client_ends_them(br: str) -> None:
    doc = parse_jsonc("{" + br + '  "a": 1,' + br + br + '  "b": [true]' + br + "}")
    value, _, _ = doc.find(["b", 0])
    assert value is not None and doc.line_count == 5
    span = doc.span(value)
    assert (span.line, span.character, span.end_line, span.end_character, span.column) == (3, 8, 3, 12, 9)
    [error] = parse_jsonc("{" + br + '  "a": 1' + br + '  "b": 2' + br + "}").errors
    assert (error.span.line, error.span.character) == (2, 2)


def test_a_lone_cr_never_puts_a_position_past_its_line() -> None:
    text = '{"settings": {\r"x": [1,,2]}}'  # the second line is 13 characters long
    [error] = parse_jsonc(text).errors
    assert (error.span.line, error.span.character, error.span.end_line, error.span.end_character) == (1, 8, 1, 9)
    doc = parse_jsonc('{"a":\r"x"\r}')
    value, _, _ = doc.find(["a"])
    assert value is not None
    span = doc.span(value)
    assert (span.line, span.character, span.end_line, span.end_character) == (1, 0, 1, 3)


def test_spans_count_utf16_after_a_cr_and_a_lone_surrogate() -> None:
    # An editor buffer (not a file) may hold a lone surrogate: one UTF-16 unit, never an exception.
    doc = parse_jsonc('{"\ud800": "\ud800", "b": 1,\r"🚀": 2}')
    assert doc.value == {"\ud800": "\ud800", "b": 1, "🚀": 2}
    value, _, _ = doc.find(["b"])
    assert value is not None and (doc.span(value).character, doc.span(value).column) == (16, 17)
    value, _, _ = doc.find(["🚀"])
    assert value is not None and (doc.span(value).line, doc.span(value).character) == (1, 6)


@pytest.mark.parametrize(("open_", "close"), [("[", "]"), ('{"k":', "}")])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 100_000])
def test_too_deep_is_a_problem_where_the_limit_is_passed(open_: str, close: str, depth: int) -> None:
    doc = parse_jsonc(open_ * depth + "1" + close * depth)
    assert doc.value is None
    [error] = doc.errors
    at = len(open_) * MAX_DEPTH  # the bracket that opens level MAX_DEPTH + 1
    assert (error.code, error.span.line, error.span.character, error.span.end_character) == ("too-deep", 0, at, at + 1)
    assert str(MAX_DEPTH) in error.message


def test_the_deepest_allowed_value_is_built() -> None:
    doc = parse_jsonc("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert doc.errors == []
    value = doc.value
    for _ in range(MAX_DEPTH - 1):
        (value,) = value
    assert value == []


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '{"a":' + "[" * 50_000 + "1,,2" + "]" * 50_000 + "}", "[" * 50_000 + "1,]" * 50_000],
    ids=["unclosed", "error-at-the-bottom", "trailing-commas-all-the-way-down"],
)
def test_deep_broken_documents_give_one_syntax_problem(text: str) -> None:
    doc = parse_jsonc(text)
    assert doc.value is None and len(doc.errors) == 1
