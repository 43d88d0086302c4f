"""Reload plan: what must change when a validated configuration replaces the running one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config, ServerSpec


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
        parts: list[str] = []
        if self.start:
            parts.append(f"+{len(self.start)} started")
        if self.restart:
            parts.append(f"{len(self.restart)} restarted")
        if self.stop:
            parts.append(f"{len(self.stop)} stopped")
        if self.update:
            parts.append(f"{len(self.update)} updated")
        return ", ".join(parts) or "no changes"


# Fields whose change means a new process (or a new connection); the rest apply in place.
_PROCESS_FIELDS = ("type", "command", "args", "env", "env_file", "cwd", "url", "headers", "inputs")


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """What to do to go from ``old`` to ``new``; pure.

    Added servers start, removed ones stop. A change to how a server is launched or reached
    restarts it and every server of both configs that waits for it (transitively, in
    ``new.deps``). Changes only to policies, ``autoStart``, ``dependsOn`` or ``tier`` are
    updates: the order matters at the next start, the running process stays.
    """
    added = new.servers.keys() - old.servers.keys()
    removed = old.servers.keys() - new.servers.keys()
    kept = old.servers.keys() & new.servers.keys()
    changed = {n for n in kept if _launch(old.servers[n]) != _launch(new.servers[n])}
    restart = (changed | new.deps.dependents(changed)) & kept
    update = {n for n in kept - restart if old.servers[n] != new.servers[n]}
    return ReloadPlan(
        start=tuple(sorted(added)),
        stop=tuple(sorted(removed)),
        restart=tuple(sorted(restart)),
        update=tuple(sorted(update)),
        unchanged=tuple(sorted(kept - restart - update)),
    )


def _launch(spec: ServerSpec) -> tuple[object, ...]:
    return tuple(getattr(spec, f) for f in _PROCESS_FIELDS)
