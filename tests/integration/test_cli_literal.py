"""The real ``mcp-marshal`` prints what a workspace file and its servers say literally: markup
(``[/]``) neither crashes nor styles, an ESC / CR / U+202E cannot rewrite the terminal, and a
listing before trust shows the launch as written, never a resolved ``${env:…}`` secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_marshal.literal import visible
from tests.integration.test_cli import workspace
from tests.support import FAKE, PY

BINARY = Path(sys.executable).with_name("mcp-marshal")
HOSTILE = "[/][bold red]x\x1b[2J\x1b]0;title\x07\r\u202eevil"
SHOWN = "[/][bold red]x\\x1b[2J\\x1b]0;title\\x07\\x0d\\u202eevil"
MARKER = f"marker-{os.getpid()}-s3cr3t"
RAW = ("\x1b", "\r", "\u202e", "\x07", MARKER)  # none of these may reach the terminal


def marshal(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, not a module run: what a user types."""
    assert BINARY.is_file(), f"{BINARY} is missing: pip install -e ."
    env = {**os.environ, "SECRET": MARKER, "COLUMNS": "1000"}  # wide: no cell folds across lines
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, env=env, timeout=60)


def assert_literal(res: subprocess.CompletedProcess[str]) -> str:
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "MarkupError" not in out, res.stderr
    for raw in RAW:
        assert raw not in out, (raw, out)
    return out


def hostile_servers() -> dict[str, Any]:
    # Arguments, unlike env values, are not secrets: the fake server says FAKE_NAME unredacted.
    return {
        HOSTILE: {
            "command": PY,
            "args": [FAKE, f"FAKE_NAME={HOSTILE}", "--token=${env:SECRET}"],
            "env": {"API_KEY": "${env:SECRET}"},
        },
        "crash": {"command": PY, "args": [FAKE, f"FAKE_STDERR={HOSTILE}", "FAKE_CRASH_AT_START=1"]},
    }


def test_the_helper_agrees_with_the_expectations_here() -> None:
    assert visible(HOSTILE) == SHOWN


def test_check_shows_names_and_problems_literally(tmp_path: Path) -> None:
    ws = workspace(tmp_path, hostile_servers())
    res = marshal("check", ws)
    assert res.returncode == 0, res.stderr
    assert SHOWN in assert_literal(res)

    bad = tmp_path / "bad"
    bad.mkdir()
    ws_bad = workspace(bad, {"a": {"command": PY, "args": [FAKE], "dependsOn": [HOSTILE]}})
    res = marshal("check", ws_bad)
    assert res.returncode == 1
    (line,) = [x for x in assert_literal(res).splitlines() if ".code-workspace:" in x]
    assert SHOWN in line and line.endswith("(error)")
    as_json = marshal("check", ws_bad, "--json")
    assert as_json.returncode == 1
    assert SHOWN in json.loads(as_json.stdout.splitlines()[0])["problem"]  # messages quote names visibly
    assert_literal(as_json)


@pytest.mark.parametrize("command", ["up", "probe"])
def test_before_trust_the_listing_is_the_launch_as_written(tmp_path: Path, command: str) -> None:
    ws = workspace(tmp_path, hostile_servers())
    res = marshal(command, ws)
    assert res.returncode == 2
    out = assert_literal(res)  # the resolved secret is not among it
    assert "Not trusted" in res.stderr and "Nothing was started" in res.stderr
    lines = res.stderr.splitlines()
    start = lines.index(f"  {SHOWN}:")  # the server's name, then each field of its launch
    (listed,) = [x for x in lines[start + 1 :] if x.startswith("    command: ")][:1]
    assert f"'FAKE_NAME={SHOWN}'" in listed and "'--token=${env:SECRET}'" in listed
    assert f"'FAKE_STDERR={SHOWN}'" in out


def test_probe_shows_what_a_server_says_literally(tmp_path: Path) -> None:
    ws = workspace(tmp_path, hostile_servers())
    res = marshal("probe", ws, "--trust")
    assert res.returncode == 1  # "crash" failed
    assert_literal(res)
    (row,) = [x for x in res.stdout.splitlines() if x.count(SHOWN) == 2]  # name and serverInfo
    assert " ok " in row
    assert f"  {SHOWN}" in res.stdout.split("crash stderr (last lines):")[1]

    as_json = marshal("probe", ws, "--trust", "--json")
    assert as_json.returncode == 1
    assert_literal(as_json)
    rows = {r["name"]: r for r in map(json.loads, as_json.stdout.splitlines())}
    assert rows[HOSTILE]["ok"] and rows[HOSTILE]["server"] == HOSTILE
    assert HOSTILE in rows["crash"]["stderr_tail"]
