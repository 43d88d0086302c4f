"""Server states and the transitions allowed between them (DESIGN §4).

One table says which transition is legal, so a bug that would put a server in an impossible
state fails loudly in tests instead of confusing a user.
"""

from __future__ import annotations

from enum import StrEnum


class ServerState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    UNHEALTHY = "unhealthy"
    EXITED = "exited"
    BACKOFF = "backoff"
    FAILED = "failed"
    BLOCKED = "blocked"
    STOPPING = "stopping"


S = ServerState

TRANSITIONS: dict[ServerState, frozenset[ServerState]] = {
    S.STOPPED: frozenset({S.STARTING, S.BLOCKED, S.FAILED}),
    S.BLOCKED: frozenset({S.STARTING, S.STOPPED, S.FAILED}),
    S.STARTING: frozenset({S.READY, S.EXITED, S.STOPPING, S.FAILED}),
    S.READY: frozenset({S.UNHEALTHY, S.EXITED, S.STOPPING}),
    S.UNHEALTHY: frozenset({S.READY, S.EXITED, S.STOPPING}),
    S.EXITED: frozenset({S.BACKOFF, S.FAILED, S.STOPPED, S.STARTING}),
    S.BACKOFF: frozenset({S.STARTING, S.STOPPED, S.FAILED}),
    S.FAILED: frozenset({S.STARTING, S.STOPPED, S.BLOCKED}),
    S.STOPPING: frozenset({S.STOPPED}),
}

#: States in which the server will not change again without a command or a config change.
SETTLED = frozenset({S.READY, S.FAILED, S.BLOCKED, S.STOPPED})
#: States in which a process of ours may be alive.
LIVE = frozenset({S.STARTING, S.READY, S.UNHEALTHY, S.STOPPING})


def can_transition(old: ServerState, new: ServerState) -> bool:
    return new in TRANSITIONS[old]
