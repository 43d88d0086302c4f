"""``$/progress`` while the initial start runs: begin, "k/N ready" reports, end."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from types import TracebackType

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from mcp_marshal.events import Event, EventBus, ServerStateChanged

log = logging.getLogger(__name__)
_SETTLED = frozenset({"ready", "failed", "blocked", "stopped"})


class StartProgress:
    """Async context manager around ``start_all``; silent when the client lacks progress support."""

    def __init__(self, ls: LanguageServer, bus: EventBus, names: Iterable[str], title: str) -> None:
        self._ls = ls
        self._bus = bus
        self._names = frozenset(names)
        self._title = title
        self._settled: dict[str, str] = {}
        self._token: str | None = None
        self._unsubscribe = bus.subscribe(self._on_event)

    async def __aenter__(self) -> StartProgress:
        window = self._ls.client_capabilities.window
        if not (window and window.work_done_progress) or not self._names:
            return self
        token = f"mcp-marshal-start-{uuid.uuid4()}"
        try:
            await self._ls.work_done_progress.create_async(token)
        except Exception:  # the client refused the token: start without progress
            log.debug("client refused progress token", exc_info=True)
            return self
        self._token = token
        self._ls.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=self._title, message=self._message(), percentage=0)
        )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._unsubscribe()
        if self._token is not None:
            self._ls.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=self._message()))
            self._token = None

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, ServerStateChanged) or event.name not in self._names:
            return
        if event.state in _SETTLED:
            self._settled[event.name] = event.state
        else:
            self._settled.pop(event.name, None)
        if self._token is not None:
            done = len(self._settled)
            self._ls.work_done_progress.report(
                self._token,
                types.WorkDoneProgressReport(message=self._message(), percentage=int(100 * done / len(self._names))),
            )

    def _message(self) -> str:
        ready = sum(1 for state in self._settled.values() if state == "ready")
        failed = sum(1 for state in self._settled.values() if state != "ready")
        text = f"{ready}/{len(self._names)} ready"
        return f"{text}, {failed} not started" if failed else text
