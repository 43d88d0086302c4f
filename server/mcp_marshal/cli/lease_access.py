"""What every ``mcp-marshal lock`` command shares (``lock run`` too): exit codes, opening the
store a command names, the TTL it asks for, and printing what a store holds literally."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from mcp_marshal.cli.show import literal, plain
from mcp_marshal.config.models import LocksSettings
from mcp_marshal.locks import MAX_TTL_MS, InvalidTtl, Lease, LeaseStore, open_store, parse_ttl_ms
from mcp_marshal.locks.ttl import check_ttl

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_HELD = 75


class CommandFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def name(text: str) -> str:
    """An argparse type for TASK and OWNER: text a store can hold (bytes that are not UTF-8
    reach Python as lone surrogates, which neither SQLite nor Redis can encode)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{plain(text)} is not valid UTF-8 text") from None
    return text


# --- store selection -----------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> tuple[LocksSettings, Path | None]:
    if args.redis:
        return LocksSettings(backend="redis", redis_url=args.redis), None
    if args.db:
        return LocksSettings(backend=args.backend or "sqlite"), None
    from mcp_marshal.config.workspace import WorkspaceNotFound, find_workspace_file, load_workspace

    try:
        file = args.workspace or find_workspace_file(Path.cwd())
    except WorkspaceNotFound as exc:
        raise CommandFailed(EXIT_USAGE, f"{exc} (or pass --workspace FILE, --db PATH or --redis URL)") from None
    result = load_workspace(file)
    if result.config is None:
        first = result.errors[0].format() if result.errors else "unreadable"
        raise CommandFailed(EXIT_USAGE, f"cannot read mcpMarshal.locks, the workspace file has problems: {first}")
    return result.config.locks, Path(file)


def open_for(args: argparse.Namespace) -> tuple[LeaseStore, LocksSettings]:
    settings, workspace = _settings(args)
    if args.backend and args.backend != settings.backend:
        settings = settings.model_copy(update={"backend": args.backend})
    return open_store(settings, workspace, db_path=args.db), settings


def ttl_of(args: argparse.Namespace, settings: LocksSettings) -> int:
    """``--ttl``, or the configured default when it is left out (checked before anything is granted)."""
    ttl = parse_ttl_ms(args.ttl)
    if ttl is not None:
        return ttl
    try:
        return check_ttl(settings.default_ttl_ms)
    except InvalidTtl:
        raise CommandFailed(
            EXIT_USAGE,
            f"mcpMarshal.locks.defaultTtlMs is {settings.default_ttl_ms}: it must be from 1 to {MAX_TTL_MS} (7 days)",
        ) from None


# --- output --------------------------------------------------------------------------------


def console(stderr: bool = False) -> Any:
    from mcp_marshal.cli.show import console

    return console(stderr)


def error(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": message}), flush=True)
    else:
        console(stderr=True).print(f"[red]error:[/red] {literal(message)}", soft_wrap=True)


def warn(message: str, *, severe: bool = False) -> None:
    """A warning on stderr; ``message`` is plain text (printed literally)."""
    colour = "red" if severe else "yellow"
    console(stderr=True).print(f"[{colour}]warning:[/{colour}] {literal(message)}", soft_wrap=True)


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(data), flush=True)
    else:
        console().print(text)


def when(ts: float) -> str:
    """A time of day, or a date when it is not today; never fails, whatever a row holds."""
    try:
        moment = dt.datetime.fromtimestamp(ts)
    except (OverflowError, OSError, ValueError):
        return "far future" if ts > 0 else "?"
    return moment.strftime("%H:%M:%S" if moment.date() == dt.date.today() else "%Y-%m-%d %H:%M:%S")


def describe(lease: Lease) -> str:
    left = max(0.0, lease.expires_at - time.time())
    return (
        f"[bold]{literal(lease.task)}[/bold] held by [cyan]{literal(lease.owner)}[/cyan], "
        f"token [bold]{lease.token}[/bold], expires in {duration(left)} ({when(lease.expires_at)})"
    )


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def not_acquired(args: argparse.Namespace, store: LeaseStore, verdict: str, fallback: str) -> None:
    """Say who holds ``args.task`` after a refused grant (``fallback``, plain text, when it was
    freed since)."""
    holder = store.get(args.task)
    emit(
        args,
        {"acquired": False, "task": args.task, "holder": holder.to_dict() if holder else None},
        f"[yellow]{verdict}:[/yellow] {describe(holder) if holder else literal(fallback)}",
    )
