"""``mcp-marshal telemetry tail``: read the workspace's telemetry JSONL file, optionally live.

Record text is shown literally: pretty output goes through rich ``Text`` objects, never markup,
so ``[/]`` or ``[link=…]`` in a server's stderr print as written, and every character that a
terminal would act on or hide is shown as an escape (``cli.show.plain``). ``--follow`` keeps
reading across rotations (``telemetry.jsonl`` → ``.1``).
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
from typing import IO, TYPE_CHECKING

from mcp_marshal.cli.show import plain
from mcp_marshal.errors import UserError

if TYPE_CHECKING:
    from rich.text import Text

POLL_SECONDS = 0.2
_STYLE = {"ERROR": "bold red", "WARN": "yellow", "INFO": "cyan"}


def json_escaped(line: str) -> str:
    """A stored JSON line with every character ``plain`` would escape written as a JSON escape
    instead (``\\u001b``): the same JSON, nothing a terminal acts on. A tab stays, since it
    may separate tokens."""
    if plain(line) == line:
        return line
    return "".join(c if c == "\t" or plain(c) == c else json.dumps(c)[1:-1] for c in line)


_Subparsers = argparse._SubParsersAction  # pyright: ignore[reportPrivateUsage]  # argparse names it nowhere else


def add_parsers(sub: _Subparsers[argparse.ArgumentParser]) -> None:
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
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if callable(reconfigure):  # a character the terminal's encoding lacks is shown as its escape
        reconfigure(errors="backslashreplace")
    try:
        path = resolve_file(args.file, args.workspace)
    except (UserError, ValueError) as exc:  # WorkspaceNotFound and friends: said in the user's terms
        print(f"mcp-marshal: {plain(exc)}", file=sys.stderr)
        return 2
    show = _json_printer(sys.stdout) if args.json else _pretty_printer()
    if not path.exists() and not args.follow:
        print(f"mcp-marshal: no telemetry yet: {plain(path)} does not exist", file=sys.stderr)
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
    encoding = getattr(out, "encoding", None) or "utf-8"

    def show(lines: Iterable[bytes]) -> None:
        for line in lines:
            # As stored, but what a terminal acts on or cannot encode as JSON escapes: the same JSON.
            text = json_escaped(line.decode("utf-8", "replace").rstrip("\n"))
            try:
                text.encode(encoding)
            except UnicodeEncodeError:
                text = "".join(c if c.isascii() else json.dumps(c)[1:-1] for c in text)
            out.write(text + "\n")
        out.flush()

    return show


def _pretty_printer() -> Callable[[Iterable[bytes]], None]:
    from mcp_marshal.cli.show import console as make_console

    console = make_console()

    def show(lines: Iterable[bytes]) -> None:
        for line in lines:
            console.print(format_line(line))
        console.file.flush()

    return show


def format_line(line: bytes) -> Text:
    """One record as a rich ``Text``: time, name (coloured by severity), server, fields; all of
    it literal (no markup), with hidden characters shown as escapes."""
    from rich.text import Text

    from mcp_marshal.telemetry.record import severity

    try:
        rec = json.loads(line)
        name, fields = str(rec["name"]), dict(rec.get("fields") or {})
        when = datetime.fromtimestamp(float(rec["ts"])).strftime("%H:%M:%S.%f")[:-3]
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, OSError):
        shown = plain(line.decode("utf-8", "replace").rstrip("\n"))
        return Text(f"(unreadable) {shown}", style="dim")
    style = _STYLE[severity(name, fields)]
    text = Text()
    text.append(when, style="dim")
    text.append("  ")
    text.append(f"{plain(name):<18}", style=style)
    server = fields.pop("name", None)
    if server is not None:
        text.append(f" {plain(str(server))}", style="bold")
    if name == "ServerLog":
        text.append(f" [{plain(str(fields.pop('stream', 'stderr')))}] ", style="dim")
        text.append(plain(str(fields.pop("line", ""))))
    for key, value in fields.items():
        if value in (None, "", [], {}):
            continue
        shown = plain(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        text.append(f" {plain(str(key))}=", style="dim")
        text.append(shown if len(shown) <= 300 else shown[:299] + "…")
    return text
