"""Telemetry records and batches: the JSON-ready, already-redacted form every sink receives.

``Batch.to_dict`` is a wire contract: the LSP sends it as ``telemetry/event`` and the VS Code
client reads it. Add fields only; a change that breaks readers bumps ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

if TYPE_CHECKING:
    from mcp_marshal.events import Event
    from mcp_marshal.redact import Redactor

SCHEMA_VERSION = 1
DROPPED = "TelemetryDropped"

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

Severity = Literal["ERROR", "WARN", "INFO"]
_ERROR_NAMES = frozenset({"ServerFailed", "ConfigRejected"})
_WARN_NAMES = frozenset({"ServerExited", "HealthCheckFailed", "RestartScheduled", "LeaseDenied", DROPPED})


def severity(name: str, fields: Mapping[str, Any]) -> Severity:
    """How serious a record is, for every reader (OTLP severity, ``telemetry tail`` colours).

    Derived from the record, never stored in it: ``ServerFailed`` and ``ConfigRejected`` are
    errors; ``ServerExited`` (unless ``fields["expected"]``), ``HealthCheckFailed``,
    ``RestartScheduled``, ``LeaseDenied`` and ``TelemetryDropped`` are warnings; the rest is info.
    """
    if name in _ERROR_NAMES:
        return "ERROR"
    if name in _WARN_NAMES and not (name == "ServerExited" and fields.get("expected")):
        return "WARN"
    return "INFO"


@dataclass(frozen=True, slots=True)
class Record:
    """One telemetry record; on the wire ``{"name": str, "ts": float, "fields": {str: JSON}}``.

    ``name``: the event kind (``ServerLog``, ``ServerStateChanged``, … as in ``events.py``,
    ``TelemetryDropped``, or a shell's own name given to ``TelemetryPipeline.emit``).
    ``ts``: when it happened, seconds since the Unix epoch (wall clock, fractional).
    ``fields``: the event's own fields except ``ts``, by field name, as JSON values (nested
    objects and arrays included; a field may be ``null``). Free text is redacted; identifier
    fields (``KEEP_FIELDS`` in ``redact.py``: server names, states, streams) are verbatim.
    Every field of the event is present; which fields an event has is its class in ``events.py``.
    """

    name: str
    ts: float
    fields: Mapping[str, JsonValue]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ts": self.ts, "fields": dict(self.fields)}


@dataclass(frozen=True, slots=True)
class Batch:
    """What one flush hands to every sink; on the wire (``to_dict``) every key is always present.

    ``seq``: 1 for a pipeline's first batch, then +1 per batch; a sink that lost batches from
    its own backlog skips their numbers and counts them under ``sink_backlog``.
    ``records``: oldest first, at most ``batchSize``; empty when a batch only reports drops.
    ``dropped``: records lost since the sink's previous batch, by reason (``queue_full``,
    ``shutdown``, ``record_error``, ``sink_backlog``; readers should accept any string), counts
    ≥ 1; ``{}`` when nothing was lost. A reader can tell exactly how much it did not see.
    """

    seq: int
    records: tuple[Record, ...]
    dropped: Mapping[str, int] = field(default_factory=dict[str, int])

    def drop_records(self, ts: float) -> list[Record]:
        """The batch's drop counts as ``TelemetryDropped`` records stamped ``ts``, one per reason."""
        return [Record(DROPPED, ts, {"count": count, "reason": reason}) for reason, count in self.dropped.items()]

    def to_dict(self) -> dict[str, Any]:
        """The ``telemetry/event`` payload: ``{"v": 1, "seq", "records": [Record], "dropped"}``."""
        return {
            "v": SCHEMA_VERSION,
            "seq": self.seq,
            "records": [r.to_dict() for r in self.records],
            "dropped": dict(self.dropped),
        }


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str) -> str:
    # A lone surrogate (from a server's JSON, or a file name) cannot be encoded by any sink.
    return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)


def plain(value: object) -> JsonValue:
    """A JSON-ready copy of ``value``: dataclasses and mappings → dicts with str keys, tuples
    and sets → lists, enums → their values, text as well-formed Unicode, anything else → str."""
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in cast("Iterable[object]", value)]
    if isinstance(value, Mapping):
        return {_text(str(k)): plain(v) for k, v in cast("Mapping[object, object]", value).items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return _text(str(value))  # paths and anything else


def record_from_event(event: Event, redactor: Redactor | None = None) -> Record:
    """The record of a core event: its fields except ``ts``, JSON-ready, redacted when a
    ``redactor`` is given (identifier fields stay verbatim)."""
    fields = {f.name: plain(getattr(event, f.name)) for f in dataclasses.fields(event) if f.name != "ts"}
    if redactor is not None:
        fields = redactor.redact_fields(fields)
    return Record(event.kind, event.ts, fields)
