"""pytest-lsp harness: the real ``mcp-marshal lsp`` process driving real fixture MCP servers.

The ``client`` fixture starts the server process; each test writes its workspace file and calls
:func:`open_session`. Waiting is done on conditions over what the client has received (with
generous timeouts), never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

FIXTURES = Path(__file__).parents[1] / "fixtures"
FAKE = str(FIXTURES / "fake_server.py")
PY = sys.executable
STATE_DIR = tempfile.mkdtemp(prefix="mcp-marshal-lsp-state-")
#: An input only the environment can answer (the client declines it), see test_inputs.
ENV_INPUT = ("MCP_MARSHAL_INPUT_FROM_ENV", "value-from-env")
SERVER_ENV = {**os.environ, "MCP_MARSHAL_STATE_DIR": STATE_DIR, ENV_INPUT[0]: ENV_INPUT[1]}
SERVER_COMMAND = [PY, "-m", "mcp_marshal", "lsp"]
TIMEOUT = 30.0

FAST = {
    "mcpMarshal.restart": {"maxRestarts": 3, "initialDelayMs": 100, "maxDelayMs": 400, "resetAfterMs": 60000},
    "mcpMarshal.health": {"startTimeoutMs": 15000, "pingIntervalMs": 0, "pingTimeoutMs": 2000},
    "mcpMarshal.stop": {"stdinGraceMs": 1000, "termGraceMs": 1000},
}


def fake(**env: Any) -> dict[str, Any]:
    """A stdlib fake MCP server entry; ``env`` holds its FAKE_* switches (see its docstring)."""
    return {"command": PY, "args": [FAKE], "env": {k: str(v) for k, v in env.items()}}


def workspace_text(servers: dict[str, Any], **settings: Any) -> str:
    merged = {**FAST, "mcpMarshal.servers": servers}
    merged.update({f"mcpMarshal.{k}": v for k, v in settings.items()})
    return json.dumps({"folders": [{"path": "."}], "settings": merged}, indent=2) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write as editors do: a temporary file renamed over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Recorder:
    """What the client received beyond pytest-lsp's own lists, and the user's answers."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []
        #: mcpMarshal/lockChanged payloads and telemetry/event batches, in arrival order
        self.locks: list[dict[str, Any]] = []
        self.telemetry: list[dict[str, Any]] = []
        #: mcpMarshal/serverRemoved, serverLog and serverFailed payloads, in arrival order
        self.removed: list[dict[str, Any]] = []
        self.server_logs: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        #: mcpMarshal/gatewayChanged payloads
        self.gateway: list[dict[str, Any]] = []
        self.prompts: list[types.ShowMessageRequestParams] = []
        self.input_requests: list[dict[str, Any]] = []
        #: title to answer each prompt with, chosen by its message; None dismisses it
        self.answer: Callable[[types.ShowMessageRequestParams], str | None] = lambda _p: None
        #: value to answer mcpMarshal/resolveInput with, by input id; None declines
        self.inputs: dict[str, str] = {}


