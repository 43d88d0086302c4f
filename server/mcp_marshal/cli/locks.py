"""``mcp-marshal lock ...``: task leases from the shell (a thin shell over ``mcp_marshal.locks``).

Exit codes: 0 done; 1 refused (held by another, not your lease); 2 bad usage or workspace;
69 the store is unreachable or unusable (EX_UNAVAILABLE); 75 ``lock run`` found the task held
(EX_TEMPFAIL); otherwise ``lock run`` exits with its command's code. Whatever the store holds
(task and owner names, its own description) is printed literally, see ``cli.show``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_marshal.cli.lease_access import (
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CommandFailed,
    console,
    describe,
    emit,
    error,
    literal,
    name,
    not_acquired,
    open_for,
    ttl_of,
    when,
)
from mcp_marshal.errors import UserError
from mcp_marshal.locks import (
    MAX_TTL_MS,
    LeaseRef,
    LockStoreUnavailable,
    parse_ttl_ms,
)
from mcp_marshal.locks.liveness import holder_pid


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

    ttl_help = f"lease lifetime, 1 to {MAX_TTL_MS} (7 days); default mcpMarshal.locks.defaultTtlMs"
    p = cmd("acquire", "take a lease on TASK (exit 1 when another owner holds it)", _acquire)
    _task_owner(p)
    p.add_argument("--ttl", metavar="MS", help=ttl_help)

    p = cmd("renew", "extend your lease on TASK", _renew)
    _task_owner(p, token=True)
    p.add_argument("--ttl", metavar="MS", help="new lifetime from now; " + ttl_help)

    p = cmd("release", "give up your lease on TASK", _release)
    _task_owner(p, token=True)

    p = cmd("check", "exit 0 iff TOKEN is still the newest token of TASK (for fenced writers)", _check)
    p.add_argument("task", type=name, metavar="TASK")
    p.add_argument("--token", type=int, required=True, metavar="N")

    cmd("list", "show the leases currently held", _list)
    p = cmd("watch", "stream lease events until Ctrl-C", _watch)
    p.add_argument("--interval", type=float, default=0.2, metavar="S", help=argparse.SUPPRESS)

    p = cmd("run", "hold TASK while COMMAND runs; exit 75 at once if it is held", _run)
    p.add_argument("--owner", type=name, metavar="O", help="who holds the lease (required)")
    p.add_argument("--ttl", metavar="MS", help="lease lifetime, renewed every TTL/3; " + ttl_help)
    # argparse cannot split "TASK --owner O -- COMMAND..." under nested subparsers: take the
    # rest verbatim and parse the part before "--" in _run.
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="TASK [--owner O] [--ttl MS] -- COMMAND...")
    p.set_defaults(store_parser=store)


def _task_owner(p: argparse.ArgumentParser, token: bool = False) -> None:
    p.add_argument("task", type=name, metavar="TASK")
    p.add_argument("--owner", type=name, required=True, metavar="O", help="who holds the lease (an agent name)")
    if token:
        p.add_argument("--token", type=int, required=True, metavar="N", help="the lease's fencing token")


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except CommandFailed as exc:
            error(args, str(exc))
            return exc.code
        except UserError as exc:
            error(args, exc.message)
            return EXIT_USAGE
        except LockStoreUnavailable as exc:
            error(args, str(exc))
            return EXIT_UNAVAILABLE

    return guarded


def _answer(args: argparse.Namespace, ok: bool, data: dict[str, Any], yes: str, no: str) -> int:
    """Emit the outcome of a yes/no command (``yes``/``no`` plain text); exit 0 or ``EXIT_REFUSED``."""
    emit(args, data, literal(yes) if ok else f"[yellow]{literal(no)}[/yellow]")
    return 0 if ok else EXIT_REFUSED


# --- commands ------------------------------------------------------------------------------


def _acquire(args: argparse.Namespace) -> int:
    parse_ttl_ms(args.ttl)  # a bad --ttl is refused before any store is opened
    store, settings = open_for(args)
    with contextlib.closing(store):
        lease = store.acquire(args.task, args.owner, ttl_of(args, settings))
        if lease is None:
            not_acquired(args, store, "not acquired", args.task)
            return EXIT_REFUSED
        emit(args, {"acquired": True, "lease": lease.to_dict()}, describe(lease))
        return 0


def _renew(args: argparse.Namespace) -> int:
    parse_ttl_ms(args.ttl)
    store, settings = open_for(args)
    with contextlib.closing(store):
        lease = store.renew(LeaseRef(args.task, args.owner, args.token), ttl_of(args, settings))
        if lease is None:
            msg = f"not renewed: {args.owner} does not hold {args.task} with token {args.token} (expired or taken)"
            emit(args, {"renewed": False, "task": args.task}, f"[yellow]{literal(msg)}[/yellow]")
            return EXIT_REFUSED
        emit(args, {"renewed": True, "lease": lease.to_dict()}, describe(lease))
        return 0


def _release(args: argparse.Namespace) -> int:
    store, _ = open_for(args)
    with contextlib.closing(store):
        ok = store.release(LeaseRef(args.task, args.owner, args.token))
        no = f"not released: {args.owner} does not hold it"
        return _answer(args, ok, {"released": ok, "task": args.task}, f"released {args.task}", no)


def _check(args: argparse.Namespace) -> int:
    store, _ = open_for(args)
    with contextlib.closing(store):
        ok = store.check(args.task, args.token)
        data = {"current": ok, "task": args.task, "token": args.token}
        return _answer(args, ok, data, f"token {args.token} is current", f"token {args.token} is stale")


def _list(args: argparse.Namespace) -> int:
    store, _ = open_for(args)
    with contextlib.closing(store):
        leases = store.list()
    if args.json:
        print(json.dumps({"leases": [lease.to_dict() for lease in leases]}), flush=True)
        return 0
    from rich.table import Table

    table = Table("task", "owner", "token", "acquired", "expires", "bound to", title=literal(store.describe()))
    for lease in leases:
        table.add_row(
            literal(lease.task),
            literal(lease.owner),
            str(lease.token),
            when(lease.acquired_at),
            when(lease.expires_at),
            _bound_to(lease.holder),
        )
    console().print(table if leases else "no leases held")
    return 0


def _bound_to(holder: str | None) -> str:
    if holder is None:
        return ""
    pid = holder_pid(holder)
    return f"pid {pid}" if pid is not None else "a process"


def _watch(args: argparse.Namespace) -> int:
    from mcp_marshal.events import Event, EventBus
    from mcp_marshal.locks import LeaseService

    store, _ = open_for(args)
    out = None if args.json else console()

    def show(event: Event) -> None:
        data = event.to_dict()
        if out is None:
            print(json.dumps(data), flush=True)
        else:
            kind = event.kind.removeprefix("Lease").lower()
            task, owner = literal(data["task"]), literal(data["owner"])
            out.print(f"{when(event.ts)} {kind:<9} {task}  {owner}  token {data['token']}")

    async def watch() -> None:
        bus = EventBus()
        service = LeaseService(store, bus, poll_interval_s=args.interval, bind_pid=None)
        bus.subscribe(show)
        await service.start()
        held = await service.list()
        emit(
            args,
            {"watching": store.describe(), "leases": [lease.to_dict() for lease in held]},
            f"watching {literal(store.describe())} ({len(held)} held); Ctrl-C to stop",
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


def _run(args: argparse.Namespace) -> int:
    from mcp_marshal.cli.lock_run import run

    return run(args)
