"""``mcp-marshal lock ...``: task leases from the shell (a thin shell over ``mcp_marshal.locks``).

Exit codes: 0 done; 1 refused (held by another, not your lease); 2 bad usage or workspace;
69 the store is unreachable (EX_UNAVAILABLE); 75 ``lock run`` found the task held
(EX_TEMPFAIL); otherwise ``lock run`` exits with its command's code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_marshal.config.models import LocksSettings
from mcp_marshal.locks import Lease, LeaseRef, LeaseStore, LockStoreUnavailable, open_store, renew_interval

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_HELD = 75
TOKEN_ENV = "MCP_MARSHAL_FENCING_TOKEN"


class _Fail(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``lock`` and its subcommands on the ``mcp-marshal`` parser."""
    store = argparse.ArgumentParser(add_help=False)
    g = store.add_argument_group("lease store (default: mcpMarshal.locks of the workspace)")
    g.add_argument("--workspace", type=Path, metavar="FILE", help="the .code-workspace file (default: the one in .)")
    g.add_argument("--db", type=Path, metavar="PATH", help="use this sqlite lease database")
    g.add_argument("--redis", metavar="URL", help="use the Redis at URL (redis://host:port/db)")
    g.add_argument("--backend", choices=["sqlite", "redis", "memory"], help="override the configured backend")
    g.add_argument("--json", action="store_true", help="machine-readable output")

    lock = sub.add_parser("lock", help="task leases: acquire, renew, release, list, watch, run")
    cmds = lock.add_subparsers(dest="lock_command", required=True, metavar="ACTION")

    def cmd(name: str, help: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help, parents=[store], description=help)
        p.set_defaults(run=_guarded(run))
        return p

    p = cmd("acquire", "take a lease on TASK (exit 1 when another owner holds it)", _acquire)
    _task_owner(p)
    p.add_argument("--ttl", type=int, metavar="MS", help="lease lifetime (default: mcpMarshal.locks.defaultTtlMs)")

    p = cmd("renew", "extend your lease on TASK", _renew)
    _task_owner(p, token=True)
    p.add_argument("--ttl", type=int, metavar="MS", help="new lifetime from now")

    p = cmd("release", "give up your lease on TASK", _release)
    _task_owner(p, token=True)

    p = cmd("check", "exit 0 iff TOKEN is still the newest token of TASK (for fenced writers)", _check)
    p.add_argument("task", metavar="TASK")
    p.add_argument("--token", type=int, required=True, metavar="N")

    cmd("list", "show the leases currently held", _list)
    p = cmd("watch", "stream lease events until Ctrl-C", _watch)
    p.add_argument("--interval", type=float, default=0.2, metavar="S", help=argparse.SUPPRESS)

    p = cmd("run", "hold TASK while COMMAND runs; exit 75 at once if it is held", _run)
    p.add_argument("--owner", metavar="O", help="who holds the lease (required)")
    p.add_argument("--ttl", type=int, metavar="MS", help="lease lifetime; renewed every TTL/3")
    # argparse cannot split "TASK --owner O -- COMMAND..." under nested subparsers: take the
    # rest verbatim and parse the part before "--" in _run.
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="TASK [--owner O] [--ttl MS] -- COMMAND...")
    p.set_defaults(store_parser=store)


def _task_owner(p: argparse.ArgumentParser, token: bool = False) -> None:
    p.add_argument("task", metavar="TASK")
    p.add_argument("--owner", required=True, metavar="O", help="who holds the lease (an agent name)")
    if token:
        p.add_argument("--token", type=int, required=True, metavar="N", help="the lease's fencing token")


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _Fail as exc:
            _error(args, str(exc))
            return exc.code
        except LockStoreUnavailable as exc:
            _error(args, str(exc))
            return EXIT_UNAVAILABLE

    return guarded


# --- store selection -----------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> tuple[LocksSettings, Path | None]:
    if args.redis:
        return LocksSettings(backend="redis", redis_url=args.redis), None
    if args.db:
        return LocksSettings(backend=args.backend or "sqlite"), None
    try:
        from mcp_marshal.config.workspace import WorkspaceNotFound, find_workspace_file, load_workspace
    except ImportError:  # the config loader is optional for this shell
        if args.workspace is None:
            raise _Fail(EXIT_USAGE, "no workspace loader available; pass --workspace, --db or --redis") from None
        print("warning: cannot read mcpMarshal.locks here; using the defaults", file=sys.stderr)
        return LocksSettings(), args.workspace
    try:
        file = args.workspace or find_workspace_file(Path.cwd())
    except WorkspaceNotFound as exc:
        raise _Fail(EXIT_USAGE, f"{exc} (or pass --workspace FILE, --db PATH or --redis URL)") from None
    result = load_workspace(file)
    if result.config is None:
        first = result.errors[0].format() if result.errors else "unreadable"
        raise _Fail(EXIT_USAGE, f"cannot read mcpMarshal.locks, the workspace file has problems: {first}")
    return result.config.locks, Path(file)


