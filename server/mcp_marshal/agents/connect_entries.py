"""What a client's configuration needs to reach a workspace's servers: one command per server,
``mcp-marshal connect NAME WORKSPACE``, and nothing secret (connect reads the token itself).
"""

# pyright: strict

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp_marshal.config.models import Config

#: The gateway's own tools (leases, logs, restarts): ``mcp_marshal.gateway.marshal.NAME``.
MARSHAL = "marshal"
STATE_ENV = "MCP_MARSHAL_STATE_DIR"


@dataclass(frozen=True, slots=True)
class Entry:
    """One server as a client launches it. ``env`` holds only the state directory, and only
    when it is not the default one (clients start servers with little of our environment)."""

    name: str
    command: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict[str, str])


@dataclass(frozen=True, slots=True)
class Skipped:
    name: str
    reason: str


def connect_entries(
    config: Config, launcher: Sequence[str], state_dir: str | None = None
) -> tuple[list[Entry], list[Skipped]]:
    """An entry for every server the gateway serves (stdio and http servers, then ``marshal``),
    and why the others get none. ``launcher`` is how to run mcp-marshal (its executable, or
    ``python -m mcp_marshal``); ``state_dir``: pass one that differs from the default."""
    workspace = str(config.file)
    env = {STATE_ENV: state_dir} if state_dir else {}

    def entry(name: str) -> Entry:
        return Entry(name, launcher[0], (*launcher[1:], "connect", name, workspace), env)

    entries: list[Entry] = []
    skipped: list[Skipped] = []
    for name, spec in config.servers.items():
        if name == MARSHAL:
            skipped.append(Skipped(name, f'the gateway serves its own tools as "{MARSHAL}"; rename this server'))
        elif spec.type == "sse":  # the gateway relays stdio and Streamable HTTP only
            skipped.append(Skipped(name, "legacy SSE servers are not relayed by the gateway; give the client its URL"))
        else:
            entries.append(entry(name))
    entries.append(entry(MARSHAL))
    return entries, skipped


Ownership = Literal["ours", "other-workspace", "user"]


def ownership(value: Any, name: str, workspace: Path) -> Ownership:
    """Whose entry ``value`` (a client's entry called ``name``) is: one we wrote for this
    workspace (whatever the launcher was then), ours for another workspace, or the user's."""
    if not isinstance(value, Mapping):
        return "user"
    entry: Mapping[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    command, args = entry.get("command"), entry.get("args")
    if not isinstance(command, str) or not isinstance(args, list):
        return "user"
    parts: list[Any] = args  # pyright: ignore[reportUnknownVariableType]
    if len(parts) < 3 or not all(isinstance(a, str) for a in parts) or parts[-3:-1] != ["connect", name]:
        return "user"
    launched = Path(command).name.startswith("mcp-marshal") or parts[-5:-3] == ["-m", "mcp_marshal"]
    if not launched:
        return "user"
    return "ours" if _same_file(str(parts[-1]), workspace) else "other-workspace"


def _same_file(written: str, workspace: Path) -> bool:
    return os.path.realpath(os.path.expanduser(written)) == os.path.realpath(workspace)
