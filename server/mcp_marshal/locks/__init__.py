"""Task leases (DESIGN §8): locks with a TTL, renewal and fencing tokens.

``open_store(settings, workspace_file)`` gives a synchronous ``LeaseStore`` (sqlite default,
redis for teams, memory); ``LeaseService`` wraps one for asyncio callers and publishes
``Lease*`` events. A resource guarded by a lease rejects writers with ``check(task, token)``.
Every shell reads a user's TTL with ``parse_ttl_ms``.
"""

from mcp_marshal.locks.lease import (
    Clock,
    Lease,
    LeaseKey,
    LeaseRef,
    LeaseStore,
    LockStoreUnavailable,
    LogEntry,
)
from mcp_marshal.locks.liveness import UnknownProcess
from mcp_marshal.locks.rules import renew_interval
from mcp_marshal.locks.service import LeaseService
from mcp_marshal.locks.store import default_db_path, open_store
from mcp_marshal.locks.ttl import MAX_TTL_MS, InvalidTtl, parse_ttl_ms

__all__ = [
    "MAX_TTL_MS",
    "Clock",
    "InvalidTtl",
    "Lease",
    "LeaseKey",
    "LeaseRef",
    "LeaseService",
    "LeaseStore",
    "LockStoreUnavailable",
    "LogEntry",
    "UnknownProcess",
    "default_db_path",
    "open_store",
    "parse_ttl_ms",
    "renew_interval",
]
