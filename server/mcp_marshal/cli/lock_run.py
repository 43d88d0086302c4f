"""``mcp-marshal lock run TASK --owner O -- COMMAND...``: hold a lease exactly while COMMAND runs.

The lease is bound to this process, and COMMAND runs under the supervisor's lifeline (a
session of its own, ``PR_SET_PDEATHSIG``, a watchdog that kills its process group), so after
``kill -9`` of ``lock run`` the command dies with it and the task is free at once: nothing
goes on working under a token that is no longer held. For the same reason, whatever COMMAND
leaves in its process group when it exits is ended before the lease is released.

COMMAND has no terminal of its own (its session is new): the signals ``lock run`` gets,
Ctrl-C's SIGINT among them, are passed to COMMAND's process group.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess

from mcp_marshal.cli.lease_access import (
    EXIT_HELD,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CommandFailed,
    name,
    not_acquired,
    open_for,
    ttl_of,
    warn,
)
from mcp_marshal.locks import Lease, LeaseStore, LockStoreUnavailable, parse_ttl_ms, renew_interval
from mcp_marshal.supervise.lifeline import Lifeline
from mcp_marshal.supervise.reaper import wait_groups_gone

TOKEN_ENV = "MCP_MARSHAL_FENCING_TOKEN"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TERM_GRACE_S = 2.0  # what COMMAND leaves behind gets SIGTERM, then SIGKILL after this
_SH = "/bin/sh"
_GATE = 'read -r _ <&3 || exit 125; exec 3<&-; exec "$@"'
"""The gate: wait for the parent's word on fd 3 (EOF: it died), close fd 3, become COMMAND."""
USAGE = "usage: mcp-marshal lock run TASK --owner O [--ttl MS] -- COMMAND..."


def split_run_args(args: argparse.Namespace) -> list[str]:
    """Parse ``TASK [options] -- COMMAND...`` from ``args.rest`` into ``args``; return COMMAND."""
    rest = list(args.rest)
    if "--" in rest:
        cut = rest.index("--")
        head, command = rest[:cut], rest[cut + 1 :]
    else:
        head, command = rest[:1], rest[1:]
    parser = argparse.ArgumentParser(prog="mcp-marshal lock run", parents=[args.store_parser], add_help=False)
    parser.add_argument("task", type=name, metavar="TASK")
    parser.add_argument("--owner", type=name, metavar="O")
    parser.add_argument("--ttl", metavar="MS")
    # Values already parsed before TASK stay unless given again here.
    kept = ("owner", "ttl", "workspace", "db", "redis", "backend", "json")
    parser.set_defaults(**{dest: getattr(args, dest) for dest in kept})
    try:
        parser.parse_args(head, namespace=args)
    except SystemExit:
        raise CommandFailed(EXIT_USAGE, USAGE) from None
    if not args.owner:
        raise CommandFailed(EXIT_USAGE, "lock run needs --owner O")
    if not command:
        raise CommandFailed(EXIT_USAGE, "lock run needs a command after --")
    return command


def run(args: argparse.Namespace) -> int:
    command = split_run_args(args)
    parse_ttl_ms(args.ttl)  # a bad --ttl is refused before any store is opened
    store, settings = open_for(args)
    ttl = ttl_of(args, settings)
    with contextlib.closing(store):
        lease = store.acquire(args.task, args.owner, ttl, bind_pid=0)
        if lease is None:
            not_acquired(args, store, "not running", f"{args.task} is held")
            return EXIT_HELD
        try:
            return asyncio.run(_hold(args, store, lease, ttl, command))
        finally:
            _release(store, lease)


