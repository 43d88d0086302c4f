"""Composition root of the language server: builds it, wires each feature, runs the I/O loop.

Handlers only dispatch. Heavy modules (the config loader, the orchestrator, mcp, watchfiles)
are imported after ``initialize`` has been answered, so the editor gets its reply fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcException
from pygls.lsp.server import LanguageServer

from mcp_marshal import __version__
from mcp_marshal.lsp.options import Options, read_options

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession

log = logging.getLogger(__name__)


class MarshalServer(LanguageServer):
    """pygls server plus the one workspace session it supervises (``None`` when idle)."""

    def __init__(self) -> None:
        super().__init__("mcp-marshal", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.options = Options()
        self.session: WorkspaceSession | None = None
        self.folders: list[Path] = []
        self.client_pid: int | None = None
        self.notes: list[str] = []

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log errors instead of pygls' "Error in server" pop-up; a failed request already
        carries its error in the response, so only out-of-band errors are logged."""
        if source is FeatureRequestError:
            return
        log.error("%s: %s", getattr(source, "__name__", source), error)
        with contextlib.suppress(Exception):  # the client is gone
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Error, message=f"mcp-marshal: {self.redact(str(error))}")
            )

    def redact(self, text: str) -> str:
        """Text we did not write, through the workspace's secrets; unchanged while none is open."""
        return self.session.redactor.redact(text) if self.session is not None else text

    async def open_workspace(self) -> None:
        """After ``initialized``: find the workspace file and open its session, or stay idle and say so."""
        from mcp_marshal.config import WorkspaceNotFound, find_workspace_file
        from mcp_marshal.lsp.session import WorkspaceSession

        for note in self.notes:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=f"MCP: {note}"))
        file = self.options.workspace_file
        if file is None:
            if not self.folders:
                return self._idle("no workspace folder is open")
            try:
                file = find_workspace_file(self.folders[0]).resolve()
            except WorkspaceNotFound as exc:
                return self._idle(str(exc))
        self.session = WorkspaceSession(self, file, self.options, client_pid=self.client_pid)
        await self.session.open()

    def _idle(self, why: str) -> None:
        message = f"MCP Marshal is idle: {why}."
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=message))

    async def close_session(self, *, client_gone: bool = False) -> None:
        if self.session is not None:
            await self.session.close(client_gone=client_gone)


def build_server() -> MarshalServer:
    server = MarshalServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: MarshalServer, params: types.InitializeParams) -> None:
        ls.options, ls.notes = read_options(params.initialization_options)
        ls.folders = _folders(params)
        ls.client_pid = params.process_id  # the editor: leases taken from it live as long as it does

    @server.feature(types.INITIALIZED)
    async def initialized(ls: MarshalServer, params: types.InitializedParams) -> None:
        await ls.open_workspace()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: MarshalServer, params: None) -> None:
        await ls.close_session()  # before the reply: DESIGN §4, no server outlives the editor

    @server.feature(types.EXIT)
    async def exit_(ls: MarshalServer, params: None) -> None:
        await ls.close_session()  # exit without shutdown (a crashed client)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: MarshalServer, params: types.DidOpenTextDocumentParams) -> None:
        _validate(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: MarshalServer, params: types.DidChangeTextDocumentParams) -> None:
        _validate(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: MarshalServer, params: types.DidCloseTextDocumentParams) -> None:
        if (session := _session_of(ls, params.text_document.uri)) is not None:
            session.validate_disk()

    from mcp_marshal.lsp.commands import register_all

    register_all(server)
    return server


def _folders(params: types.InitializeParams) -> list[Path]:
    from pygls.uris import to_fs_path

    uris = [f.uri for f in params.workspace_folders or []] or [params.root_uri or ""]
    paths = [to_fs_path(uri) for uri in uris if uri]
    if not paths and params.root_path:
        paths = [params.root_path]
    return [Path(p) for p in paths if p]


def _session_of(ls: MarshalServer, uri: str) -> WorkspaceSession | None:
    """The session, when ``uri`` is the workspace file it supervises."""
    from pygls.uris import to_fs_path

    if ls.session is None:
        return None
    path = to_fs_path(uri)
    return ls.session if path is not None and Path(path).resolve() == ls.session.file else None


def _validate(ls: MarshalServer, uri: str) -> None:
    if (session := _session_of(ls, uri)) is not None:
        session.validate_buffer(ls.workspace.get_text_document(uri).source)


def _drop_expected_errors(record: logging.LogRecord) -> bool:
    """pygls logs a traceback for every error response; a user's bad argument is not a bug."""
    return not (record.exc_info and isinstance(record.exc_info[1], JsonRpcException))


def run(tcp: str | None = None) -> int:
    """``mcp-marshal lsp``: serve on stdio (or one TCP connection) until the client goes away.

    Whatever ends the connection (``exit``, stdin EOF, SIGTERM), every server is stopped first.
    """
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="mcp-marshal: %(message)s")
    for handler in logging.getLogger().handlers:  # handler filters also see records of child loggers
        handler.addFilter(_drop_expected_errors)
    server = build_server()
    code = 0
    try:
        asyncio.run(_serve(server, tcp))
    except SystemExit as exc:  # pygls' `exit` handler; servers were stopped before it
        code = int(exc.code or 0)
    except KeyboardInterrupt:
        code = 130
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # pygls closes stdout on `exit`
            stream.flush()
    # A reader thread may still block on an open stdin after `exit`: leave without joining it.
    os._exit(code)


async def _serve(server: MarshalServer, tcp: str | None) -> None:
    from threading import Event

    from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async

    loop = asyncio.get_running_loop()
    server._stop_event = stop = Event()
    if tcp:
        reader, writer = await _accept_one(tcp)
        server.protocol.set_writer(writer)  # type: ignore[arg-type]
    else:
        reader = StdinAsyncReader(sys.stdin.buffer, server.thread_pool)  # type: ignore[assignment]
        server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    conversation = asyncio.ensure_future(
        run_async(
            stop_event=stop,
            reader=reader,
            protocol=server.protocol,
            logger=log,
            error_handler=server.report_server_error,
        )  # type: ignore[arg-type]
    )
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, conversation.cancel)
    try:
        await asyncio.wait({conversation})
    finally:
        await server.close_session(client_gone=True)  # stdin EOF or a signal: the editor is gone
        stop.set()


async def _accept_one(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, _, port = address.rpartition(":")
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.get_running_loop().create_future()
    )

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not accepted.done():
            accepted.set_result((reader, writer))

    listener = await asyncio.start_server(on_connect, host or "127.0.0.1", int(port))
    bound_host, bound_port = listener.sockets[0].getsockname()[:2]  # port 0 picks a free one
    print(f"mcp-marshal: listening on {bound_host}:{bound_port}", file=sys.stderr, flush=True)
    try:
        return await accepted
    finally:
        listener.close()
