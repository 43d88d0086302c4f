"""The pure lease rules, without any store."""

from __future__ import annotations

import pytest

from mcp_marshal.locks import InvalidTtl, LeaseRef
from mcp_marshal.locks.redis_store import redact_url
from mcp_marshal.locks.rules import (
    MAX_TIME,
    Record,
    acquire,
    grant,
    is_held,
    matches,
    next_token,
    release,
    released,
    renew,
    renew_interval,
    renewed,
    sane_time,
)


def test_grant_takes_the_next_token_and_expires_after_the_ttl() -> None:
    first = grant(None, "t", "a", 100.0, 2000, None)
    assert (first.token, first.expires_at) == (100_000_000, 102.0)  # the clock floor, in µs
    later = grant(released(first, 101.0), "t", "b", 100.0, 1000, "h")  # same instant: last + 1
    assert (later.token, later.owner, later.holder) == (100_000_001, "b", "h")


def test_tokens_are_past_the_last_one_and_never_below_the_clock() -> None:
    assert next_token(0, 1_800_000_000.25) == 1_800_000_000_250_000
    assert next_token(7, 1.0) == 1_000_000  # a lost counter restarts at the clock, above every old token
    assert next_token(5_000_000, 1.0) == 5_000_001  # never back, even when the clock is behind
    assert next_token(0, 9_000_000_000.0) < 2**53  # exact in JavaScript beyond the year 2255


def test_the_log_entries_of_each_change() -> None:
    old = Record("t", "a", 4, 0.0, 10.0, holder="h")
    change = acquire(old, "t", "b", 12.0, 1000, None)
    assert change is not None
    assert [(k, r.owner, r.token) for k, r in change.log] == [("expired", "a", 4), ("acquired", "b", 12_000_000)]
    assert acquire(old, "t", "b", 5.0, 1000, None) is None
    assert acquire(old, "t", "b", 5.0, 1000, None, holder_alive=lambda h: False) is not None
    key = LeaseRef("t", "a", 4)
    assert renew(old, key, 5.0, 2000, holder_alive=lambda h: False) is None  # its holder died
    renewal = renew(old, key, 5.0, 2000)
    assert renewal is not None and renewal.record.expires_at == 7.0 and renewal.log[0][0] == "renewed"
    ending = release(old, key, 5.0)
    assert ending is not None and ending.record.owner is None
    assert [(k, r.owner, r.expires_at) for k, r in ending.log] == [("released", "a", 5.0)]


def test_stored_times_are_made_sane() -> None:
    assert sane_time(1e17) == MAX_TIME and sane_time(float("inf")) == MAX_TIME
    assert sane_time(float("nan")) == 0.0 and sane_time("junk") == 0.0 and sane_time(-5) == 0.0
    assert sane_time("12.5") == 12.5
    assert Record.stored("t", "o", 3.0, 1.0, 1e300, None).expires_at == MAX_TIME


def test_held_until_the_expiry_instant_and_while_the_holder_lives() -> None:
    rec = Record("t", "a", 1, 0.0, 10.0, holder="h")
    assert is_held(rec, 9.999)
    assert not is_held(rec, 10.0)
    assert not is_held(rec, 5.0, holder_alive=lambda h: False)
    assert not is_held(released(rec, 5.0), 5.0)
    assert not is_held(None, 0.0)


def test_renew_and_release_match_owner_and_token() -> None:
    rec = Record("t", "a", 4, 0.0, 10.0)
    assert matches(rec, LeaseRef("t", "a", 4))
    assert not matches(rec, LeaseRef("t", "a", 3)) and not matches(rec, LeaseRef("t", "b", 4))
    assert not matches(released(rec, 1.0), LeaseRef("t", "a", 4))
    assert renewed(rec, 8.0, 5000).expires_at == 13.0


def test_bad_ttl_and_renew_interval() -> None:
    with pytest.raises(InvalidTtl):
        grant(None, "t", "a", 0.0, 0, None)
    assert renew_interval(3000) == 1.0


def test_redis_urls_lose_their_credentials() -> None:
    assert redact_url("redis://user:secret@cache.local:6380/2") == "redis://cache.local:6380/2"
    assert redact_url("rediss://:pw@[::1]:6379") == "rediss://[::1]:6379"
