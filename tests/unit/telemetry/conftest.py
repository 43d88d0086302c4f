"""Shared helpers for telemetry tests: capturing sinks and awaiting conditions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from mcp_marshal.telemetry import Batch, Sink, ThreadedSink


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Await ``condition`` (checked each loop turn) with a generous deadline."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


class Capture:
    """An LSP ``send`` that keeps every payload."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any]) -> None:
        self.payloads.append(params)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for p in self.payloads for r in p["records"]]

    def dropped(self) -> int:
        return sum(sum(p["dropped"].values()) for p in self.payloads)


class RaisingSink(Sink):
    name = "raising"

    async def deliver(self, batch: Batch) -> None:
        raise OSError("disk on fire")


class HangingSink(Sink):
    """Awaits forever (a stuck network peer on the loop)."""

    name = "hanging"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    async def deliver(self, batch: Batch) -> None:
        await asyncio.Event().wait()


class BlockedThreadSink(ThreadedSink):
    """Blocks its thread until released (a hung NFS write)."""

    name = "blocked"

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        self.release = threading.Event()
        self.written: list[int] = []
        self.told_dropped: dict[str, int] = {}

    def write(self, batch: Batch) -> None:
        self.release.wait()
        self.written.append(batch.seq)
        for reason, count in batch.dropped.items():
            self.told_dropped[reason] = self.told_dropped.get(reason, 0) + count


@pytest.fixture
def capture() -> Capture:
    return Capture()
