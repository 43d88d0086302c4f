"""``telemetry tail`` shows record text literally: no markup, no terminal controls, no crash."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from mcp_marshal.cli.show import plain
from mcp_marshal.cli.telemetry import format_line, json_escaped

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours rich itself writes


@pytest.mark.parametrize(
    "text",
    [
        "plain [/] text\twith a tab, é and 日本",
        "\x1b[31mred\x1b[0m",
        "bell\x07 back\x08 cr\r lf\n nul\x00 del\x7f",
        "\x9b31m C1 CSI, \x85 NEL",
        "abc\u202edcba\u2066x\u2069 \u2028",  # bidi overrides, LS
        "lone \udc80 \ud800 surrogates",
        "np\u200bx \U000e0041 tag",  # zero width, tag character
        "\U0001f468\u200d\U0001f469 joined",
    ],
)
def test_json_lines_keep_their_value_and_show_nothing_hidden(text: str) -> None:
    stored = json.dumps({"line": text}, ensure_ascii=False)
    shown = json_escaped(stored)
    assert json.loads(shown) == {"line": text}  # the same JSON
    assert plain(shown.replace("\t", "")) == shown.replace("\t", "")  # nothing a terminal hides or obeys
    shown.encode("utf-8")


def line(kind: str, **fields: object) -> bytes:
    return json.dumps({"seq": 1, "name": kind, "ts": 1.7e9, "fields": fields}).encode() + b"\n"


NASTY = "[/] [link=https://evil.example]click[/link] [bold red]x :smile: \x1b]8;;http://e\x07 \x1b[2J \udc80"


def render(text: object) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="standard", width=400, soft_wrap=True).print(text)
    return out.getvalue()


@pytest.mark.parametrize(
    "raw",
    [
        line("ServerLog", name="srv [/]", stream="stderr", line=NASTY),
        line("ServerFailed", name=NASTY, reason=NASTY, stderr_tail=[NASTY], info={NASTY: NASTY}),
        line(NASTY, name="x", detail=NASTY),
        NASTY.encode("utf-8", "surrogatepass") + b"\n",  # not JSON, not even UTF-8
        b'{"name": "x", "ts": 1e300, "fields": {}}\n',
        b'["a list"]\n',
    ],
)
def test_records_print_literally_and_never_crash(raw: bytes) -> None:
    text = format_line(raw)
    printed = SGR.sub("", render(text))
    assert "\x1b" not in printed and "\x07" not in printed and "\udc80" not in printed
    printed.encode("utf-8")
    assert printed.rstrip("\n") == text.plain  # nothing interpreted: no markup, no emoji codes, no links


def test_a_server_log_line_reads_as_written() -> None:
    text = format_line(line("ServerLog", name="srv [/]", stream="stderr", line=NASTY)).plain
    assert text.endswith(
        " srv [/] [stderr] [/] [link=https://evil.example]click[/link] [bold red]x :smile: "
        "\\x1b]8;;http://e\\x07 \\x1b[2J \\udc80"
    )
    failed = format_line(line("ServerFailed", name="a", reason="line 1\nline 2", code=3)).plain
    assert failed.endswith(" a reason=line 1\\x0aline 2 code=3")
