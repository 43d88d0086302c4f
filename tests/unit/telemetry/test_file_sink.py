"""The JSONL file sink: one line per record, size-based rotation, following external rotation."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mcp_marshal.telemetry import Batch, JsonlFileSink, Record
from mcp_marshal.telemetry.sinks import batch_lines


def batch(seq: int, n: int, dropped: dict[str, int] | None = None) -> Batch:
    records = tuple(Record("ServerLog", 1.5, {"i": seq * 1000 + i, "line": "é" * 20}) for i in range(n))
    return Batch(seq, records, dropped or {})


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


async def test_lines_carry_drops_first_then_records(tmp_path: Path) -> None:
    sink = JsonlFileSink(tmp_path / "sub" / "t.jsonl")
    await sink.deliver(batch(1, 2, {"queue_full": 7}))
    await sink.aclose()
    got = read(tmp_path / "sub" / "t.jsonl")
    assert [(x["seq"], x["name"]) for x in got] == [(1, "TelemetryDropped"), (1, "ServerLog"), (1, "ServerLog")]
    assert got[0]["fields"] == {"count": 7, "reason": "queue_full"}
    assert got[1]["fields"]["line"] == "é" * 20 and got[1]["ts"] == 1.5
    assert oct((tmp_path / "sub" / "t.jsonl").stat().st_mode & 0o777) == "0o600"


async def test_rotation_keeps_n_backups_each_under_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    sink = JsonlFileSink(path, max_bytes=4000, backups=2)
    for seq in range(1, 41):
        await sink.deliver(batch(seq, 5))
    await sink.aclose()
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert files == ["t.jsonl", "t.jsonl.1", "t.jsonl.2"]
    kept = [x for name in ("t.jsonl.2", "t.jsonl.1", "t.jsonl") for x in read(tmp_path / name)]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 4000
    ids = [x["fields"]["i"] for x in kept]
    assert ids == sorted(ids) and ids[-1] == 40 * 1000 + 4  # newest kept, in order, whole batches
    assert len(ids) % 5 == 0


async def test_writer_follows_a_file_rotated_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    sink = JsonlFileSink(path)
    await sink.deliver(batch(1, 1))
    os.replace(path, tmp_path / "elsewhere.jsonl")  # e.g. a second window rotated it
    await sink.deliver(batch(2, 1))
    await sink.aclose()
    assert [x["seq"] for x in read(path)] == [2]
    assert [x["seq"] for x in read(tmp_path / "elsewhere.jsonl")] == [1]


def test_each_line_is_one_json_record_with_its_batch_number() -> None:
    records = (
        Record("ServerLog", 1.5, {"line": 'é\n"quoted" \u2028', "n": [1, None, True, 2.5]}),
        Record("Odd", 2.0, {"path": Path("/x"), "nested": {"k": ["v"]}}),  # not JSON-ready: str()
        Record("ServerReady", 3, {"server_info": {"name": "lone \udc80 surrogate"}}),
    )
    lines = batch_lines(Batch(7, records, {"queue_full": 3, "shutdown": 1}), now=2.0).splitlines()
    got = [json.loads(line) for line in lines]  # each line valid JSON (and UTF-8) on its own
    assert [(x["seq"], x["name"]) for x in got] == [
        (7, "TelemetryDropped"),
        (7, "TelemetryDropped"),
        (7, "ServerLog"),
        (7, "Odd"),
        (7, "ServerReady"),
    ]
    assert [x["fields"] for x in got[:2]] == [{"count": 3, "reason": "queue_full"}, {"count": 1, "reason": "shutdown"}]
    assert got[0]["ts"] == 2.0 and got[2]["ts"] == 1.5
    assert got[2]["fields"] == {"line": 'é\n"quoted" \u2028', "n": [1, None, True, 2.5]}
    assert got[3]["fields"] == {"path": "/x", "nested": {"k": ["v"]}}
    assert got[4]["fields"]["server_info"]["name"] == "lone \udc80 surrogate"  # escaped, not lost
    assert "é".encode() in lines[2]  # text stays readable in the file
    assert batch_lines(Batch(8, records)).count(b"\n") == len(records)
