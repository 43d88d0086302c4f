"""The producer's and the file sink's shortcuts give exactly what the plain code paths give.

``record_from_event`` runs a function written per event class, the pattern pass skips text
without a long token run by a byte-table check, ``Batcher.push`` reads the clock lazily and
``batch_lines`` reuses one encoder: each is checked against the straightforward version it
replaces, so redaction stays as strong and the output byte-identical.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_marshal import redact as redact_module
from mcp_marshal.events import Event, ServerExited, ServerLog, ServerStateChanged
from mcp_marshal.redact import PLACEHOLDER, Redactor
from mcp_marshal.telemetry import Batch, Batcher, BatchLimits, Record, record_from_event
from mcp_marshal.telemetry.record import _field_names, _generic_recorder, plain
from mcp_marshal.telemetry.sinks import batch_lines

SECRET = "known-secret-value-007"


class Level(enum.StrEnum):
    HIGH = f"high {SECRET}"


class Code(enum.IntEnum):
    ONE = 1


class Flag(int):
    """An int subclass: not an exact int, so it takes the general path."""


@dataclass(frozen=True, slots=True)
class Inner:
    text: str
    n: int


@dataclass(frozen=True, slots=True)
class Everything(Event):
    name: str
    line: str
    count: int
    ratio: float
    ok: bool
    nothing: None
    level: Level
    code: Code
    flag: Flag
    tail: tuple[str, ...]
    info: dict[str, Any]
    inner: Inner
    path: Path
    state: Any  # an identifier field: kept as is, whatever it holds
    short: str = "abc"
    extra: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Renamed(Event):
    line: str

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "CustomKind"


@dataclass(frozen=True, slots=True)
class Single(Event):
    line: str


@dataclass(frozen=True, slots=True)
class Empty(Event):
    pass


def reference_record(event: Event, redactor: Redactor | None) -> Record:
    """``record_from_event`` as first written: ``plain`` every field, then ``redact_fields``."""
    fields = {n: plain(getattr(event, n)) for n in _field_names(type(event)) if n != "ts"}
    if redactor is not None:
        fields = redactor.redact_fields(fields)
    return Record(event.kind, event.ts, fields)


def events() -> list[Event]:
    return [
        Everything(
            name=f"name {SECRET}",
            line=f"got {SECRET} and token=abcdef123 and ghp_a1b2c3d4e5f6g7h8i9j0k1l2m3n4",
            count=7,
            ratio=0.5,
            ok=True,
            nothing=None,
            level=Level.HIGH,
            code=Code.ONE,
            flag=Flag(3),
            tail=("a", f"password: {SECRET}"),
            info={"key": [SECRET, 1, None, {"k": f"Bearer {SECRET}xyz"}]},  # keys are kept: not secrets
            inner=Inner(f"x{SECRET}y", 2),
            path=Path(f"/tmp/{SECRET}"),
            state=(f"tuple {SECRET}",),
            extra=[Inner(SECRET, 1)],
        ),
        Renamed(line=f"token={SECRET}"),
        Single(line=f"x {SECRET}"),
        Empty(),
        ServerLog(name="s", stream="stderr", line=f"retry with token=abc123def {SECRET}"),
        ServerStateChanged(name=SECRET, state="ready", previous="starting", pid=12, detail=f"d {SECRET}"),
        ServerExited(name="s", code=1, signal=None, expected=False, stderr_tail=("a", f"token={SECRET}")),
    ]


@pytest.mark.parametrize("redacting", [True, False])
def test_records_equal_the_plain_then_redact_fields_path(redacting: bool) -> None:
    redactor = Redactor([SECRET]) if redacting else None
    for event in events():
        got, want = record_from_event(event, redactor), reference_record(event, redactor)
        assert got == want, type(event).__name__
        assert type(got) is Record
        assert [type(v) for v in got.fields.values()] == [type(v) for v in want.fields.values()]


def test_secrets_leave_every_non_identifier_field() -> None:
    record = record_from_event(events()[0], Redactor([SECRET]))
    text = json.dumps({k: v for k, v in record.fields.items() if k not in ("name", "state")}, default=str)
    assert SECRET not in text and PLACEHOLDER in text
    assert record.fields["name"] == f"name {SECRET}"  # identifiers are kept, as before
    assert record_from_event(Renamed(line="x"), None).name == "CustomKind"


def test_a_redactor_subclass_that_redacts_values_its_own_way_is_used() -> None:
    class Shouting(Redactor):
        def redact_value(self, value: Any) -> Any:
            return "<gone>"

    assert not Shouting.standard_fields and Redactor.standard_fields
    record = record_from_event(ServerLog(name="s", stream="stderr", line="hello there"), Shouting())
    assert record.fields == {"name": "s", "stream": "stderr", "line": "<gone>"}


def reference_patterns(text: str) -> str:
    """``redact_patterns`` without the byte-table shortcut."""
    if len(text) < 7:
        return text
    low = text.lower()
    if any(word in low for word in redact_module._TRIGGER_WORDS):
        text = redact_module._redact_announced(text, low)
    return redact_module._RUN.sub(redact_module._run_repl, text)


def test_the_run_table_marks_exactly_the_run_characters() -> None:
    one_char = re.compile(r"[A-Za-z0-9+/_.=~-]")
    for b in range(256):
        assert redact_module._RUN_TABLE[b] == (1 if b < 128 and one_char.fullmatch(chr(b)) else 0), b
    # Every character outside ASCII encodes to bytes >= 128 only, surrogates included.
    for cp in (0x80, 0xE9, 0x130, 0x212A, 0xD800, 0xDFFF, 0xFF21, 0x1F600, 0x10FFFF):
        assert min(chr(cp).encode("utf-8", "surrogatepass")) >= 128


@pytest.mark.parametrize(
    "text",
    [
        "INFO request 42 served in 3 ms from cache",
        "blob Y2xpZW50OnNlY3JldC1rZXktdGhhdC1pcy1sb25nLWVub3VnaDEy==",
        "x" * 13 + " " + "y" * 13,
        "x" * 14,
        "slack xoxb-1234567890 end",  # the shortest shape: a run of 15
        "ünïcode ghp_a1b2c3d4e5f6g7h8i9j0k1l2m3n4 é",
        "surrogate \udc80 sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
        "Ｆｕｌｌｗｉｄｔｈ３ｆ２ａ９ｃ１ｅ５ｂ７ｄ４ａ６ｆ８ｅ０ｃ２ｂ４ｄ６ｆ８ａ０ｃ２ｅ",
        "kelvin \u212aey=abcdef123456 İstanbul token=abcdef",
    ],
)
def test_pattern_pass_matches_the_plain_regex_pass(text: str) -> None:
    assert redact_module.redact_patterns(text) == reference_patterns(text)


_ALPHABET = st.sampled_from(
    [*"aZ09+/_.=~- \t:;\"'", "ghp_", "sk-", "token=", "Bearer ", "é", "İ", "\u212a", "\udc80", "Ｆ", "3f2a9c1e"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_pattern_pass_matches_the_plain_regex_pass_on_any_text(text: str) -> None:
    assert redact_module.redact_patterns(text) == reference_patterns(text)


def test_push_reads_the_clock_only_to_start_an_interval_and_says_when_to_wake() -> None:
    reads: list[float] = []

    def clock() -> float:
        reads.append(1.0)
        return 10.0 + len(reads)

    b = Batcher(BatchLimits(batch_size=3, interval=5.0, max_queue=4))
    rec = Record("ServerLog", 0.0, {})
    assert b.push(rec, clock) is True  # started an interval
    assert b.next_due() == 11.0 + 5.0 and len(reads) == 1
    assert [b.push(rec, clock), b.push(rec, clock)] == [False, True]  # a batch became due by size
    assert b.push(rec, clock) is False and len(reads) == 1
    assert b.push(rec, clock) is False and b.pending_dropped == {"queue_full": 1} and len(b) == 4
    assert b.accepted == 5


def test_batch_lines_are_what_json_dumps_writes() -> None:
    records = (
        Record("ServerLog", 1.5, {"line": 'é\n"quoted" \u2028', "n": [1, None, True, 2.5]}),
        Record("Odd", float("nan"), {"path": Path("/x"), "inf": float("inf"), "nested": {"k": ["v"]}}),
        Record('Quo"ted\u00e9\n', -0.0, MappingProxyType({"a": 1})),
        Record("ServerLog", 3, {}),  # an int ts (emit takes what it is given)
        Record("ServerLog", 1e300, {"big": 10**30}),
        Record("ServerLog", float("-inf"), {}),
    )
    batch = Batch(7, records, {"queue_full": 3, "shutdown": 1})
    want = "".join(
        json.dumps({"seq": 7, "name": r.name, "ts": r.ts, "fields": r.fields}, ensure_ascii=False,
                   separators=(",", ":"), default=str) + "\n"
        for r in (*batch.drop_records(2.0), *records)
    )  # fmt: skip
    assert batch_lines(batch, now=2.0) == want.encode("utf-8")
    assert batch_lines(Batch(8, records), now=2.0).count(b"\n") == len(records)


def test_the_generic_recorder_gives_the_same_records() -> None:
    redactor = Redactor([SECRET])
    for event in events():
        names = [n for n in _field_names(type(event)) if n != "ts"]
        for r in (redactor, None):
            assert _generic_recorder(names, r is not None)(event, r) == reference_record(event, r)
