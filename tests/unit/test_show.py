"""``cli.show``: untrusted text prints as written through rich, whatever markup surrounds it."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from mcp_marshal.cli.show import literal, plain

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the styles rich itself writes

LONG = "x" * 5000 + "\x1b[2J" + "y" * 5000


def rendered(markup: object, width: int = 80) -> str:
    """What a colour terminal receives, minus rich's own styling."""
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=True, color_system="truecolor", width=width, highlight=False, emoji=False
    )
    console.print(markup, soft_wrap=True)
    return SGR.sub("", out.getvalue()).removesuffix("\n")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain name é 日本 🚀", "plain name é 日本 🚀"),
        ("[/]", "[/]"),
        ("[bold red]x", "[bold red]x"),
        ("[link=https://evil.example]click[/link]", "[link=https://evil.example]click[/link]"),
        ("\\[b]", "\\[b]"),
        (":smile:", ":smile:"),
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("\x1b[/]", "\\x1b[/]"),
        ("progress 10%\rdone", "progress 10%\\x0ddone"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("nul\x00here", "nul\\x00here"),
        ("line\nbreak\ttab", "line\\x0abreak\\x09tab"),
        ("\x9b31m C1", "\\x9b31m C1"),
        ("lone \udc80", "lone \\udc80"),
        ("ends in a backslash\\", "ends in a backslash\\"),
        ("ends in two\\\\", "ends in two\\\\"),
        ("${env:SECRET}", "${env:SECRET}"),
        (LONG, "x" * 5000 + "\\x1b[2J" + "y" * 5000),  # nothing cut, nothing folded
    ],
)
def test_literal_prints_exactly_the_visible_text(value: str, shown: str) -> None:
    assert plain(value) == shown
    for around in ("{}", "[bold]{}[/]", "[bold]{}[/bold] after", "{} [red](error)[/]"):
        markup = around.format(literal(value))
        expected = around.replace("[bold]", "").replace("[/bold]", "").replace("[red]", "").replace("[/]", "")
        assert rendered(markup) == expected.format(shown), around
    assert "\x1b" not in rendered(literal(value)).replace("\x1b[0m", "")


def test_literal_in_a_table_cell_and_title() -> None:
    table = Table(title=literal("[/]title\x1b[2J"))
    table.add_column("name")
    table.add_row(literal("[bold red]x\u202e"))
    out = rendered(table)
    assert "[/]title\\x1b[2J" in out and "[bold red]x\\u202e" in out


def test_plain_with_layout_keeps_line_breaks_and_tabs_only() -> None:
    assert plain('{\n\t"a": "b\x1b[31m\u202e"\n}', layout=True) == '{\n\t"a": "b\\x1b[31m\\u202e"\n}'
    assert plain("a\rb", layout=True) == "a\\x0db"


def test_any_value_is_str_of_it() -> None:
    assert literal(42) == "42" and plain(None) == "None"


# --- the CLI's printers -----------------------------------------------------------------------

HOSTILE = "[/][bold red]x\x1b[2J\r\u202e:smile:"
SHOWN = "[/][bold red]x\\x1b[2J\\x0d\\u202e:smile:"


def test_problems_with_markup_print_literally(capsys: pytest.CaptureFixture[str]) -> None:
    from mcp_marshal.cli.servers import _print_problems
    from mcp_marshal.config.problems import Problem

    problem = Problem(file=f"{HOSTILE}.code-workspace", line=0, character=0, end_line=0, end_character=1,
                      message=f"unknown server {HOSTILE}")  # fmt: skip
    _print_problems((problem,), as_json=False)
    err = capsys.readouterr().err
    assert err == f"{SHOWN}.code-workspace:1:1: unknown server {SHOWN} (error)\n"


def test_the_live_table_shows_names_and_errors_literally() -> None:
    from types import SimpleNamespace

    from mcp_marshal.cli.servers import _table

    snap = SimpleNamespace(name=HOSTILE, state="failed", pid=None, restarts=0, uptime_s=None, handshake_ms=None,
                           last_error=f"exited: {HOSTILE}", needs_approval=False)  # fmt: skip
    supervisor = SimpleNamespace(file=Path("/w/[b]x\x1b[2J.code-workspace"), snapshots=lambda: [snap])
    out = rendered(_table(supervisor), width=300)  # type: ignore[arg-type]
    assert "MCP servers — [b]x\\x1b[2J.code-workspace" in out
    assert out.count(SHOWN) == 2 and "\x1b[2J" not in out and "\u202e" not in out
