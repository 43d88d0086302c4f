"""What the editor tells us in ``initializationOptions`` (DESIGN §7)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pygls.uris import to_fs_path


@dataclass(frozen=True, slots=True)
class InitOptions:
    """Typed ``initializationOptions``; unknown keys are ignored so old servers accept new clients."""

    workspace_file: Path | None = None
    """The ``.code-workspace`` file to supervise (a ``file:`` URI or a path in the options).
    When absent, the single ``*.code-workspace`` of the first workspace folder is used."""

    trusted: bool = False
    """The editor already trusts this workspace: start servers without asking."""

    telemetry: bool = False
    """The editor's telemetry opt-in; batches are sent as ``telemetry/event`` only when true."""

    @classmethod
    def parse(cls, raw: Any) -> InitOptions:
        """Read the options leniently: a wrong type for a field means "not given"."""
        if hasattr(raw, "_asdict"):  # pygls hands unknown objects over as namedtuples
            raw = raw._asdict()
        if not isinstance(raw, dict):
            return cls()
        return cls(
            workspace_file=_path(raw.get("workspaceFile")),
            trusted=raw.get("trusted") is True,
            telemetry=raw.get("telemetry") is True,
        )


def _path(value: Any) -> Path | None:
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("file:"):
        value = to_fs_path(value) or ""
    return Path(value).expanduser().resolve() if value else None
