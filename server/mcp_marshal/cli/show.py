"""Untrusted text in the CLI's output, shown as written.

A workspace file and everything a server says (names, commands, URLs, problems, stderr,
serverInfo, lease and telemetry fields) are untrusted: printed as they come, ``[/]`` crashes
rich (``MarkupError``), ``[bold red]`` or ``[link=…]`` styles the output, ``:smile:`` becomes
an emoji, and an ESC, CR or U+202E rewrites what the terminal shows. Every such value goes
through ``literal`` (rich markup) or ``plain`` (output that is not markup), and every rich
console comes from ``console``, so there is one place that decides what "shown literally" means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_marshal.literal import visible

if TYPE_CHECKING:
    from rich.console import Console

# An empty span: what a value's trailing backslashes end on, so they never escape the tag after them.
_FENCE = "[dim][/dim]"


def literal(value: object) -> str:
    """``value`` (``str()`` of it) as rich markup that prints exactly ``plain(value)``, styled
    only by the markup around it, whatever tag follows: hidden characters as escapes
    (``literal.visible``), markup escaped. Nothing is cut: a long value is shown whole."""
    from rich.markup import escape

    text = visible(str(value))
    body = text.rstrip("\\")
    tail = len(text) - len(body)
    # rich halves a backslash run that precedes a tag; doubling it and closing it off with an
    # empty span shows it as written whether or not a tag comes next.
    return escape(body) + ("\\" * (2 * tail) + _FENCE if tail else "")


def plain(value: object, *, layout: bool = False) -> str:
    """``value`` for output that rich does not parse (``print``, a rich ``Text``): hidden
    characters as escapes. With ``layout``, line breaks and tabs stay (a snippet we wrote
    whose values are untrusted); without it they are escaped too."""
    text = str(value)
    if not layout:
        return visible(text)
    return "\n".join("\t".join(visible(part) for part in line.split("\t")) for line in text.split("\n"))


def console(stderr: bool = False) -> Console:
    """A console for the CLI: no emoji codes, no guessing of highlights, lines never folded."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=True)
