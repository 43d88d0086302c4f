"""Lease commands (DESIGN §7): acquire, renew, release and list task locks.

A store that cannot be reached is a ``RequestFailed`` naming it, never a refusal: the outcome
of the call is unknown, so the caller must not read it as "held by someone else".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mcp_marshal.lsp.commands.args import Args, Command, RequestFailed
from mcp_marshal.wire import AcquireLockResult, ListLocksResult, ReleaseLockResult, RenewLockResult
from mcp_marshal.wire import Lease as WireLease

if TYPE_CHECKING:
    from mcp_marshal.locks import Lease, LeaseService
    from mcp_marshal.lsp.session import WorkspaceSession


@contextmanager
def _store_errors(args: Args) -> Iterator[None]:
    from mcp_marshal.locks import LockStoreUnavailable  # imported after initialize, like the core

    try:
        yield
    except LockStoreUnavailable as exc:
        raise RequestFailed(f"{args.command}: {exc}") from None


async def _service(session: WorkspaceSession) -> LeaseService:
    await session.opened.wait()
    return await session.leases.service()


def _lease(lease: Lease | None) -> WireLease | None:
    """A lease as the client sees it; the holder's process stays internal."""
    if lease is None:
        return None
    return WireLease(
        task=lease.task,
        owner=lease.owner,
        token=lease.token,
        acquired_at=lease.acquired_at,
        expires_at=lease.expires_at,
    )


def _ttl(args: Args, index: int) -> int | None:
    ttl = args.integer(index, "TTL_MS")
    if ttl == 0:
        raise args.invalid("TTL_MS must be > 0 (leave it out for mcpMarshal.locks.defaultTtlMs)")
    return ttl


def _token(args: Args, index: int) -> int:
    token = args.integer(index, "TOKEN")
    if token is None:
        raise args.invalid("missing TOKEN")
    return token


async def acquire_lock(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    task, owner, ttl = args.text(0, "TASK"), args.text(1, "OWNER"), _ttl(args, 2)
    args.at_most(3)
    with _store_errors(args):
        service = await _service(session)
        lease = await service.acquire(task, owner, ttl)
        if lease is not None:
            return AcquireLockResult(acquired=True, lease=_lease(lease)).to_dict()
        holder = await service.get(task)
    return AcquireLockResult(acquired=False, holder=_lease(holder)).to_dict()


async def renew_lock(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    task, owner, token, ttl = args.text(0, "TASK"), args.text(1, "OWNER"), _token(args, 2), _ttl(args, 3)
    args.at_most(4)
    with _store_errors(args):
        lease = await (await _service(session)).renew(task, owner, token, ttl)
    return RenewLockResult(renewed=lease is not None, lease=_lease(lease)).to_dict()


async def release_lock(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    task, owner, token = args.text(0, "TASK"), args.text(1, "OWNER"), _token(args, 2)
    args.at_most(3)
    with _store_errors(args):
        released = await (await _service(session)).release(task, owner, token)
    return ReleaseLockResult(released=released).to_dict()


async def list_locks(session: WorkspaceSession, args: Args) -> dict[str, Any]:
    args.at_most(0)
    with _store_errors(args):
        leases = await (await _service(session)).list()
    return ListLocksResult(locks=[w for lease in leases if (w := _lease(lease)) is not None]).to_dict()


COMMANDS: dict[str, Command] = {
    "mcpMarshal.acquireLock": Command("mcpMarshal.acquireLock TASK OWNER [TTL_MS]", acquire_lock),
    "mcpMarshal.renewLock": Command("mcpMarshal.renewLock TASK OWNER TOKEN [TTL_MS]", renew_lock),
    "mcpMarshal.releaseLock": Command("mcpMarshal.releaseLock TASK OWNER TOKEN", release_lock),
    "mcpMarshal.listLocks": Command("mcpMarshal.listLocks", list_locks),
}
