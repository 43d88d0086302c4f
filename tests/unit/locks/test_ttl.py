"""The one TTL validator every shell uses (CLI --ttl, LSP TTL_MS, MCP ttl_ms) and the stores'
own check: same bounds, same message."""

from __future__ import annotations

import pytest

from mcp_marshal.errors import UserError
from mcp_marshal.locks import MAX_TTL_MS, InvalidTtl, parse_ttl_ms
from mcp_marshal.locks.memory_store import MemoryStore

PROBLEM = (
    "TTL must be a whole number of milliseconds from 1 to 604800000 (7 days), got {}; leave it out for the default"
)


def test_the_bounds_are_one_millisecond_to_seven_days() -> None:
    assert MAX_TTL_MS == 7 * 24 * 3600 * 1000
    assert parse_ttl_ms(1) == 1
    assert parse_ttl_ms(MAX_TTL_MS) == MAX_TTL_MS
    assert parse_ttl_ms(None) is None  # left out: the caller's default


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (60_000, 60_000),
        (60_000.0, 60_000),  # JSON has one number type: 6e4 arrives as a float
        ("60000", 60_000),  # the CLI passes text
        (" 250 ", 250),
    ],
)
def test_accepted_forms(value: object, want: int) -> None:
    got = parse_ttl_ms(value)
    assert got == want and type(got) is int


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (-5, "-5"),
        ("-5", "-5"),
        ("0", "0"),
        (MAX_TTL_MS + 1, "604800001"),
        (99999999999999999999, "99999999999999999999"),
        ("99999999999999999999", "99999999999999999999"),
        (10**400, "1000000000000000000000000000000…"),
        (1e308, "1e+308"),
        (1.5, "1.5"),
        (float("inf"), "inf"),
        (float("nan"), "nan"),
        (True, "true"),
        ("abc", '"abc"'),
        ("1e3", '"1e3"'),
        ("١٢", '"١٢"'),  # digits int() would take, but not what a user means by a number
        ("", '""'),
        ([1000], "an array"),
        ({"ms": 1}, "an object"),
    ],
)
def test_every_rejection_has_one_message(value: object, shown: str) -> None:
    with pytest.raises(InvalidTtl) as err:
        parse_ttl_ms(value)
    assert str(err.value) == PROBLEM.format(shown)
    assert isinstance(err.value, UserError)


@pytest.mark.parametrize("ttl", [0, -5, MAX_TTL_MS + 1, 10**20, 1.5, True])
def test_stores_refuse_the_same_ttls(ttl: object) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidTtl):
        store.acquire("t", "o", ttl)  # type: ignore[arg-type]
    lease = store.acquire("t", "o", 1000)
    assert lease is not None
    with pytest.raises(InvalidTtl):
        store.renew(lease, ttl)  # type: ignore[arg-type]
    assert store.list() == [lease]  # nothing was changed by the refused calls
