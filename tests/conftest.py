"""Every test run keeps its state (lease databases, telemetry files, process ledgers) in a
private directory, so tests never touch the user's real state and never see each other's."""

from __future__ import annotations

import os
import tempfile

# Set at import time so subprocesses started by any test inherit it too.
os.environ.setdefault("MCP_MARSHAL_STATE_DIR", tempfile.mkdtemp(prefix="mcp-marshal-test-state-"))
