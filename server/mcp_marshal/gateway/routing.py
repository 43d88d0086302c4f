"""The bookkeeping of sharing one backend session among agent sessions, as plain tables.

Every agent picks its own JSON-RPC ids and progress tokens, so two agents may use the same
ones: what goes to the backend is renamed into one namespace of ours and renamed back on the
way out. Subscriptions are counted, so the backend is subscribed once per resource however
many agents ask, and unsubscribed when the last one leaves.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


def id_key(value: Any) -> Hashable:
    """A JSON-RPC id as a dict key: ``1`` and ``"1"`` are different ids (and ``True`` is no id)."""
    return (type(value).__name__, value)


@dataclass
class Renames(Generic[K]):
    """Names of ours for things agents named (progress tokens, server-request ids): each agent
    thing gets a fresh name of ours; ours maps back to (owner, their name)."""

    prefix: str
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ours: dict[str, tuple[K, Any]] = field(default_factory=dict)

    def rename(self, owner: K, theirs: Any) -> str:
        ours = f"{self.prefix}{next(self._counter)}"
        self._ours[ours] = (owner, theirs)
        return ours

    def lookup(self, ours: Any) -> tuple[K, Any] | None:
        return self._ours.get(ours) if isinstance(ours, str) else None

    def drop(self, ours: Any) -> None:
        if isinstance(ours, str):
            self._ours.pop(ours, None)

    def drop_owner(self, owner: K) -> list[str]:
        """Forget everything ``owner`` named; returns our names for it."""
        gone = [ours for ours, (who, _) in self._ours.items() if who == owner]
        for ours in gone:
            del self._ours[ours]
        return gone


@dataclass
class Subscriptions(Generic[K]):
    """Who is subscribed to which resource URI; the backend is told at the first and the last."""

    _by_uri: dict[str, set[K]] = field(default_factory=dict)

    def subscribe(self, who: K, uri: str) -> bool:
        """Add ``who``; True when the backend must be subscribed (the first subscriber)."""
        subscribers = self._by_uri.setdefault(uri, set())
        first = not subscribers
        subscribers.add(who)
        return first

    def unsubscribe(self, who: K, uri: str) -> bool:
        """Remove ``who``; True when the backend must be unsubscribed (nobody is left)."""
        subscribers = self._by_uri.get(uri)
        if not subscribers or who not in subscribers:
            return False
        subscribers.discard(who)
        if subscribers:
            return False
        del self._by_uri[uri]
        return True

    def leave(self, who: K) -> list[str]:
        """``who`` is gone: the URIs nobody is subscribed to any more."""
        return [uri for uri in [u for u, s in self._by_uri.items() if who in s] if self.unsubscribe(who, uri)]

    def subscribers(self, uri: str) -> frozenset[K]:
        return frozenset(self._by_uri.get(uri, ()))

    def uris(self) -> Iterable[str]:
        """Every URI someone is subscribed to (replayed to a restarted backend)."""
        return list(self._by_uri)
