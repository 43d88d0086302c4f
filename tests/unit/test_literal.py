"""``visible``: nothing a terminal or editor would hide or obey survives; ordinary text is untouched."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_marshal.literal import visible


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("npx", "npx"),
        ("@modelcontextprotocol/server-memory", "@modelcontextprotocol/server-memory"),
        ("C:\\Program Files\\x", "C:\\Program Files\\x"),  # backslashes are kept as written
        ("сервер", "сервер"),
        ("東京 サーバ", "東京 サーバ"),
        ("خادم", "خادم"),
        ("देवनागरी", "देवनागरी"),
        ("bär🚀", "bär🚀"),
        ("❤️", "❤️"),  # with its variation selector
        ("👨‍👩‍👧", "👨‍👩‍👧"),  # ZWJ between pictographs: one emoji
        ("👍🏽‍🚀", "👍🏽‍🚀"),  # ZWJ after a skin tone
        ("🇫🇷", "🇫🇷"),
        ("a\u00a0b", "a\u00a0b"),  # no-break space shows as a space
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]8;;http://evil\x07ok\x1b]8;;\x07", "\\x1b]8;;http://evil\\x07ok\\x1b]8;;\\x07"),
        ("\x00", "\\x00"),
        ("tab\there", "tab\\x09here"),
        ("line\nbreak\r\n", "line\\x0abreak\\x0d\\x0a"),
        ("\x7f", "\\x7f"),
        ("\x85\x9b31m", "\\x85\\x9b31m"),  # C1: NEL and the one-byte CSI
        ("abc\u202edcba", "abc\\u202edcba"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("np\u200bx", "np\\u200bx"),
        ("np\u200dx", "np\\u200dx"),  # ZWJ between letters is hidden, not an emoji
        ("\u200c\u2060\ufeff\u00ad", "\\u200c\\u2060\\ufeff\\xad"),
        ("\ud800", "\\ud800"),
        ("a\udfffb", "a\\udfffb"),
        ("a\u2028b\u2029", "a\\u2028b\\u2029"),
        ("\u3164", "\\u3164"),  # Hangul filler renders blank
        ("\U000e0041", "\\U000e0041"),  # a tag character
        ("", ""),
    ],
)
def test_visible(text: str, shown: str) -> None:
    assert visible(text) == shown


_HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}


@given(st.text(st.characters(exclude_categories=())))  # surrogates included
def test_any_text_becomes_safe_and_stays_so(text: str) -> None:
    shown = visible(text)
    shown.encode("utf-8")  # no lone surrogate survives
    for i, char in enumerate(shown):
        if unicodedata.category(char) in _HIDDEN:
            assert char == "\u200d", repr(shown)
            assert unicodedata.category(shown[i + 1]) == "So"
    assert visible(shown) == shown
