"""The link of one server life: a spawned process with the MCP client on its pipes (stdio), or
an MCP session with a remote server (http, sse). The runner drives both the same way.

A link owns what it opens (the stdout reader task, the remote session) and gives it up in
``detach``; the process itself is reaped by its ``Child``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from mcp_marshal.config.models import ServerSpec, StopPolicy
from mcp_marshal.supervise.child import Child, ExitStatus
from mcp_marshal.supervise.mcp_http import HttpCheckError, HttpSession, in_thread
from mcp_marshal.supervise.mcp_stdio import ConnectionClosed, Handshake, McpStdio, RpcError

#: What a failed handshake or health check raises, whatever the transport.
LINK_ERRORS = (TimeoutError, RpcError, ConnectionClosed, HttpCheckError, OSError)


class Link(Protocol):
    """What the runner needs of a life, whatever the transport."""

    @property
    def restartable(self) -> bool:
        """A process of ours: found unhealthy, it is killed and started again."""
        ...

    @property
    def pid(self) -> int | None: ...

    @property
    def ended(self) -> bool:
        """The life ended by itself (the process exited)."""
        ...

    async def handshake(self, timeout: float) -> Handshake: ...
    async def ping(self, timeout: float) -> None: ...

    async def ends_within(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (forever with None); True if the life ended meanwhile."""
        ...

    def why_ended(self, exc: BaseException | None) -> str:
        """A user's sentence for how the life ended (``exc``: what the handshake raised)."""
        ...

    async def settle(self, timeout: float) -> None:
        """Give a process that broke the handshake a moment to exit, so its exit is the reason."""
        ...

    async def kill(self, policy: StopPolicy) -> None:
        """End a life we gave up on (a hung server reads no stdin: from SIGTERM on)."""
        ...

    async def stop(self, policy: StopPolicy) -> ExitStatus | None:
        """The orderly stop sequence; the exit status of a process, None for a remote server."""
        ...

    def detach(self) -> None:
        """Stop reading; never blocks (runs on cancellation)."""
        ...

    async def finished(self) -> ExitStatus | None:
        """Wait for the end of the life (the process reaped) and release what it held."""
        ...


class StdioLink:
    """A spawned server and the MCP client on its stdin/stdout."""

    restartable = True

    def __init__(self, child: Child, on_noise: Callable[[str], None], offers: dict[str, Any] | None = None) -> None:
        self.child = child
        self.offers = offers or {}
        """Client capabilities to declare (what the gateway can route: sampling, roots...)."""
        self.conn = McpStdio(child.stdout, child.stdin, on_noise=on_noise)
        self._reader = asyncio.create_task(self.conn.read_loop(), name=f"stdout-{child.pid}")
        self._exited: asyncio.Future[ExitStatus] = asyncio.ensure_future(child.wait())

    @property
    def pid(self) -> int | None:
        return self.child.pid

    @property
    def ended(self) -> bool:
        return self.child.exit_status is not None

    async def handshake(self, timeout: float) -> Handshake:
        return await self.conn.handshake(timeout, self.offers)

    async def ping(self, timeout: float) -> None:
        await self.conn.ping(timeout)

    async def ends_within(self, timeout: float | None) -> bool:
        done, _ = await asyncio.wait({self._exited}, timeout=timeout)
        return bool(done)

    def why_ended(self, exc: BaseException | None) -> str:
        status = self.child.exit_status
        if status is not None:
            return status.describe()
        if isinstance(exc, RpcError):
            return f"handshake refused: {exc}"
        return f"handshake failed: {exc}" if exc else "stopped unexpectedly"

    async def settle(self, timeout: float) -> None:
        """Give a process that broke the handshake a moment to exit, so its exit is the reason."""
        if not self.ended:
            await self.ends_within(timeout)

    async def kill(self, policy: StopPolicy) -> None:
        await self.child.stop(StopPolicy(stdin_grace_ms=0, term_grace_ms=policy.term_grace_ms))

    async def stop(self, policy: StopPolicy) -> ExitStatus | None:
        self.detach()
        status = await self.child.stop(policy)
        await self.finished()
        return status

    def detach(self) -> None:
        self._reader.cancel()

    async def finished(self) -> ExitStatus | None:
        self.detach()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        status = await self.child.wait()
        self._exited.cancel()
        self.child.release()
        return status


class HttpLink:
    """A kept MCP session with a remote server; it never ends by itself."""

    restartable = False
    pid = None
    ended = False

    def __init__(self, spec: ServerSpec) -> None:
        assert spec.url is not None
        self.session = HttpSession(spec.type, spec.url, spec.headers)

    async def handshake(self, timeout: float) -> Handshake:
        hs: Handshake = await in_thread(self.session, "open", timeout)
        return hs

    async def ping(self, timeout: float) -> None:
        await in_thread(self.session, "ping", timeout)

    async def ends_within(self, timeout: float | None) -> bool:
        if timeout is None:
            await asyncio.Event().wait()  # no health checks: supervised until stopped
        await asyncio.sleep(timeout or 0)
        return False

    def why_ended(self, exc: BaseException | None) -> str:
        return str(exc) if exc else "stopped unexpectedly"

    async def settle(self, timeout: float) -> None:
        return None

    async def kill(self, policy: StopPolicy) -> None:
        await self.stop(policy)

    async def stop(self, policy: StopPolicy) -> ExitStatus | None:
        with contextlib.suppress(HttpCheckError, TimeoutError):
            await in_thread(self.session, "close", max(policy.term_grace_ms / 1000, 1.0))
        return None

    def detach(self) -> None:
        return None

    async def finished(self) -> ExitStatus | None:
        return None