async def _hold(args: argparse.Namespace, store: LeaseStore, lease: Lease, ttl: int, command: list[str]) -> int:
    """Run ``command`` under a lifeline with the token in its environment, renewing every TTL/3,
    until it and its process group are gone; its exit code."""
    lifeline = Lifeline()
    try:
        await lifeline.start()
    except (OSError, RuntimeError) as exc:
        where = getattr(exc, "filename", None) or lifeline.ledger_dir
        reason = getattr(exc, "strerror", None) or str(exc)
        message = f"cannot guard {command[0]} with a lifeline in {where}: {reason}"
        raise CommandFailed(EXIT_UNAVAILABLE, message) from None
    if lifeline.degraded is not None:  # the watchdog and PDEATHSIG still guard it; say what is lost
        warn(f"{lifeline.degraded}; {command[0]} still dies with lock run")
    loop = asyncio.get_running_loop()
    group: list[int] = []  # COMMAND's pgid once it runs
    early: list[signal.Signals] = []  # signals that came before it did

    def forward(sig: signal.Signals) -> None:
        if group:
            _signal_group(group[0], sig)
        else:
            early.append(sig)

    for sig in FORWARDED:
        loop.add_signal_handler(sig, forward, sig)
    try:
        env = {**os.environ, TOKEN_ENV: str(lease.token), "MCP_MARSHAL_LEASE_TASK": lease.task}
        env["MCP_MARSHAL_LEASE_OWNER"] = lease.owner
        proc = _spawn_gated(command, env, lifeline)
        group.append(proc.pid)
        for sig in early:
            _signal_group(proc.pid, sig)
        try:
            code = await _renew_until_exit(proc, store, lease, ttl)
        finally:
            await _end_group(proc)
            lifeline.unregister(proc.pid)
    finally:
        for sig in FORWARDED:
            loop.remove_signal_handler(sig)
        await lifeline.close()
    return code if code >= 0 else 128 - code


async def _renew_until_exit(proc: subprocess.Popen[bytes], store: LeaseStore, lease: Lease, ttl: int) -> int:
    exited = asyncio.ensure_future(asyncio.to_thread(proc.wait))
    held = True
    while True:
        done, _ = await asyncio.wait({exited}, timeout=renew_interval(ttl))
        if done:
            return exited.result()
        if not held:
            continue
        try:
            renewed = await asyncio.to_thread(store.renew, lease, ttl)
        except LockStoreUnavailable as exc:
            warn(f"cannot renew {lease.task}: {exc}")
            continue
        if renewed is None:
            held = False
            warn(f"lease on {lease.task} lost (expired); token {lease.token} is now stale", severe=True)
        else:
            lease = renewed


def _spawn_gated(command: list[str], env: dict[str, str], lifeline: Lifeline) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own group, registered with ``lifeline`` before it runs at all.

    A shell waits on a pipe (fd 3) until the group is registered, then execs COMMAND in place
    (same pid, same group): a ``kill -9`` in the first instants can then leave no child of
    COMMAND that the watchdog does not know of. If we die first, the shell reads EOF and exits.
    """
    if shutil.which(command[0], path=env.get("PATH")) is None:
        code = 126 if os.path.exists(command[0]) else 127
        reason = "not executable" if code == 126 else "no such command"
        raise CommandFailed(code, f"cannot run {command[0]}: {reason}")
    placeholders = _occupy_fd3()
    gate_r, gate_w = os.pipe()
    kwargs = lifeline.spawn_kwargs()
    deathsig = kwargs.pop("preexec_fn", None)

    def preexec() -> None:
        os.dup2(gate_r, 3)
        if deathsig is not None:
            deathsig()

    try:
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # pyright: ignore[reportAssignmentType]  # kwargs hold no text=
            [_SH, "-c", _GATE, "mcp-marshal lock run", *command], env=env, pass_fds=(3,), preexec_fn=preexec, **kwargs
        )
    finally:
        for fd in (gate_r, *placeholders):
            os.close(fd)
    try:
        lifeline.register(proc.pid)
        os.write(gate_w, b"go\n")
    finally:
        os.close(gate_w)
    return proc


def _occupy_fd3() -> list[int]:
    """Fill fds up to 3 while spawning, so none of Popen's own pipes is the fd 3 the gate takes."""
    held: list[int] = []
    while True:
        try:
            os.fstat(3)
            return held
        except OSError:
            held.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """Once COMMAND has exited (or if waiting for it failed), end what is left of its group."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
    _signal_group(proc.pid, signal.SIGTERM)
    if await asyncio.to_thread(wait_groups_gone, [proc.pid], TERM_GRACE_S):
        _signal_group(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(wait_groups_gone, [proc.pid], TERM_GRACE_S)


def _release(store: LeaseStore, lease: Lease) -> None:
    try:
        store.release(lease)
    except LockStoreUnavailable as exc:
        warn(f"cannot release {lease.task}: {exc}")
