"""``mcp-marshal telemetry tail``: pretty and raw output, workspace lookup, follow across rotation."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from mcp_marshal.cli import main
from mcp_marshal.telemetry import Batch, JsonlFileSink, Record, telemetry_file


def batch(seq: int, *lines: str) -> Batch:
    return Batch(
        seq, tuple(Record("ServerLog", 1.7e9, {"name": "files", "stream": "stderr", "line": x}) for x in lines)
    )


async def write(path: Path, *batches: Batch, max_bytes: int = 10 * 1024 * 1024) -> None:
    sink = JsonlFileSink(path, max_bytes=max_bytes)
    for b in batches:
        await sink.deliver(b)
    await sink.aclose()


async def test_tail_pretty_prints_without_interpreting_markup(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "t.jsonl"
    await write(path, batch(1, "[bold]literal[/bold]", "second"))
    failed = Record("ServerFailed", 1.7e9, {"name": "files", "reason": "spawn failed", "stderr_tail": ["x"]})
    await write(path, Batch(2, (failed,), {"queue_full": 5}))
    with path.open("a") as f:
        f.write("not json\n")
    assert main(["telemetry", "tail", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ServerLog" in out and "files [stderr] [bold]literal[/bold]" in out
    assert "ServerFailed" in out and "reason=spawn failed" in out and 'stderr_tail=["x"]' in out
    assert "TelemetryDropped" in out and "count=5 reason=queue_full" in out
    assert "(unreadable) not json" in out


async def test_tail_json_prints_the_last_n_lines_as_stored(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "t.jsonl"
    await write(path, batch(1, "a", "b", "c"))
    assert main(["telemetry", "tail", "--file", str(path), "--json", "-n", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["fields"]["line"] for x in out] == ["b", "c"]


async def test_tail_finds_the_workspace_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("MCP_MARSHAL_STATE_DIR", str(tmp_path / "state"))
    ws = tmp_path / "demo.code-workspace"
    ws.write_text('{"folders": [{"path": "."}], "settings": {}}')
    await write(telemetry_file(ws), batch(1, "from the state dir"))
    monkeypatch.chdir(tmp_path)
    assert main(["telemetry", "tail", "--json"]) == 0
    assert "from the state dir" in capsys.readouterr().out
    # mcpMarshal.telemetry.file, relative to the workspace file
    ws.write_text('{"settings": {"mcpMarshal.telemetry": {"file": "logs/t.jsonl"}}}')
    await write(tmp_path / "logs" / "t.jsonl", batch(1, "from the setting"))
    assert main(["telemetry", "tail", "--json", "--workspace", str(ws)]) == 0
    assert "from the setting" in capsys.readouterr().out
    # user errors are said plainly, with a non-zero status
    assert main(["telemetry", "tail", "--workspace", str(tmp_path / "logs")]) == 2
    assert main(["telemetry", "tail", "--file", str(tmp_path / "missing.jsonl")]) == 1
    assert "no telemetry yet" in capsys.readouterr().err


async def test_follow_prints_new_records_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    await write(path, batch(1, "before"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_marshal",
        "telemetry",
        "tail",
        "--follow",
        "--json",
        "-n",
        "1",
        "--file",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None

    async def next_line() -> str:
        async with asyncio.timeout(20):
            return json.loads(await proc.stdout.readline())["fields"]["line"]

    try:
        assert await next_line() == "before"  # it has the file open: what follows is new
        await write(path, batch(2, "appended"))
        assert await next_line() == "appended"
        await write(path, batch(3, "x" * 400), max_bytes=300)  # forces a rotation first
        assert (tmp_path / "t.jsonl.1").exists()
        assert await next_line() == "x" * 400
        await write(path, batch(4, "after rotation"))
        assert await next_line() == "after rotation"
    finally:
        proc.terminate()
        await proc.wait()


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


async def test_follow_with_no_history_prints_only_new_records(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    await write(path, batch(1, "old 1", "old 2"))
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mcp_marshal", "telemetry", "tail", "--follow", "--json", "-n", "0", "--file"),
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):  # the follower has the file open: what is written next is new
            while not _has_open(proc.pid, path):
                await asyncio.sleep(0.02)
        await write(path, batch(2, "new"))
        async with asyncio.timeout(20):
            assert json.loads(await proc.stdout.readline())["fields"]["line"] == "new"
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
@pytest.mark.parametrize("as_json", [False, True])
async def test_tail_prints_hostile_text_literally_in_any_encoding(tmp_path: Path, encoding: str, as_json: bool) -> None:
    """Markup, escape sequences, C1 controls, bidi overrides and lone surrogates from a server
    reach the terminal as visible text, whatever it can encode; ``--json`` stays valid JSON."""
    path = tmp_path / "t.jsonl"
    hostile = "[/] [link=https://e]x[/link] \x1b[2J\x1b]0;title\x07 \x9b1m \u202eevil é \udc80"
    await write(path, batch(1, hostile), Batch(2, (Record("ServerReady", 1.7e9, {"name": hostile}),)))
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mcp_marshal", "telemetry", "tail", "--file", str(path)),
        *(["--json"] if as_json else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert err == b""
    for control in (b"\x1b", b"\x07", "\x9b".encode(), "\u202e".encode(), b"\xed\xb2\x80"):
        assert control not in out
    lines = out.decode(encoding).splitlines()
    assert len(lines) == 2
    if as_json:
        assert [json.loads(x)["fields"]["line" if i == 0 else "name"] for i, x in enumerate(lines)] == [hostile] * 2
    else:
        shown = "[/] [link=https://e]x[/link] \\x1b[2J\\x1b]0;title\\x07 \\x9b1m \\u202eevil "
        assert all(shown in x for x in lines)
        assert all(x.endswith(("é \\udc80", "\\xe9 \\udc80")) for x in lines)
