"""Lease lifetimes: one validator, so the CLI, the LSP commands and the MCP tools accept the same
values and say the same thing about the rest; the stores apply the same bounds.

A TTL is a whole number of milliseconds from 1 to ``MAX_TTL_MS`` (7 days). The upper bound
keeps every expiry a date that clocks, ``datetime``, JSON and JavaScript can all represent, and
a lease that must outlive a week is not a lease: renew it (``lock run`` does, every TTL/3).
"""

from __future__ import annotations

import math
import re

from mcp_marshal.errors import UserError

MAX_TTL_MS = 7 * 24 * 3600 * 1000
"""The longest lease, 7 days."""

_PROBLEM = (
    f"TTL must be a whole number of milliseconds from 1 to {MAX_TTL_MS} (7 days), got {{}};"
    " leave it out for the default"
)
_DIGITS = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() would also take "١٢" and "1_000"
_SHOWN = 31  # characters of a rejected value kept in the message


class InvalidTtl(UserError):
    """A TTL outside 1 ms … 7 days, or not a whole number of milliseconds."""

    code = "invalid_ttl"


def parse_ttl_ms(value: object) -> int | None:
    """``value`` as a TTL in milliseconds; ``None`` when left out (the caller's default applies).

    Takes an int, a float with no fraction (a JSON number) or a string of ASCII digits (a
    command-line argument); raises ``InvalidTtl`` for anything else, with one message.
    """
    if value is None:
        return None
    ms: int | None = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        ms = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        ms = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(text := value.strip()):
        if len(text) > 20:  # out of range, and int() refuses very long strings
            raise InvalidTtl(_PROBLEM.format(_cut(text)))
        ms = value = int(text)  # shown as the number it is, not as text
    if ms is None or not 1 <= ms <= MAX_TTL_MS:
        raise InvalidTtl(_PROBLEM.format(_show(value)))
    return ms


def check_ttl(ttl_ms: int) -> int:
    """The stores' own check of an ``int`` TTL (never ``None``: they have no default)."""
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or not 1 <= ttl_ms <= MAX_TTL_MS:  # pyright: ignore[reportUnnecessaryIsInstance]  # callers are untyped too
        raise InvalidTtl(_PROBLEM.format(_show(ttl_ms)))
    return ttl_ms


def _show(value: object) -> str:
    """A rejected value in JSON terms, cut short (a user may paste anything)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        # str() refuses ints of more than 4300 digits (sys.int_info.default_max_str_digits)
        return _cut(str(value)) if value.bit_length() < 14_000 else "a number of over 4000 digits"
    if isinstance(value, str):
        return f'"{_cut(value)}"'
    return "an array" if isinstance(value, list | tuple) else "an object"


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
