"""Where per-workspace state lives (lease database, telemetry file, process ledger)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from platformdirs import user_state_path

STATE_ENV = "MCP_MARSHAL_STATE_DIR"


def state_root() -> Path:
    """The user state directory; ``$MCP_MARSHAL_STATE_DIR`` overrides it (tests, sandboxes)."""
    override = os.environ.get(STATE_ENV)
    return Path(override) if override else user_state_path("mcp-marshal")


class StateUnavailable(OSError):
    """The state directory cannot be created or written; what needs it degrades, nothing else."""


def ensure_dir(path: Path) -> Path:
    """``path``, created if needed, or ``StateUnavailable`` saying why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        hint = f" (set {STATE_ENV} to a writable directory)"
        raise StateUnavailable(f"the state directory {path} cannot be used: {exc.strerror or exc}{hint}") from exc
    return path


def workspace_state_dir(workspace_file: Path) -> Path:
    """A directory private to one workspace file, shared by every window and CLI on the machine.

    Keyed by the file's resolved path so two checkouts of the same project never share leases.
    Raises ``StateUnavailable`` when it cannot be created.
    """
    resolved = workspace_file.expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return ensure_dir(state_root() / "workspaces" / f"{resolved.stem}-{digest}")