def _open(args: argparse.Namespace) -> tuple[LeaseStore, LocksSettings]:
    settings, workspace = _settings(args)
    if args.backend and args.backend != settings.backend:
        settings = settings.model_copy(update={"backend": args.backend})
    return open_store(settings, workspace, db_path=args.db), settings


# --- output --------------------------------------------------------------------------------


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _error(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": message}), flush=True)
    else:
        _console(stderr=True).print(f"[red]error:[/red] {message}")


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(data), flush=True)
    else:
        _console().print(text)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _describe(lease: Lease) -> str:
    left = max(0.0, lease.expires_at - time.time())
    return (
        f"[bold]{lease.task}[/bold] held by [cyan]{lease.owner}[/cyan], token [bold]{lease.token}[/bold], "
        f"expires in {left:.0f}s ({_when(lease.expires_at)})"
    )


def _answer(args: argparse.Namespace, ok: bool, data: dict[str, Any], yes: str, no: str) -> int:
    """Emit the outcome of a yes/no command; exit 0 or ``EXIT_REFUSED``."""
    _emit(args, data, yes if ok else f"[yellow]{no}[/yellow]")
    return 0 if ok else EXIT_REFUSED


def _not_acquired(args: argparse.Namespace, store: LeaseStore, verdict: str, fallback: str) -> None:
    """Say who holds ``args.task`` after a refused grant (``fallback`` when it was freed since)."""
    holder = store.get(args.task)
    _emit(
        args,
        {"acquired": False, "task": args.task, "holder": holder.to_dict() if holder else None},
        f"[yellow]{verdict}:[/yellow] {_describe(holder) if holder else fallback}",
    )


# --- commands ------------------------------------------------------------------------------


def _acquire(args: argparse.Namespace) -> int:
    store, settings = _open(args)
    with contextlib.closing(store):
        lease = store.acquire(args.task, args.owner, args.ttl or settings.default_ttl_ms)
        if lease is None:
            _not_acquired(args, store, "not acquired", args.task)
            return EXIT_REFUSED
        _emit(args, {"acquired": True, "lease": lease.to_dict()}, _describe(lease))
        return 0


def _renew(args: argparse.Namespace) -> int:
    store, settings = _open(args)
    with contextlib.closing(store):
        lease = store.renew(LeaseRef(args.task, args.owner, args.token), args.ttl or settings.default_ttl_ms)
        if lease is None:
            msg = f"not renewed: {args.owner} does not hold {args.task} with token {args.token} (expired or taken)"
            _emit(args, {"renewed": False, "task": args.task}, f"[yellow]{msg}[/yellow]")
            return EXIT_REFUSED
        _emit(args, {"renewed": True, "lease": lease.to_dict()}, _describe(lease))
        return 0


