"""``mcp-marshal telemetry tail``: read the workspace's telemetry JSONL file, optionally live.

Pretty output goes through rich ``Text`` objects, never markup, so brackets in a server's stderr
print as written. ``--follow`` keeps reading across rotations (``telemetry.jsonl`` → ``.1``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

POLL_SECONDS = 0.2
_STYLE = {"ERROR": "bold red", "WARN": "yellow", "INFO": "cyan"}


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``telemetry tail`` on the ``mcp-marshal`` parser."""
    telemetry = sub.add_parser("telemetry", help="inspect the telemetry the supervisor recorded")
    actions = telemetry.add_subparsers(dest="telemetry_command", required=True, metavar="ACTION")
    tail = actions.add_parser("tail", help="print the last telemetry records (JSONL file)")
    source = tail.add_mutually_exclusive_group()
    source.add_argument("--file", type=Path, help="a telemetry JSONL file")
    source.add_argument(
        "--workspace", type=Path, help="a .code-workspace file or its folder (default: the current folder)"
    )
    tail.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="records shown first (default 20)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing records as they arrive")
    tail.add_argument("--json", action="store_true", help="print the JSON lines as stored")
    tail.set_defaults(run=run_tail)


def resolve_file(file: Path | None, workspace: Path | None) -> Path:
    """The file to read: ``--file``, else the workspace's ``mcpMarshal.telemetry.file`` or default."""
    if file is not None:
        return file
    from mcp_marshal.config import find_workspace_file, load_workspace
    from mcp_marshal.telemetry.workspace import telemetry_file

    ws = workspace or Path.cwd()
    if ws.is_dir():
        ws = find_workspace_file(ws)
    setting = None
    loaded = load_workspace(ws)
    if loaded.config is not None:
        setting = loaded.config.telemetry.file
    return telemetry_file(ws, setting)


def run_tail(args: argparse.Namespace) -> int:
    try:
        path = resolve_file(args.file, args.workspace)
    except ValueError as exc:  # WorkspaceNotFound and friends: a user error, said in their terms
        print(f"mcp-marshal: {exc}", file=sys.stderr)
        return 2
    show = _json_printer(sys.stdout) if args.json else _pretty_printer()
    if not path.exists() and not args.follow:
        print(f"mcp-marshal: no telemetry yet: {path} does not exist", file=sys.stderr)
        return 1
    position = 0
    if path.exists():
        with path.open("rb") as f:
            show(deque(f, maxlen=max(args.lines, 0)))  # reads to the end even for -n 0
            position = f.tell()
    if args.follow:
        for lines in follow(path, position):
            show(lines)
    return 0


def follow(path: Path, position: int = 0, poll: float = POLL_SECONDS) -> Iterator[list[bytes]]:
    """Yield complete new lines of ``path`` forever, from ``position``; after a rotation, the
    rest of the old file first, then the new file from its start."""
    f: IO[bytes] | None = None
    partial = b""
    try:
        while True:
            if f is None:
                try:
                    f = path.open("rb")
                except FileNotFoundError:
                    time.sleep(poll)
                    continue
                f.seek(min(position, os.fstat(f.fileno()).st_size))
            chunk = f.read()
            if chunk:
                data = partial + chunk
                *complete, partial = data.split(b"\n")
                if complete:
                    yield [line + b"\n" for line in complete]
                continue
            try:
                st = os.stat(path)
                rotated = st.st_ino != os.fstat(f.fileno()).st_ino or st.st_size < f.tell()
            except FileNotFoundError:
                rotated = False  # mid-rotation: keep the old file until the new name appears
            if rotated:
                f.close()
                f, position, partial = None, 0, b""
                continue
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()


def _json_printer(out: IO[str]) -> Callable[[Iterable[bytes]], None]:
    def show(lines: Iterable[bytes]) -> None:
        for line in lines:
            out.write(line.decode("utf-8", "replace"))
        out.flush()

    return show


def _pretty_printer() -> Callable[[Iterable[bytes]], None]:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)

    def show(lines: Iterable[bytes]) -> None:
        for line in lines:
            console.print(format_line(line))
        console.file.flush()

    return show


def format_line(line: bytes) -> Any:
    """One record as a rich ``Text``: time, name (coloured by severity), server, fields."""
    from rich.text import Text

    from mcp_marshal.telemetry.record import severity

    try:
        rec = json.loads(line)
        name, fields = str(rec["name"]), dict(rec.get("fields") or {})
        when = datetime.fromtimestamp(float(rec["ts"])).strftime("%H:%M:%S.%f")[:-3]
    except (ValueError, KeyError, TypeError):
        return Text(f"(unreadable) {line.decode('utf-8', 'replace').rstrip()}", style="dim")
    style = _STYLE[severity(name, fields)]
    text = Text()
    text.append(when, style="dim")
    text.append("  ")
    text.append(f"{name:<18}", style=style)
    server = fields.pop("name", None)
    if server is not None:
        text.append(f" {server}", style="bold")
    if name == "ServerLog":
        text.append(f" [{fields.pop('stream', 'stderr')}] ", style="dim")
        text.append(str(fields.pop("line", "")))
    for key, value in fields.items():
        if value in (None, "", [], {}):
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text.append(f" {key}=", style="dim")
        text.append(shown if len(shown) <= 300 else shown[:299] + "…")
    return text
