"""Telemetry records and batches: the JSON-ready, already-redacted form every sink receives."""

from __future__ import annotations

import dataclasses
import enum
import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from mcp_marshal.events import Event
    from mcp_marshal.redact import Redactor

SCHEMA_VERSION = 1
DROPPED = "TelemetryDropped"

Severity = Literal["ERROR", "WARN", "INFO"]
_ERROR_NAMES = frozenset({"ServerFailed", "ConfigRejected"})
_WARN_NAMES = frozenset({"ServerExited", "HealthCheckFailed", "RestartScheduled", "LeaseDenied", DROPPED})


def severity(name: str, fields: Mapping[str, Any]) -> Severity:
    """How serious a record is, for every reader (OTLP severity, ``telemetry tail`` colours);
    an expected exit is ordinary."""
    if name in _ERROR_NAMES:
        return "ERROR"
    if name in _WARN_NAMES and not (name == "ServerExited" and fields.get("expected")):
        return "WARN"
    return "INFO"


class Record(NamedTuple):
    """One telemetry record: an event's kind, its wall-clock time and its (redacted) fields.

    A named tuple because one is built per event: about 4x cheaper than a frozen dataclass.
    """

    name: str
    ts: float
    fields: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ts": self.ts, "fields": dict(self.fields)}


@dataclass(frozen=True, slots=True)
class Batch:
    """What one flush hands to every sink. ``dropped`` counts, by reason, the records lost since
    the previous batch, so a reader can tell exactly how much it did not see."""

    seq: int
    records: tuple[Record, ...]
    dropped: Mapping[str, int] = field(default_factory=dict)

    def drop_records(self, ts: float) -> list[Record]:
        """The batch's drop counts as ``TelemetryDropped`` records stamped ``ts``, one per reason."""
        return [Record(DROPPED, ts, {"count": count, "reason": reason}) for reason, count in self.dropped.items()]

    def to_dict(self) -> dict[str, Any]:
        """The ``telemetry/event`` payload: one object per batch."""
        return {
            "v": SCHEMA_VERSION,
            "seq": self.seq,
            "records": [r.to_dict() for r in self.records],
            "dropped": dict(self.dropped),
        }


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELD_NAMES[cls] = names
    return names


_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (dataclasses → dicts, tuples → lists, rest → str)."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, str | int | float | bool):  # subclasses (e.g. str enums)
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {n: plain(getattr(value, n)) for n in _field_names(type(value))}
    if isinstance(value, enum.Enum):
        return plain(value.value)
    return str(value)  # paths and anything else


_INERT = frozenset({int, float, bool, type(None)})
"""Exact types whose values come out of ``plain`` and redaction unchanged: no text to leak."""

_Recorder = Callable[[Any, Any], Record]
_RECORDERS: dict[tuple[type, bool], _Recorder] = {}


def _recorder(cls: type, redacting: bool) -> _Recorder:
    """A function ``(event, redactor) -> Record`` written for one event class.

    Generated (as ``dataclasses`` writes ``__init__``) because the generic loop over fields —
    a comprehension, ``plain`` per value, a second dict for redaction — cost more than the
    redaction itself. Each field gets exactly what ``plain`` then ``Redactor.redact_fields``
    would do: identifier fields (``KEEP_FIELDS``) only ``plain``; strings ``redact``; exact
    ints, floats, bools and None as they are; anything else ``redact_value(plain(v))``.
    """
    from mcp_marshal.events import Event
    from mcp_marshal.redact import KEEP_FIELDS

    names = [n for n in _field_names(cls) if n != "ts"]
    writable = all(n.isidentifier() and not keyword.iskeyword(n) for n in names)
    if not writable:  # a field that cannot be written as ``event.name``: no generated code
        return _generic_recorder(names, redacting)
    lines = ["def record(event, redactor):"]
    items = []
    for i, n in enumerate(names):
        lines.append(f"    v{i} = event.{n}")
        if redacting and n not in KEEP_FIELDS:
            value = (
                f"redactor.redact(v{i}) if type(v{i}) is str else v{i} if type(v{i}) in INERT"
                f" else redactor.redact_value(plain(v{i}))"
            )
        else:
            value = f"v{i} if type(v{i}) in SCALARS else plain(v{i})"
        items.append(f"{n!r}: {value}")
    kind = "KIND" if getattr(cls, "kind", None) is Event.__dict__["kind"] else "event.kind"
    lines.append(f"    return new(Record, ({kind}, event.ts, {{{', '.join(items)}}}))")
    scope = {
        "KIND": cls.__name__,
        "INERT": _INERT,
        "SCALARS": _SCALARS,
        "plain": plain,
        "new": tuple.__new__,  # what Record(...) does, without a Python-level __new__
        "Record": Record,
    }
    exec("\n".join(lines), scope)
    return scope["record"]


def _generic_recorder(names: list[str], redacting: bool) -> _Recorder:
    """The same record as a generated recorder, field by field through ``getattr``."""

    def record(event: Any, redactor: Any) -> Record:
        fields = {n: plain(getattr(event, n)) for n in names}
        if redacting:
            from mcp_marshal.redact import KEEP_FIELDS

            fields = {n: v if n in KEEP_FIELDS else redactor.redact_value(v) for n, v in fields.items()}
        return Record(event.kind, event.ts, fields)

    return record


def record_from_event(event: Event, redactor: Redactor | None = None) -> Record:
    """The record for a core event, with secrets redacted when a ``redactor`` is given.

    Faster than ``event.to_dict()`` (no deep copy); it runs for every event on the bus, through
    a function written once per event class (``_recorder``).
    """
    if redactor is None:
        key = (type(event), False)
        recorder = _RECORDERS.get(key) or _RECORDERS.setdefault(key, _recorder(type(event), False))
        return recorder(event, None)
    if not redactor.standard_fields:  # a subclass redacts fields its own way
        fields = {n: plain(getattr(event, n)) for n in _field_names(type(event)) if n != "ts"}
        return Record(event.kind, event.ts, redactor.redact_fields(fields))
    key = (type(event), True)
    recorder = _RECORDERS.get(key) or _RECORDERS.setdefault(key, _recorder(type(event), True))
    return recorder(event, redactor)
