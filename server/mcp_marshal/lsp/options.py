"""What the editor tells us in ``initializationOptions`` (DESIGN §7), read leniently: a value of
the wrong type means "not given", and is reported once so the user knows why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pygls.uris import to_fs_path

from mcp_marshal.wire import InitializationOptions


@dataclass(frozen=True, slots=True)
class Options:
    """``InitializationOptions`` with the workspace file resolved to a path."""

    workspace_file: Path | None = None
    trusted: bool = False
    telemetry: bool = False
    syntax_diagnostics: bool = True
    views: bool = False


def read_options(raw: Any) -> tuple[Options, list[str]]:
    """The options, and a note for each field that was ignored (wrong type)."""
    if hasattr(raw, "_asdict"):  # pygls hands unknown objects over as namedtuples
        raw = raw._asdict()
    if not isinstance(raw, dict):
        return Options(), ([] if raw is None else ["initializationOptions must be an object; ignored"])
    notes: list[str] = []
    fields: dict[str, Any] = dict(raw)
    while True:
        try:
            model = InitializationOptions.model_validate(fields)
            break
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            notes += [f"initializationOptions.{key} has the wrong type; ignored" for key in sorted(bad)]
            fields = {k: v for k, v in fields.items() if k not in bad}
            if not bad:
                return Options(), notes
    return (
        Options(
            workspace_file=_path(model.workspace_file),
            trusted=model.trusted,
            telemetry=model.telemetry,
            syntax_diagnostics=model.syntax_diagnostics,
            views=model.views,
        ),
        notes,
    )


def _path(value: str | None) -> Path | None:
    if not value:
        return None
    if value.startswith("file:"):
        value = to_fs_path(value) or ""
    return Path(value).expanduser().resolve() if value else None
