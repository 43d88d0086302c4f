"""Renaming agents' names into ours and back, and counted subscriptions, as tables."""

from __future__ import annotations

import pytest

from mcp_marshal.gateway.routing import Renames, Subscriptions, id_key


def test_same_names_from_two_agents_get_different_names_of_ours() -> None:
    renames: Renames[str] = Renames("p")
    a, b = renames.rename("agent-a", 1), renames.rename("agent-b", 1)
    assert a != b
    assert renames.lookup(a) == ("agent-a", 1) and renames.lookup(b) == ("agent-b", 1)
    renames.drop(a)
    assert renames.lookup(a) is None and renames.lookup(b) == ("agent-b", 1)
    assert renames.lookup(7) is None  # an agent-chosen name is never mistaken for ours


def test_an_owner_leaving_forgets_only_its_names() -> None:
    renames: Renames[str] = Renames("r")
    mine = [renames.rename("a", "x"), renames.rename("a", "y")]
    other = renames.rename("b", "x")
    assert sorted(renames.drop_owner("a")) == sorted(mine)
    assert renames.lookup(other) == ("b", "x") and all(renames.lookup(n) is None for n in mine)


@pytest.mark.parametrize(
    ("steps", "backend"),
    [
        ("+a:u", ["subscribe u"]),
        ("+a:u +b:u", ["subscribe u"]),
        ("+a:u +b:u -a:u", ["subscribe u"]),
        ("+a:u +b:u -a:u -b:u", ["subscribe u", "unsubscribe u"]),
        ("+a:u -b:u", ["subscribe u"]),  # b never subscribed: nothing to undo
        ("+a:u +a:u -a:u", ["subscribe u", "unsubscribe u"]),  # a set: twice is once
        ("+a:u +a:v -a:v +b:v", ["subscribe u", "subscribe v", "unsubscribe v", "subscribe v"]),
    ],
)
def test_the_backend_hears_the_first_and_the_last(steps: str, backend: list[str]) -> None:
    subs: Subscriptions[str] = Subscriptions()
    told = []
    for step in steps.split():
        who, uri = step[1:].split(":")
        if step[0] == "+" and subs.subscribe(who, uri):
            told.append(f"subscribe {uri}")
        if step[0] == "-" and subs.unsubscribe(who, uri):
            told.append(f"unsubscribe {uri}")
    assert told == backend


def test_a_session_leaving_releases_what_only_it_held() -> None:
    subs: Subscriptions[str] = Subscriptions()
    for who, uri in (("a", "u"), ("a", "v"), ("b", "v")):
        subs.subscribe(who, uri)
    assert subs.leave("a") == ["u"]
    assert subs.subscribers("v") == {"b"} and list(subs.uris()) == ["v"]


def test_ids_keep_their_type() -> None:
    assert id_key(1) != id_key("1") and id_key(1) == id_key(1)
