"""Reload plan: what must change when a validated configuration replaces the running one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """Names of servers, each sorted; a name appears in exactly one field.

    ``restart`` includes every running dependent of a changed server. ``update`` holds servers
    whose only changes (policies, ``autoStart``) apply without restarting the process.
    """

    start: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.start or self.stop or self.restart or self.update)

    def summary(self) -> str:
        """One line for a human: ``+1 started, 2 restarted, 1 stopped`` (or ``no changes``)."""
        parts = []
        if self.start:
            parts.append(f"+{len(self.start)} started")
        if self.restart:
            parts.append(f"{len(self.restart)} restarted")
        if self.stop:
            parts.append(f"{len(self.stop)} stopped")
        if self.update:
            parts.append(f"{len(self.update)} updated")
        return ", ".join(parts) or "no changes"
