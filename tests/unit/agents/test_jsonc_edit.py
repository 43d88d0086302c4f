"""Span edits on JSONC: the edit reads back, and every other byte (comments, order, indentation,
line endings, trailing commas) stays as written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_marshal.agents.jsonc_edit import CannotEdit, append_item, set_value
from mcp_marshal.config.jsonc import parse_jsonc

CLAUDE = """{
  // project servers
  "mcpServers": {
    "memory": {"command": "npx", "args": ["-y", "m"]} // mine
  }
}
"""


def test_a_new_member_goes_last_laid_out_like_its_siblings_and_comments_stay() -> None:
    out = set_value(CLAUDE, ["mcpServers", "conf"], {"command": "mcp-marshal", "args": ["connect", "conf", "/w"]})
    assert out == (
        "{\n"
        "  // project servers\n"
        '  "mcpServers": {\n'
        '    "memory": {"command": "npx", "args": ["-y", "m"]}, // mine\n'
        '    "conf": {\n'
        '      "command": "mcp-marshal",\n'
        '      "args": ["connect", "conf", "/w"]\n'
        "    }\n"
        "  }\n"
        "}\n"
    )


def test_replacing_a_value_touches_nothing_else() -> None:
    out = set_value(CLAUDE, ["mcpServers", "memory", "command"], "node")
    assert out == CLAUDE.replace('"npx"', '"node"')


def test_tabs_crlf_and_trailing_commas_are_kept() -> None:
    text = '{\r\n\t"settings": {\r\n\t\t"a": 1, // one\r\n\t},\r\n}\r\n'
    out = set_value(text, ["settings", "b"], {"c": True})
    assert (
        out == '{\r\n\t"settings": {\r\n\t\t"a": 1, // one\r\n\t\t"b": {\r\n\t\t\t"c": true\r\n\t\t},\r\n\t},\r\n}\r\n'
    )


def test_missing_objects_on_the_path_are_created_in_the_deepest_one_there() -> None:
    out = set_value('{\n  "folders": []\n}\n', ["settings", "mcpMarshal.servers", "x"], {"command": "echo"})
    assert json.loads(out) == {"folders": [], "settings": {"mcpMarshal.servers": {"x": {"command": "echo"}}}}
    assert out.startswith('{\n  "folders": [],\n  "settings": {\n    "mcpMarshal.servers": {\n')


def test_an_empty_one_line_object_is_opened_up_and_a_one_line_object_stays_one_line() -> None:
    assert set_value('{"servers": {}}', ["servers", "a"], 1) == '{"servers": {\n  "a": 1\n}}'
    assert set_value('{"a": 1, /* c */ }', ["b"], [1, 2]) == '{"a": 1, "b": [1, 2] /* c */ }'


def test_comment_lines_before_the_closer_stay_above_the_new_member() -> None:
    text = '{\n  "a": 1\n  // "b": 2 (off for now)\n}'
    assert set_value(text, ["c"], 3) == '{\n  "a": 1,\n  // "b": 2 (off for now)\n  "c": 3\n}'


def test_an_empty_file_or_one_with_only_comments_gets_a_document() -> None:
    assert set_value("", ["mcpServers", "a"], {}) == '{\n  "mcpServers": {\n    "a": {}\n  }\n}\n'
    assert set_value("// nothing yet", ["k"], 1) == '// nothing yet\n{\n  "k": 1\n}\n'


def test_append_item_adds_to_an_array_or_creates_it() -> None:
    text = '{\n  "inputs": [\n    {"id": "a"}\n  ]\n}'
    assert (
        append_item(text, ["inputs"], {"id": "b"})
        == '{\n  "inputs": [\n    {"id": "a"},\n    {\n      "id": "b"\n    }\n  ]\n}'
    )
    assert json.loads(append_item("{}", ["inputs"], 1)) == {"inputs": [1]}


def test_hidden_characters_in_values_are_written_as_escapes() -> None:
    out = set_value("{}", ["name"], "np\u200bx\u202e\x1b")
    assert out == '{\n  "name": "np\\u200bx\\u202e\\u001b"\n}'
    assert parse_jsonc(out).value == {"name": "np\u200bx\u202e\x1b"}


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('{"a": 1', ["b"], "nothing was changed"),
        ('{"mcpServers": []}', ["mcpServers", "x"], '["mcpServers"] in the file is an array'),
        ("[1]", ["x"], "the top level in the file is an array"),
        ("3", ["x"], "does not hold a JSON object"),
    ],
)
def test_what_cannot_take_the_edit_is_refused(text: str, path: list[str], message: str) -> None:
    with pytest.raises(CannotEdit, match=message.replace("[", r"\[").replace("]", r"\]")):
        set_value(text, path, 1)


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    doc=st.dictionaries(st.text(max_size=6), values, max_size=5),
    indent=st.sampled_from([None, 2, 4, "\t"]),
    comment=st.booleans(),
    key=st.text(max_size=6),
    value=values,
)
def test_any_document_takes_a_new_member_and_keeps_its_comments(
    doc: dict[str, Any], indent: int | str | None, comment: bool, key: str, value: Any
) -> None:
    text = json.dumps(doc, indent=indent)
    if comment:
        text = "// head\n" + text.replace("\n", " // c\n", 1) + "\n/* tail */"
    out = set_value(text, [key], value)
    assert parse_jsonc(out).value == {**doc, key: value}
    if comment:
        assert out.startswith("// head\n") and out.endswith("/* tail */")
        assert out.count("// c") == text.count("// c")
