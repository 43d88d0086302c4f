"""Watches the workspace file for both shells (LSP and CLI), atomic saves included.

The file's folder is watched with a name filter, not the file: an editor's rename-over save
replaces the inode, and a watch on the file itself would go deaf after the first such save.
The folder's parent is watched for the folder itself, so a folder moved away and created again
at the same path (a checkout replaced, a ``git worktree`` re-made) is followed, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)
#: Pause before watching again after the OS watch itself failed (not a synchronisation).
RETRY_S = 0.2


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


async def watch_file(path: Path, on_change: Callable[[], Awaitable[None]], armed: asyncio.Event) -> None:
    """Call ``on_change`` after every batch of changes to ``path``; runs until cancelled.

    ``armed`` is set once the OS watch exists, so a change made after that is never missed
    (changes made while ``on_change`` runs are batched into the next call). When the folder is
    replaced, the new one is watched and ``on_change`` is called once for whatever it holds.
    """
    from watchfiles import awatch

    folder, name = path.parent, path.name
    replaced = False
    while True:
        identity = _identity(folder)
        targets = [str(p) for p in (folder, folder.parent) if p != folder or identity is not None]
        if folder.parent == folder:
            targets = [str(folder)]

        def relevant(_change: object, changed: str, folder: Path = folder) -> bool:
            return changed == str(folder) or (
                os.path.dirname(changed) == str(folder) and os.path.basename(changed) == name
            )

        changes = awatch(*dict.fromkeys(targets), watch_filter=relevant, recursive=False, debounce=50, step=10)
        # The first step of __anext__ creates the OS watch before it blocks in a worker thread.
        pending = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0)
        armed.set()
        try:
            if replaced:  # read what the new folder holds only now, so nothing falls in between
                await _call(on_change, path)
            while True:
                try:
                    batch = await pending
                except Exception:  # the OS watch broke (its folder went away): watch afresh
                    log.debug("watch of %s ended; watching again", folder, exc_info=True)
                    await asyncio.sleep(RETRY_S)
                    break
                replaced = _identity(folder) != identity
                if replaced:
                    break  # watch the folder that is there now
                if any(changed != str(folder) for _change, changed in batch):
                    await _call(on_change, path)
                pending = asyncio.ensure_future(anext(changes))
        finally:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            await changes.aclose()


async def _call(on_change: Callable[[], Awaitable[None]], path: Path) -> None:
    try:
        await on_change()
    except Exception:
        log.exception("reload after a change of %s failed", path)
