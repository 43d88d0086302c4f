"""Task leases (DESIGN §8): locks with a TTL, renewal and fencing tokens.

``open_store(settings, workspace_file)`` gives a synchronous ``LeaseStore`` (sqlite default,
redis for teams, memory); ``LeaseService`` wraps one for asyncio callers and publishes
``Lease*`` events. A resource guarded by a lease rejects writers with ``check(task, token)``.
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
from mcp_marshal.locks.rules import renew_interval
from mcp_marshal.locks.service import LeaseService
from mcp_marshal.locks.store import default_db_path, open_store

__all__ = [
    "Clock",
    "Lease",
    "LeaseKey",
    "LeaseRef",
    "LeaseService",
    "LeaseStore",
    "LockStoreUnavailable",
    "LogEntry",
    "default_db_path",
    "open_store",
    "renew_interval",
]
