"""One line of text for an event, the same for both shells (the LSP's output channel and the
CLI's narration). ``None``: the event is not worth a line of its own (a state change shown in a
view, a stderr line routed to its server's own log, an exit: the restart or failure that
follows it says how it ended).
"""

from __future__ import annotations

import re
import shlex
from functools import singledispatch

from mcp_marshal.config.models import Launch
from mcp_marshal.events import (
    ApprovalNeeded,
    ConfigRejected,
    ConfigReloaded,
    Event,
    GatewayServing,
    HealthCheckFailed,
    LeaseAcquired,
    LeaseDenied,
    LeaseEvent,
    LeaseExpired,
    LeaseReleased,
    LeaseRenewed,
    RestartScheduled,
    ServerFailed,
    ServerReady,
    ServerRemoved,
    ServersApproved,
    ServiceDegraded,
    StartPlanned,
    SupervisedElsewhere,
    SupervisionTaken,
    TelemetryDropped,
)
from mcp_marshal.literal import visible
from mcp_marshal.redact import is_credential


def duration(ms: float) -> str:
    """``2 s``, ``1.5 s`` or ``250 ms``: what a person reads, without jitter's false precision."""
    return f"{round(ms)} ms" if ms < 1000 else f"{round(ms / 1000, 1):g} s"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


@singledispatch
def describe(event: Event) -> str | None:
    """The line for ``event``, or None (see the module docstring). Names are quoted as given;
    a shell that prints to a terminal makes control characters visible itself."""
    return None


@describe.register
def _(event: StartPlanned) -> str:
    count = sum(len(level) for level in event.levels)
    order = " → ".join(", ".join(level) for level in event.levels) or "nothing to start"
    return f"starting {plural(count, 'server')}: {order}"


@describe.register
def _(event: ServerReady) -> str:
    info = event.server_info
    who = " ".join(str(info[k]) for k in ("name", "version") if isinstance(info.get(k), str | int | float))
    about = ", ".join(
        part for part in (f"protocol {event.protocol_version}" if event.protocol_version else "", who) if part
    )
    return f"{event.name}: ready in {duration(event.handshake_ms)}" + (f" ({about})" if about else "")


@describe.register
def _(event: RestartScheduled) -> str:
    budget = f" ({event.attempt}/{event.max_restarts})" if event.max_restarts else f" (attempt {event.attempt})"
    why = f"{event.reason}; " if event.reason else ""
    return f"{event.name}: {why}restarting in {duration(event.delay_ms)}{budget}"


@describe.register
def _(event: ServerFailed) -> str:
    return f"{event.name}: failed: {event.reason}"


@describe.register
def _(event: HealthCheckFailed) -> str:
    why = f": {event.reason}" if event.reason else ""
    return f"{event.name}: health check failed ({event.consecutive} in a row){why}"


@describe.register
def _(event: ServerRemoved) -> str:
    return f"{event.name}: removed from the configuration"


@describe.register
def _(event: ConfigReloaded) -> str:
    warnings = f" ({plural(len(event.problems), 'warning')})" if event.problems else ""
    held = f"; {len(event.held)} wait for approval: {', '.join(event.held)}" if event.held else ""
    return f"configuration reloaded: {event.plan.summary()}{held}{warnings}"


@describe.register
def _(event: ConfigRejected) -> str:
    errors = event.errors
    first = f"; first: {errors[0].format()}" if errors else ""
    return f"configuration not applied, the running one is kept: {plural(len(errors), 'error')}{first}"


_LEASES: dict[type[LeaseEvent], str] = {
    LeaseAcquired: "lease on '{task}' acquired by {owner}{token}",
    LeaseRenewed: "lease on '{task}' renewed by {owner}{token}",
    LeaseReleased: "lease on '{task}' released by {owner}{token}",
    LeaseExpired: "lease on '{task}' held by {owner} expired without release{token}",
    LeaseDenied: "lease on '{task}' denied to {owner}",
}


@describe.register
def _(event: LeaseEvent) -> str:
    token = f" (token {event.token})" if event.token is not None else ""
    template = _LEASES.get(type(event), "lease on '{task}' changed by {owner}{token}")
    return template.format(task=event.task, owner=event.owner, token=token)


@describe.register
def _(event: TelemetryDropped) -> str:
    return f"telemetry: {plural(event.count, 'record')} dropped ({event.reason})"


@describe.register
def _(event: ServiceDegraded) -> str:
    return f"{event.service} unavailable: {event.reason}"


@describe.register
def _(event: ApprovalNeeded) -> str:
    listed = "; ".join(f"{name} ({describe_change(changed)})" for name, changed in event.servers)
    return f"needs approval before it runs: {listed}"


def describe_change(changed: tuple[str, ...]) -> str:
    """``new``, or which launch fields changed (``args, env changed``)."""
    return "new" if changed == ("new",) else f"{', '.join(changed)} changed"


@describe.register
def _(event: ServersApproved) -> str:
    return f"approved: {', '.join(event.names)}"


@describe.register
def _(event: SupervisedElsewhere) -> str:
    pid = "?" if event.pid is None else event.pid
    return f"supervised by {event.holder} (pid {pid}): its servers are used here, and supervised here once it ends"


@describe.register
def _(event: SupervisionTaken) -> str:
    return "the process that supervised this file ended: supervising it here now"


@describe.register
def _(event: GatewayServing) -> str:
    if event.url is None:
        return "gateway: stopped serving"
    return f"gateway: {plural(len(event.servers), 'server')} at {event.url}/mcp/<server> (see `mcp-marshal gateway`)"


#: A value that only names a variable (``${env:TOKEN}``, ``${input:key}``): not a secret itself.
_REFERENCE = re.compile(r"\$\{[^{}]+\}")
#: Shown instead of a value written in the file that looks like a credential.
HIDDEN = "<hidden>"


def launch_lines(launch: Launch) -> list[str]:
    """A launch as the file writes it, one field per line (what a listing before trust and
    ``mcp-marshal trust`` show): every byte visible, variables unresolved, a value that looks
    like a credential hidden."""

    def shown(name: str | None, value: str) -> str:  # a reference is not the secret it names
        return HIDDEN if is_credential(name, value) and not _REFERENCE.fullmatch(value) else visible(value)

    lines: list[str] = []
    if launch.command is not None:
        lines.append("command: " + visible(shlex.join([launch.command, *launch.args])))
    if launch.url is not None:
        lines.append("url: " + visible(launch.url))
    for name, value in launch.env:
        lines.append(f"env {visible(name)}=" + ("(unset)" if value is None else shown(name, value)))
    if launch.env_file is not None:
        lines.append("envFile: " + visible(launch.env_file))
    if launch.cwd is not None:
        lines.append("cwd: " + visible(launch.cwd))
    for name, value in launch.headers:
        lines.append(f"header {visible(name)}: " + shown(name, value))
    return lines
