"""Store data shown by ``mcp-marshal lock``: printed literally, whatever a name contains."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mcp_marshal.cli.show import literal as visible


def rendered(text: str) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="truecolor", width=200, highlight=False).print(visible(text))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("[/]", "[/]"),
        ("[bold red]x[/]", "[bold red]x[/]"),
        ("\\[b]", "\\[b]"),
        ("a\x1b[31mred", "a\\x1b[31mred"),
        ("bell\x07 nul\x00 del\x7f", "bell\\x07 nul\\x00 del\\x7f"),
        ("line\nbreak\rtab\t", "line\\x0abreak\\x0dtab\\x09"),
        ("c1\x9b", "c1\\x9b"),
        ("rtl\u202eevil\u2028sep", "rtl\\u202eevil\\u2028sep"),
        ("plain-name é ✓", "plain-name é ✓"),
    ],
)
def test_names_are_shown_as_written(name: str, shown: str) -> None:
    out = rendered(name)
    assert "\x1b" not in out.replace("\x1b[0m", "")  # rich adds no style, the name none either
    assert out.rstrip("\n") == shown


def test_visible_is_pure_text() -> None:
    assert visible("ok") == "ok"
    assert visible("[x]") == "\\[x]"  # rich markup escaping, then nothing else
