"""Where batches go: the editor (LSP ``telemetry/event``) and a rotating JSONL file.

A sink only delivers one batch; isolation (timeouts, error counting, per-sink backlog) is
the pipeline's job. Blocking sinks run on a private daemon thread each, so a hung disk or
network write stalls neither the event loop, nor the other sinks, nor the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

from mcp_marshal.telemetry.record import Batch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock, appends still whole
    fcntl = None  # type: ignore[assignment]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 3


class Sink:
    """Base of every sink. ``timeout`` bounds one delivery; ``enabled`` may change at runtime
    (e.g. the editor's telemetry opt-in); a disabled sink's batches are counted as skipped."""

    name: str = "sink"
    timeout: float = 5.0
    enabled: bool = True

    async def deliver(self, batch: Batch) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release resources; called once, after the last delivery."""


class LspSink(Sink):
    """One ``telemetry/event`` notification per batch, through an injected ``send(params)``.

    ``send`` is called on the event loop (pygls notifications are not thread-safe); it may
    return an awaitable. Enable it only when the editor opted in (``initializationOptions``).
    """

    name = "lsp"

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Awaitable[object] | object],
        *,
        enabled: bool = True,
        timeout: float = 2.0,
    ) -> None:
        self._send = send
        self.enabled = enabled
        self.timeout = timeout

    async def deliver(self, batch: Batch) -> None:
        result = self._send(batch.to_dict())
        if inspect.isawaitable(result):
            await result


class _Lane:
    """A daemon thread running one sink's blocking calls in order.

    A job cancelled before it starts is skipped, so a hung call does not pile up work behind it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"telemetry-{self._name}", daemon=True)
            self._thread.start()
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fut, fn, args))
        return fut

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fut, fn, args = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:
                fut.set_exception(exc)

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)


class ThreadedSink(Sink):
    """A sink whose ``write``/``close`` block; they run on the sink's own thread."""

    def __init__(self) -> None:
        self._lane = _Lane(self.name)

    def write(self, batch: Batch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Blocking close; runs on the sink's thread after every pending write."""

    async def deliver(self, batch: Batch) -> None:
        await asyncio.wrap_future(self._lane.submit(self.write, batch))

    async def aclose(self) -> None:
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._lane.submit(self.close)), self.timeout)
        finally:
            self._lane.stop()


# One encoder for every line: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def batch_lines(batch: Batch, now: float | None = None) -> bytes:
    """The JSONL form of a batch: drops first (as ``TelemetryDropped`` lines), then records."""
    seq = batch.seq
    records = (
        (*batch.drop_records(time.time() if now is None else now), *batch.records) if batch.dropped else batch.records
    )
    text = "".join(_encode({"seq": seq, "name": r.name, "ts": r.ts, "fields": r.fields}) + "\n" for r in records)
    # A lone surrogate can only stand inside a JSON string, where its escape (\udc80) is valid JSON.
    return text.encode("utf-8", "backslashreplace")


class JsonlFileSink(ThreadedSink):
    """Appends each batch as JSON lines to ``path``, rotating by size (``path.1`` … ``path.N``).

    Several processes (editor windows, the CLI) may share one workspace file: a batch is one
    ``write`` under an advisory lock, and a writer that finds the file rotated reopens it.
    """

    name = "file"

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.timeout = timeout
        self._fd: int | None = None
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self) -> Generator[None, None, None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            yield
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _open(self) -> int:
        if self._fd is not None:
            try:
                if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                    return self._fd
            except FileNotFoundError:
                pass
            os.close(self._fd)  # rotated or removed by someone else: follow the name
            self._fd = None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def write(self, batch: Batch) -> None:
        data = batch_lines(batch)
        with self._locked():
            fd = self._open()
            size = os.fstat(fd).st_size
            if size > 0 and size + len(data) > self.max_bytes:
                self._rotate()
                fd = self._open()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
