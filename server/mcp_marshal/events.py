"""The one event vocabulary (DESIGN §6) and the in-process bus that carries it.

Every event is a frozen dataclass with a wall-clock timestamp ``ts``. Events never carry secret
values: producers put names, states, codes and already-redacted text in them, nothing else.
Both shells (LSP, CLI) and the telemetry pipeline are readers of the same events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp_marshal.config.problems import Problem
from mcp_marshal.config.reload_plan import ReloadPlan

log = logging.getLogger(__name__)


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event; ``ts`` is seconds since the epoch."""

    ts: float = field(default_factory=_now, kw_only=True)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"event": kind, "ts": ..., <fields>}``."""
        out: dict[str, Any] = {"event": self.kind}
        out.update(dataclasses.asdict(self))
        return out


# --- servers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerStateChanged(Event):
    name: str
    state: str
    previous: str
    pid: int | None = None
    restarts: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ServerReady(Event):
    name: str
    handshake_ms: float
    protocol_version: str
    server_info: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())


@dataclass(frozen=True, slots=True)
class ServerExited(Event):
    name: str
    code: int | None
    signal: int | None
    expected: bool
    stderr_tail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RestartScheduled(Event):
    """``reason``: how the life ended (``exited (code 3)``, ``killed by SIGKILL``, ...)."""

    name: str
    attempt: int
    delay_ms: int
    max_restarts: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ServerRemoved(Event):
    """A reload removed the server from the configuration (after it was stopped)."""

    name: str


@dataclass(frozen=True, slots=True)
class ApprovalNeeded(Event):
    """These servers' launches are new or changed since the user approved them: they are not
    started until approved. ``servers``: (name, what changed), e.g. ("db", ("args",)); only
    the ones that were not already waiting for approval."""

    servers: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class ServersApproved(Event):
    """The user approved these servers' current launches (they start if ``autoStart``)."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ServerFailed(Event):
    name: str
    reason: str
    stderr_tail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HealthCheckFailed(Event):
    name: str
    consecutive: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ServerLog(Event):
    """A line a server wrote to stderr, or non-protocol noise on its stdout (``stream``)."""

    name: str
    stream: str
    line: str


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartPlanned(Event):
    """The servers about to start, level by level (level k waits only for levels below k)."""

    levels: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class ConfigReloaded(Event):
    """A valid edit was applied; ``problems`` are its warnings (none block a configuration)."""

    plan: ReloadPlan
    problems: tuple[Problem, ...] = ()
    held: tuple[str, ...] = ()
    """Servers the plan starts or restarts that wait for the user's approval instead."""


@dataclass(frozen=True, slots=True)
class ConfigRejected(Event):
    """An edit with errors: the running configuration is kept. ``problems`` are all of them."""

    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


# --- leases ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaseEvent(Event):
    task: str
    owner: str
    token: int | None = None
    expires_at: float | None = None
    """When the lease ends unless renewed (acquired and renewed only), epoch seconds."""


@dataclass(frozen=True, slots=True)
class LeaseAcquired(LeaseEvent):
    pass


@dataclass(frozen=True, slots=True)
class LeaseRenewed(LeaseEvent):
    pass


@dataclass(frozen=True, slots=True)
class LeaseReleased(LeaseEvent):
    pass


@dataclass(frozen=True, slots=True)
class LeaseExpired(LeaseEvent):
    pass


@dataclass(frozen=True, slots=True)
class LeaseDenied(LeaseEvent):
    pass


# --- the machine -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceDegraded(Event):
    """Something beside the servers cannot work here (the state directory is not writable, a
    store is down); the servers keep running without it. ``reason`` is for the user."""

    service: str
    reason: str


@dataclass(frozen=True, slots=True)
class SupervisedElsewhere(Event):
    """Another process (``holder``: what it is, ``pid``) supervises this workspace file: this
    one starts nothing, shows that process's servers (its gateway at ``url``, once it serves)
    and takes over when it ends."""

    pid: int | None
    holder: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SupervisionTaken(Event):
    """The process that supervised this file ended; this one supervises it from now on."""


@dataclass(frozen=True, slots=True)
class GatewayServing(Event):
    """The gateway serves ``servers`` at ``{url}/mcp/<server>`` (the token is never in an event);
    ``url`` None: it stopped serving (the workspace lost trust, or the gateway was disabled)."""

    url: str | None
    servers: tuple[str, ...]


# --- telemetry ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelemetryDropped(Event):
    count: int
    reason: str


Listener = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out to listeners, in the order they subscribed.

    ``publish`` never raises: a listener that fails is logged and the others still run, so a
    broken reader can never take the supervisor down.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.kind)

    @contextmanager
    def queue(self, maxsize: int = 0) -> Generator[asyncio.Queue[Event], None, None]:
        """Collect events into an asyncio queue for the duration of the block (for tests)."""
        q: asyncio.Queue[Event] = asyncio.Queue(maxsize)

        def put(event: Event) -> None:
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                pass

        unsubscribe = self.subscribe(put)
        try:
            yield q
        finally:
            unsubscribe()


async def wait_for(q: asyncio.Queue[Event], predicate: Callable[[Event], bool], timeout: float) -> Event:
    """Await the first queued event matching ``predicate``; raise ``TimeoutError`` after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            event = await q.get()
            if predicate(event):
                return event
