"""The Neovim configuration in the README, run for real in a headless Neovim (if installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lsp.conftest import SERVER_ENV, fake, workspace_text
from tests.support import pid_alive

README = Path(__file__).parents[2] / "README.md"
NVIM = shutil.which("nvim")

SCRIPT = """
package.path = "{lua_dir}/?.lua;" .. package.path
local mcp = require("mcp_marshal")
mcp.setup({{ cmd = {{ "{python}", "-m", "mcp_marshal", "lsp" }}, trusted = true }})
vim.api.nvim_create_autocmd("VimEnter", {{ callback = function()
  vim.cmd("edit {workspace}")
  local ok = vim.wait(30000, function() return mcp.states.a == "ready" and mcp.states.b == "ready" end, 20)
  local done = false
  mcp.command("listServers", {{}}, function(result)
    vim.fn.writefile({{ vim.fn.json_encode({{ ok = ok, result = result }}) }}, "{out}")
    done = true
  end)
  vim.wait(10000, function() return done end, 20)
  vim.cmd("qa!")
end }})
"""


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed")
def test_documented_neovim_config_starts_server_and_runs_a_command(tmp_path: Path) -> None:
    section = README.read_text().split("## Neovim", 1)[1]
    lua = re.search(r"```lua\n(.*?)```", section, re.S)
    assert lua is not None
    (tmp_path / "mcp_marshal.lua").write_text(lua.group(1))
    ws = tmp_path / "n.code-workspace"
    ws.write_text(workspace_text({"a": fake(), "b": {**fake(), "dependsOn": ["a"]}}))
    out = tmp_path / "out.json"
    init = tmp_path / "init.lua"
    init.write_text(SCRIPT.format(lua_dir=tmp_path, python=sys.executable, workspace=ws, out=out))
    subprocess.run(
        [NVIM, "--headless", "-n", "-i", "NONE", "-u", str(init)],
        cwd=tmp_path,
        env=SERVER_ENV,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    report = json.loads(out.read_text())
    assert report["ok"] is True
    listed = {s["name"]: s for s in report["result"]["servers"]}
    assert {n: s["state"] for n, s in listed.items()} == {"a": "ready", "b": "ready"}
    assert report["result"]["workspaceFile"] == str(ws)
    # Neovim does not wait for its language servers to exit; ours stops its servers right after
    deadline = time.monotonic() + 15
    while any(pid_alive(s["pid"]) for s in listed.values()):
        assert time.monotonic() < deadline, "servers outlived Neovim by 15 s"
        time.sleep(0.05)  # polling a condition