def _plain(value: Any) -> Any:
    """pygls hands custom payloads over as namedtuples: turn them back into JSON values."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record(lsp_client: LanguageClient) -> None:
    """Answer and record what pytest-lsp leaves out: our notifications, prompts, input requests."""
    rec = Recorder()
    lsp_client.rec = rec  # type: ignore[attr-defined]

    @lsp_client.feature("mcpMarshal/serverStateChanged")
    def on_state(ls: LanguageClient, params: Any) -> None:
        rec.states.append(_plain(params))

    @lsp_client.feature("mcpMarshal/lockChanged")
    def on_lock(ls: LanguageClient, params: Any) -> None:
        rec.locks.append(_plain(params))

    @lsp_client.feature("mcpMarshal/serverRemoved")
    def on_removed(ls: LanguageClient, params: Any) -> None:
        rec.removed.append(_plain(params))

    @lsp_client.feature("mcpMarshal/serverLog")
    def on_server_log(ls: LanguageClient, params: Any) -> None:
        rec.server_logs.append(_plain(params))

    @lsp_client.feature("mcpMarshal/serverFailed")
    def on_failed(ls: LanguageClient, params: Any) -> None:
        rec.failed.append(_plain(params))

    @lsp_client.feature("mcpMarshal/gatewayChanged")
    def on_gateway(ls: LanguageClient, params: Any) -> None:
        rec.gateway.append(_plain(params))

    @lsp_client.feature(types.TELEMETRY_EVENT)
    def on_telemetry(ls: LanguageClient, params: Any) -> None:
        rec.telemetry.append(_plain(params))

    @lsp_client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_prompt(ls: LanguageClient, params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        rec.prompts.append(params)
        title = rec.answer(params)
        return types.MessageActionItem(title=title) if title else None

    @lsp_client.feature("mcpMarshal/resolveInput")
    def on_input(ls: LanguageClient, params: Any) -> dict[str, str] | None:
        request = _plain(params)
        rec.input_requests.append(request)
        value = rec.inputs.get(request["id"])
        return {"value": value} if value is not None else None


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND, server_env=SERVER_ENV))
async def client(lsp_client: LanguageClient):
    record(lsp_client)
    yield
    if lsp_client.capabilities is not None:
        await asyncio.wait_for(lsp_client.shutdown_session(), TIMEOUT)


async def open_session(
    client: LanguageClient,
    workspace_file: Path | None,
    *,
    trusted: bool = True,
    root: Path | None = None,
    progress: bool = True,
    telemetry: bool = False,
    process_id: int | None = None,
    **more: Any,
) -> types.InitializeResult:
    """Initialize with these ``initializationOptions`` (``more``: e.g. views=True);
    ``process_id``: the editor's pid we claim (default: this test process's)."""
    options: dict[str, Any] = {"trusted": trusted, "telemetry": telemetry, **more}
    if workspace_file is not None:
        options["workspaceFile"] = workspace_file.as_uri()
    folder = root or (workspace_file.parent if workspace_file else None)
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=progress, show_message=None)
            ),
            root_uri=folder.as_uri() if folder else None,
            workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)] if folder else None,
            initialization_options=options,
            process_id=process_id,
        )
    )


async def wait_until(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Await a condition on received messages; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)  # polling interval of the condition, not a synchronisation
    return result


async def command(client: LanguageClient, name: str, *args: Any) -> Any:
    return await asyncio.wait_for(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=list(args))),
        TIMEOUT,
    )


async def servers(client: LanguageClient) -> dict[str, dict[str, Any]]:
    result = await command(client, "mcpMarshal.listServers")
    return {s["name"]: s for s in result["servers"]}


async def wait_states(client: LanguageClient, want: dict[str, str], timeout: float = TIMEOUT) -> dict[str, Any]:
    """Poll ``listServers`` until every named server is in the wanted state."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        listed = await servers(client)
        if all(name in listed and listed[name]["state"] == state for name, state in want.items()):
            return listed
        if loop.time() > deadline:
            got = {n: s["state"] for n, s in listed.items()}
            raise AssertionError(f"timed out waiting for {want}; servers are {got}")
        await asyncio.sleep(0.05)


async def run_cli(*args: str) -> tuple[int, Any]:
    """``python -m mcp_marshal ARGS --json`` in its own process, sharing the server's state
    directory (and so its lease database); returns the exit code and the parsed JSON line."""
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "mcp_marshal", *args, "--json", env=SERVER_ENV, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    return proc.returncode or 0, json.loads(out.decode().strip().splitlines()[-1])


def messages(client: LanguageClient, kind: types.MessageType | None = None) -> list[str]:
    return [m.message for m in client.messages if kind is None or m.type == kind]


#: A state directory nothing can be created in, not even by root: a path below a regular file.
UNWRITABLE_STATE = "/etc/hostname/state"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, server_env={**SERVER_ENV, "MCP_MARSHAL_STATE_DIR": UNWRITABLE_STATE}
    )
)
async def client_without_state(lsp_client: LanguageClient):
    record(lsp_client)
    yield
    if lsp_client.capabilities is not None:
        await asyncio.wait_for(lsp_client.shutdown_session(), TIMEOUT)
