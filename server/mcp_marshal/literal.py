"""Text from a workspace file, made safe to show in a terminal or an editor.

A name or argument may carry bytes a screen does not show as themselves: an escape sequence
that repaints the terminal, a right-to-left override that reverses what follows, a zero-width
character inside ``npx``, a lone surrogate that no encoder accepts. A listing shown before the
user trusts a file must not hide any of them, so ``visible`` writes each as an escape.
"""

from __future__ import annotations

import unicodedata

# Categories that never show as themselves: controls, format (bidi, zero-width), surrogates,
# and the line/paragraph separators that break a line where none is seen.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Letters that render as blank space by design (Hangul fillers), a known spoofing trick.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0")
_ZWJ = "\u200d"
_EMOJI_TAILS = frozenset("\ufe0e\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff")


def visible(text: str) -> str:
    """``text`` with every control character (C0, C1, DEL), lone surrogate, format character
    (bidi controls, zero-width characters, BOM, soft hyphen), line/paragraph separator and
    blank-rendering filler written as ``\\x1b``, ``\\ud800`` or ``\\U000e0041``; all other text
    (any script, emoji, the zero-width joiner inside an emoji sequence) is left alone.

    The result is always encodable as UTF-8 and free of terminal control sequences. It is not
    reversible: a backslash already in ``text`` is kept as is.
    """
    if text.isprintable() and _BLANK.isdisjoint(text):
        return text
    out: list[str] = []
    for i, char in enumerate(text):
        if _shows(char) or (char == _ZWJ and _joins_emoji(text, i)):
            out.append(char)
        else:
            out.append(_escape(char))
    return "".join(out)


def _shows(char: str) -> bool:
    if char in _BLANK:
        return False
    return char.isprintable() or unicodedata.category(char) not in _HIDDEN


def _joins_emoji(text: str, i: int) -> bool:
    """A ZWJ between two pictographs (👨‍👩‍👧) is part of one emoji, not a hidden character."""
    j = i - 1
    while j >= 0 and text[j] in _EMOJI_TAILS:  # a variation selector or skin tone ends the emoji
        j -= 1
    if j < 0 or i + 1 >= len(text):
        return False
    return unicodedata.category(text[j]) == "So" == unicodedata.category(text[i + 1])


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
