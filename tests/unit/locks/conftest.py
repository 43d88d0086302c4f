"""Shared helpers for lease tests: reading what a bus queue collected."""

from __future__ import annotations

from mcp_marshal.events import Event


def drain(q: object) -> list[Event]:
    out = []
    while not q.empty():  # type: ignore[attr-defined]
        out.append(q.get_nowait())  # type: ignore[attr-defined]
    return out


def summary(events: list[Event]) -> list[tuple[str, str, str, int | None]]:
    return [(e.kind, e.task, e.owner, e.token) for e in events]  # type: ignore[attr-defined]
