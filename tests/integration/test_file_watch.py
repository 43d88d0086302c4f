"""The workspace file's watch: atomic saves, and a folder replaced while it is watched."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from mcp_marshal.file_watch import watch_file


class Seen:
    """What the file held at each ``on_change`` call (None: it was not there)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def on_change(self) -> None:
        await self.queue.put(self.path.read_text() if self.path.exists() else None)

    async def until(self, text: str, timeout: float = 10) -> list[str | None]:
        """Everything seen up to and including ``text``."""
        got: list[str | None] = []
        async with asyncio.timeout(timeout):
            while text not in got:
                got.append(await self.queue.get())
        return got


async def test_atomic_saves_and_a_replaced_folder_are_followed(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    path = folder / "a.code-workspace"
    path.write_text("1")
    seen = Seen(path)
    armed = asyncio.Event()
    task = asyncio.create_task(watch_file(path, seen.on_change, armed))
    try:
        await armed.wait()
        tmp = folder / ".a.tmp"
        tmp.write_text("2")
        os.replace(tmp, path)  # an editor's rename-over save
        await seen.until("2")

        folder.rename(tmp_path / "old")  # the checkout is moved away and made again
        folder.mkdir()
        path.write_text("3")
        await seen.until("3")
        (tmp_path / "old" / "a.code-workspace").write_text("old")  # the moved copy is not ours any more
        path.write_text("4")
        assert "old" not in await seen.until("4")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
