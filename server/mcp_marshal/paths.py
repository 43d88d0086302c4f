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


def workspace_state_dir(workspace_file: Path) -> Path:
    """A directory private to one workspace file, shared by every window and CLI on the machine.

    Keyed by the file's resolved path so two checkouts of the same project never share leases.
    """
    resolved = workspace_file.expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    path = state_root() / "workspaces" / f"{resolved.stem}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return path
