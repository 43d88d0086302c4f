"""The pure lease rules, without any store."""

from __future__ import annotations

import pytest

from mcp_marshal.locks import LeaseRef
from mcp_marshal.locks.redis_store import redact_url
from mcp_marshal.locks.rules import Record, grant, is_held, matches, released, renew_interval, renewed


def test_grant_takes_the_next_token_and_expires_after_the_ttl() -> None:
    first = grant(None, "t", "a", 100.0, 2000, None)
    assert (first.token, first.expires_at) == (1, 102.0)
    later = grant(released(first, 101.0), "t", "b", 105.0, 1000, "h")
    assert (later.token, later.owner, later.holder) == (2, "b", "h")


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
    with pytest.raises(ValueError):
        grant(None, "t", "a", 0.0, 0, None)
    assert renew_interval(3000) == 1.0


def test_redis_urls_lose_their_credentials() -> None:
    assert redact_url("redis://user:secret@cache.local:6380/2") == "redis://cache.local:6380/2"
    assert redact_url("rediss://:pw@[::1]:6379") == "rediss://[::1]:6379"
