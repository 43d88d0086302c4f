"""Crashes: a restart the supervisor handles is a line in the log, no toast; a server out of
restarts asks Restart / Show Logs."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import FAKE, PY, fake, open_session, wait_states, wait_until, workspace_text
from tests.support import pid_alive


def crash_while(flag: Path) -> dict[str, object]:
    """A fake server that exits with code 3 at start for as long as ``flag`` exists."""
    code = (
        "import os, runpy, sys\n"
        f"if os.path.exists({str(flag)!r}):\n"
        "    print('broken: flag present', file=sys.stderr); sys.exit(3)\n"
        f"runpy.run_path({FAKE!r}, run_name='__main__')\n"
    )
    return {"command": PY, "args": ["-c", code]}


async def test_kill_restart_and_failed_prompts(client: LanguageClient, tmp_path: Path) -> None:
    flag = tmp_path / "broken"
    flag.touch()

    def answer(params: types.ShowMessageRequestParams) -> str | None:
        if params.message.startswith("MCP server 'loop' failed"):
            flag.unlink()  # the user fixed the cause, then clicks Restart
            return "Restart"
        if params.message.startswith("MCP server 'doomed' failed"):
            return "Show Logs"
        return None

    client.rec.answer = answer  # type: ignore[attr-defined]
    ws = tmp_path / "crash.code-workspace"
    ws.write_text(
        workspace_text(
            {
                "steady": fake(),
                "loop": crash_while(flag),
                "doomed": fake(FAKE_CRASH_AT_START=1, FAKE_EXIT_CODE=7),
            },
            restart={"maxRestarts": 2, "initialDelayMs": 50, "maxDelayMs": 100, "resetAfterMs": 60000},
        )
    )
    await open_session(client, ws)
    listed = await wait_states(client, {"steady": "ready"})

    # a crash that will be retried: a line in the log (no toast), then ready again with a new pid
    old_pid = listed["steady"]["pid"]
    os.kill(old_pid, signal.SIGKILL)
    logged = await wait_until(
        lambda: [m for m in client.log_messages if m.message.startswith("MCP: steady: killed")], "the restart line"
    )
    assert re.fullmatch(r"MCP: steady: killed by SIGKILL; restarting in \d+ ms \(1/2\)", logged[0].message)
    listed = await wait_states(client, {"steady": "ready"})
    assert listed["steady"]["pid"] != old_pid and pid_alive(listed["steady"]["pid"])
    assert not [m for m in client.messages if "steady" in m.message], "a handled restart raised a toast"

    # crash loops end in an Error prompt with Restart / Show Logs
    await wait_until(lambda: len(client.rec.prompts) >= 2, "two failure prompts")  # type: ignore[attr-defined]
    prompts = {p.message.split("'")[1]: p for p in client.rec.prompts}  # type: ignore[attr-defined]
    assert prompts["doomed"].type == types.MessageType.Error
    assert [a.title for a in prompts["doomed"].actions or []] == ["Restart", "Show Logs"]
    assert "exited (code 7)" in prompts["doomed"].message

    # "Restart" brought the fixed server back
    listed = await wait_states(client, {"loop": "ready", "doomed": "failed"})
    assert pid_alive(listed["loop"]["pid"])
    # "Show Logs" put the failed server's stderr in the log
    await wait_until(
        lambda: any("[doomed] last" in m.message and "crashing at start" in m.message for m in client.log_messages),
        "the doomed server's logs",
    )