def _release(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    with contextlib.closing(store):
        ok = store.release(LeaseRef(args.task, args.owner, args.token))
        no = f"not released: {args.owner} does not hold it"
        return _answer(args, ok, {"released": ok, "task": args.task}, f"released {args.task}", no)


def _check(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    with contextlib.closing(store):
        ok = store.check(args.task, args.token)
        data = {"current": ok, "task": args.task, "token": args.token}
        return _answer(args, ok, data, f"token {args.token} is current", f"token {args.token} is stale")


def _list(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    with contextlib.closing(store):
        leases = store.list()
    if args.json:
        print(json.dumps({"leases": [lease.to_dict() for lease in leases]}), flush=True)
        return 0
    from rich.table import Table

    table = Table("task", "owner", "token", "acquired", "expires", "bound to a process", title=store.describe())
    for lease in leases:
        table.add_row(
            lease.task,
            lease.owner,
            str(lease.token),
            _when(lease.acquired_at),
            _when(lease.expires_at),
            "yes" if lease.holder else "",
        )
    _console().print(table if leases else "no leases held")
    return 0


def _watch(args: argparse.Namespace) -> int:
    from mcp_marshal.events import Event, EventBus
    from mcp_marshal.locks import LeaseService

    store, _ = _open(args)
    console = None if args.json else _console()

    def show(event: Event) -> None:
        data = event.to_dict()
        if console is None:
            print(json.dumps(data), flush=True)
        else:
            kind = event.kind.removeprefix("Lease").lower()
            console.print(f"{_when(event.ts)} {kind:<9} {data['task']}  {data['owner']}  token {data['token']}")

    async def watch() -> None:
        bus = EventBus()
        service = LeaseService(store, bus, poll_interval_s=args.interval, bind_pid=None)
        bus.subscribe(show)
        await service.start()
        held = await service.list()
        _emit(
            args,
            {"watching": store.describe(), "leases": [lease.to_dict() for lease in held]},
            f"watching {store.describe()} ({len(held)} held); Ctrl-C to stop",
        )
        try:
            await asyncio.Event().wait()
        finally:
            await service.aclose()

    try:
        asyncio.run(watch())
    except KeyboardInterrupt:
        pass
    return 0


def _split_run_args(args: argparse.Namespace) -> list[str]:
    """Parse ``TASK [options] -- COMMAND...`` from ``args.rest`` into ``args``; return COMMAND."""
    rest = list(args.rest)
    if "--" in rest:
        cut = rest.index("--")
        head, command = rest[:cut], rest[cut + 1 :]
    else:
        head, command = rest[:1], rest[1:]
    parser = argparse.ArgumentParser(prog="mcp-marshal lock run", parents=[args.store_parser], add_help=False)
    parser.add_argument("task", metavar="TASK")
    parser.add_argument("--owner", metavar="O")
    parser.add_argument("--ttl", type=int, metavar="MS")
    # Values already parsed before TASK stay unless given again here.
    kept = ("owner", "ttl", "workspace", "db", "redis", "backend", "json")
    parser.set_defaults(**{dest: getattr(args, dest) for dest in kept})
    try:
        parser.parse_args(head, namespace=args)
    except SystemExit:
        raise _Fail(EXIT_USAGE, "usage: mcp-marshal lock run TASK --owner O [--ttl MS] -- COMMAND...") from None
    if not args.owner:
        raise _Fail(EXIT_USAGE, "lock run needs --owner O")
    if not command:
        raise _Fail(EXIT_USAGE, "lock run needs a command after --")
    return command


def _run(args: argparse.Namespace) -> int:
    command = _split_run_args(args)
    store, settings = _open(args)
    ttl = args.ttl or settings.default_ttl_ms
    with contextlib.closing(store):
        lease = store.acquire(args.task, args.owner, ttl, bind_pid=0)
        if lease is None:
            _not_acquired(args, store, "not running", f"{args.task} is held")
            return EXIT_HELD
        return _hold_while_running(args, store, lease, ttl, command)


def _hold_while_running(args: argparse.Namespace, store: LeaseStore, lease: Lease, ttl: int, command: list[str]) -> int:
    """Run ``command`` with the token in its environment, renewing every TTL/3; release after."""
    env = {
        **os.environ,
        TOKEN_ENV: str(lease.token),
        "MCP_MARSHAL_LEASE_TASK": lease.task,
        "MCP_MARSHAL_LEASE_OWNER": lease.owner,
    }
    try:
        proc = subprocess.Popen(command, env=env)
    except OSError as exc:
        store.release(lease)
        _error(args, f"cannot run {command[0]}: {exc.strerror or exc}")
        return 127 if isinstance(exc, FileNotFoundError) else 126
    # SIGINT from a terminal reaches the command through the process group; forward the
    # signals that are aimed at this wrapper alone.
    previous = {sig: signal.signal(sig, lambda s, _f: proc.send_signal(s)) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    held = True
    try:
        while True:
            try:
                code = proc.wait(timeout=renew_interval(ttl))
                break
            except subprocess.TimeoutExpired:
                pass
            if not held:
                continue
            try:
                renewed = store.renew(lease, ttl)
            except LockStoreUnavailable as exc:
                _console(stderr=True).print(f"[yellow]warning:[/yellow] cannot renew {lease.task}: {exc}")
                continue
            if renewed is None:
                held = False
                _console(stderr=True).print(
                    f"[red]warning:[/red] lease on {lease.task} lost (expired); token {lease.token} is now stale"
                )
            else:
                lease = renewed
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            try:
                store.release(lease)
            except LockStoreUnavailable as exc:
                _console(stderr=True).print(f"[yellow]warning:[/yellow] cannot release {lease.task}: {exc}")
    return code if code >= 0 else 128 - code
