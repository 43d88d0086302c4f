"""Watches the workspace file for both shells (LSP and CLI), atomic saves included.

The parent directory is watched with a name filter, not the file: an editor's rename-over save
replaces the inode, and a watch on the file itself would go deaf after the first such save.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)


async def watch_file(path: Path, on_change: Callable[[], Awaitable[None]], armed: asyncio.Event) -> None:
    """Call ``on_change`` after every batch of changes to ``path``; runs until cancelled.

    ``armed`` is set once the OS watch exists, so a change made after that is never missed
    (changes made while ``on_change`` runs are batched into the next call).
    """
    from watchfiles import awatch

    name = path.name
    changes = awatch(
        path.parent,
        watch_filter=lambda _change, changed: os.path.basename(changed) == name,
        recursive=False,
        debounce=50,
        step=10,
    )
    # The first step of __anext__ creates the OS watch before it blocks in a worker thread.
    pending = asyncio.ensure_future(anext(changes))
    await asyncio.sleep(0)
    armed.set()
    try:
        while True:
            await pending
            try:
                await on_change()
            except Exception:
                log.exception("reload after a change of %s failed", path)
            pending = asyncio.ensure_future(anext(changes))
    finally:
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
        await changes.aclose()
