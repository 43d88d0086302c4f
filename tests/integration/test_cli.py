"""The CLI end to end, as subprocesses: check, probe, up --json, trust, reload, no orphans."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import FAKE, PY, SDK, pid_alive, until

CLI = [sys.executable, "-m", "mcp_marshal"]


def workspace(tmp: Path, servers: dict[str, Any], extra: str = "", name: str = "ws") -> Path:
    body = json.dumps(servers, indent=2)
    text = (
        '{\n  // test workspace\n  "folders": [{"path": "."}],\n  "settings": {\n'
        f'    "mcpMarshal.servers": {body},\n'
        '    "mcpMarshal.restart": {"maxRestarts": 2, "initialDelayMs": 50, "maxDelayMs": 200},\n'
        '    "mcpMarshal.stop": {"stdinGraceMs": 500, "termGraceMs": 500},\n'
        f"    {extra}\n  }},\n}}\n"
    )
    path = tmp / f"{name}.code-workspace"
    path.write_text(text)
    return path


def fake(**env: str) -> dict[str, Any]:
    return {"command": PY, "args": [FAKE], "env": env}


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


def test_check_prints_levels_and_problems(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path, {"a": {**fake(), "tier": 0}, "b": {**fake(), "dependsOn": ["a"]}, "c": {**fake(), "tier": 1}}
    )
    ok = run("check", ws)
    assert ok.returncode == 0, ok.stderr
    assert "level 0: a" in ok.stdout and "level 1:" in ok.stdout and "b (after a)" in ok.stdout
    as_json = json.loads(run("check", ws, "--json").stdout)
    assert as_json["levels"] == [["a"], ["b", "c"]]

    for servers, needle, message in (
        ({"a": {"args": []}}, '"a"', '"command" is required'),
        ({"b": {**fake(), "dependsOn": ["nope"]}}, '"nope"', "nope"),
    ):
        bad = tmp_path / needle.strip('"')
        bad.mkdir()
        ws_bad = workspace(bad, servers)
        res = run("check", ws_bad)
        assert res.returncode == 1
        (line,) = [line for line in res.stderr.splitlines() if ".code-workspace:" in line]
        assert message in line
        _file, lineno, col = line.split(": ", 1)[0].rsplit(":", 2)
        text_line = ws_bad.read_text().splitlines()[int(lineno) - 1]
        assert text_line[int(col) - 1 :].startswith(needle), (line, text_line)


def test_check_finds_the_single_workspace_or_explains(tmp_path: Path) -> None:
    res = run("check", cwd=tmp_path)
    assert res.returncode == 2 and "code-workspace" in res.stderr
    workspace(tmp_path, {"a": fake()})
    assert run("check", cwd=tmp_path).returncode == 0
    workspace(tmp_path, {"a": fake()}, name="other")
    res = run("check", cwd=tmp_path)
    assert res.returncode == 2 and "other.code-workspace" in res.stderr


def _processes_with_marker(marker: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def test_untrusted_up_and_probe_spawn_nothing(tmp_path: Path) -> None:
    marker = f"MARKER_{os.getpid()}_{time.monotonic_ns()}"
    ws = workspace(tmp_path, {"a": fake(FAKE_MARK=marker), "b": fake(FAKE_MARK=marker)})
    for cmd in ("up", "probe"):
        res = run(cmd, ws)
        assert res.returncode == 2
        assert "Not trusted" in res.stderr and "--trust" in res.stderr and "a:" in res.stderr
        assert _processes_with_marker(marker) == []


def test_probe_reports_handshake_tools_and_readable_failures(tmp_path: Path) -> None:
    ws = workspace(
        tmp_path,
        {
            "sdk": {"command": PY, "args": [SDK]},
            "fake": fake(FAKE_TOOLS="3"),
            "npx": {"command": "npx-not-installed-here", "env": {"PATH": "/opt/nothing"}},
            "crash": fake(FAKE_CRASH_AT_START="1", FAKE_EXIT_CODE="7"),
            "after": {**fake(), "dependsOn": ["crash"]},
        },
    )
    res = run("probe", ws, "--trust", "--json")
    assert res.returncode == 1
    rows = {r["name"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert rows["sdk"]["ok"] and rows["sdk"]["tools"] == 2 and rows["sdk"]["protocol"] == "2025-11-25"
    assert rows["fake"]["ok"] and rows["fake"]["tools"] == 3 and rows["fake"]["handshake_ms"] > 0
    assert rows["npx"]["reason"].startswith("command `npx-not-installed-here` not found on PATH=")
    # the PATH searched is named; what the entry's env added is a configured value, so redacted
    assert rows["npx"]["reason"].endswith(":<redacted>") and "/opt/nothing" not in res.stdout
    assert rows["crash"]["state"] == "failed" and "exited (code 7)" in rows["crash"]["reason"]
    assert any("crashing at start" in line for line in rows["crash"]["stderr_tail"])
    assert rows["after"]["state"] == "blocked" and "crash is failed" in rows["after"]["reason"]
    human = run("probe", ws, "--trust", "--server", "fake")
    assert human.returncode == 0 and "fake" in human.stdout and "ok" in human.stdout


class Up:
    """A running ``mcp-marshal up --json`` whose events are read as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    async def next_event(self, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            for event in self.events:
                if predicate(event):
                    self.events.remove(event)
                    return event
            while True:
                assert self.proc.stdout is not None
                line = await self.proc.stdout.readline()
                if not line:
                    raise AssertionError(f"up ended: {await self.proc.stderr.read() if self.proc.stderr else ''}")
                event = json.loads(line)
                if predicate(event):
                    return event
                self.events.append(event)

    async def ready(self, names: set[str], timeout: float = 30) -> dict[str, int]:
        pids: dict[str, int] = {}
        while set(pids) != names:
            e = await self.next_event(
                lambda e: e["event"] == "ServerStateChanged" and e["state"] == "ready" and e["name"] in names,
                timeout,
            )
            pids[e["name"]] = e["pid"]
        return pids


async def start_up(ws: Path, *extra: str, env: dict[str, str] | None = None) -> Up:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "up",
        str(ws),
        "--trust",
        "--json",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=2**22,
        env=env,
    )
    return Up(proc)


async def test_up_json_streams_events_and_stops_gracefully_on_sigterm(tmp_path: Path, cleanup: list) -> None:
    ws = workspace(tmp_path, {"a": fake(), "b": {**fake(), "dependsOn": ["a"]}})
    up = await start_up(ws)
    cleanup.append(up.proc)
    pids = await up.ready({"a", "b"})
    assert all(pid_alive(p) for p in pids.values())
    up.proc.send_signal(signal.SIGTERM)
    stopped = []
    while len(stopped) < 2:
        e = await up.next_event(lambda e: e["event"] == "ServerExited")
        assert e["expected"] is True
        stopped.append(e["name"])
    assert stopped == ["b", "a"]  # reverse dependency order
    assert await asyncio.wait_for(up.proc.wait(), 15) == 0
    assert not any(pid_alive(p) for p in pids.values())


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def test_up_reloads_exactly_the_plan_including_dependents(tmp_path: Path, cleanup: list) -> None:
    servers = {
        "base": fake(),
        "mid": {**fake(), "dependsOn": ["base"]},
        "leaf": {**fake(), "dependsOn": ["mid"]},
        "solo": fake(),
        "gone": fake(),
    }
    ws = workspace(tmp_path, servers)
    up = await start_up(ws)
    cleanup.append(up.proc)
    pids = await up.ready(set(servers))

    # change mid (→ restart mid and leaf), remove gone, add new; atomic rename save
    servers2 = {k: v for k, v in servers.items() if k != "gone"}
    servers2["mid"] = {**fake(FAKE_NAME="mid2"), "dependsOn": ["base"]}
    servers2["new"] = fake()
    atomic_write(ws, ws.read_text().replace(json.dumps(servers, indent=2), json.dumps(servers2, indent=2)))
    reloaded = await up.next_event(lambda e: e["event"] == "ConfigReloaded")
    plan = reloaded["plan"]
    assert plan["start"] == ["new"] and plan["stop"] == ["gone"]
    assert plan["restart"] == ["leaf", "mid"] and plan["unchanged"] == ["base", "solo"]
    # the new and the changed launch wait for approval (leaf waits for mid); `trust` shows them
    # as written and approves them, and the running `up` follows at once
    needed = await up.next_event(lambda e: e["event"] == "ApprovalNeeded")
    assert {name: changed for name, changed in needed["servers"]} == {"mid": ["env"], "new": ["new"]}
    shown = json.loads(run("trust", ws, "--dry-run", "--json").stdout)
    assert [e["name"] for e in shown["pending"]] == ["mid", "new"] and shown["approved"] == []
    assert "env FAKE_NAME=mid2" in shown["pending"][0]["launch"]
    approved = run("trust", ws)
    assert approved.returncode == 0 and "Approved" in approved.stdout and "mid (env changed)" in approved.stdout
    new_pids = {}
    for name in ("new", "mid", "leaf"):
        new_pids.update(await up.ready({name}))
    assert new_pids["mid"] != pids["mid"] and new_pids["leaf"] != pids["leaf"]
    assert not pid_alive(pids["gone"]) and not pid_alive(pids["mid"])
    assert pid_alive(pids["base"]) and pid_alive(pids["solo"])  # untouched, same pid

    # an invalid edit (in place) changes nothing that runs
    broken = ws.read_text().replace('"dependsOn": [', '"dependsOn": ["nobody", ', 1)
    assert "nobody" in broken
    ws.write_text(broken)
    rejected = await up.next_event(lambda e: e["event"] == "ConfigRejected")
    assert any("nobody" in p["message"] for p in rejected["problems"])
    assert all(pid_alive(p) for p in (pids["base"], pids["solo"], new_pids["mid"], new_pids["new"]))
    up.proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(up.proc.wait(), 15) == 0


async def test_trusted_once_up_runs_without_the_flag_and_holds_a_changed_launch(tmp_path: Path, cleanup: list) -> None:
    """`up --trust` approves the file as it is; a later plain `up` starts what was approved and
    holds a server whose command changed since, until `mcp-marshal trust NAME`."""
    marker = f"MARKER_{os.getpid()}_{time.monotonic_ns()}"
    servers = {"a": fake(), "b": fake()}
    ws = workspace(tmp_path, servers)
    first = await start_up(ws)
    cleanup.append(first.proc)
    await first.ready({"a", "b"})
    first.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.proc.wait(), 15) == 0

    ws.write_text(
        ws.read_text().replace(
            json.dumps(servers, indent=2), json.dumps({**servers, "b": fake(FAKE_MARK=marker)}, indent=2)
        )
    )
    assert "b (env changed)" in run("trust", ws, "--dry-run").stdout
    proc = await asyncio.create_subprocess_exec(
        *CLI, "up", str(ws), "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    cleanup.append(proc)
    up = Up(proc)
    needed = await up.next_event(lambda e: e["event"] == "ApprovalNeeded")
    assert needed["servers"] == [["b", ["env"]]]
    await up.ready({"a"})
    assert _processes_with_marker(marker) == []  # b is not spawned
    assert run("trust", ws, "b").returncode == 0
    await up.ready({"b"})
    assert _processes_with_marker(marker) != []
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 15) == 0


def test_trust_refuses_an_unknown_server_and_says_when_nothing_is_pending(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"a": {**fake(TOKEN="${env:HOME}"), "args": [FAKE, "--x=${env:HOME}"]}})
    unknown = run("trust", ws, "nope")
    assert unknown.returncode == 2 and "no server named nope" in unknown.stderr
    shown = run("trust", ws, "--dry-run")
    assert shown.returncode == 0 and "Would approve" in shown.stdout and "a (new)" in shown.stdout
    assert "--x=${env:HOME}" in shown.stdout and "TOKEN=${env:HOME}" in shown.stdout  # as written, unresolved
    assert os.environ["HOME"] not in shown.stdout.replace(str(ws), "")
    assert run("trust", ws).returncode == 0
    again = run("trust", ws)
    assert again.returncode == 0 and "Nothing to approve" in again.stdout


def _group_members(pgids: set[int]) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in pgids and fields[0] != "Z":
                out.append(int(entry.name))
    return out


async def test_sigkill_of_up_leaves_no_process_behind(tmp_path: Path, cleanup: list) -> None:
    servers = {}
    for i in range(10):
        env = {"FAKE_GRANDCHILD": "1"} if i % 2 == 0 else {}
        if i % 3 == 0:
            env["FAKE_IGNORE_EOF"] = "1"
        if i % 4 == 0:
            env["FAKE_IGNORE_TERM"] = "1"
        servers[f"s{i}"] = fake(**env)
    ws = workspace(tmp_path, servers)
    up = await start_up(ws)
    cleanup.append(up.proc)
    pids = await up.ready(set(servers))
    grandchildren: list[int] = []
    while len(grandchildren) < 5:
        e = await up.next_event(lambda e: e["event"] == "ServerLog" and e["line"].startswith("grandchild "))
        grandchildren.append(int(e["line"].split()[1]))
    everything = set(pids.values()) | set(grandchildren)
    assert all(pid_alive(p) for p in everything)
    t0 = time.monotonic()
    up.proc.kill()
    await up.proc.wait()
    await until(lambda: not any(pid_alive(p) for p in everything) and not _group_members(set(pids.values())), 2.0)
    print(f"all {len(everything)} processes gone {1000 * (time.monotonic() - t0):.0f} ms after SIGKILL of up")


def test_orphans_helper_detects_live_groups() -> None:
    """The group scan used above must see a live group, or the orphan test proves nothing."""
    p = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert _group_members({p.pid}) == [p.pid]
    finally:
        p.kill()
        p.wait()


@pytest.fixture
def demo_env() -> Iterator[dict[str, str]]:
    yield {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


async def test_up_without_a_usable_state_directory_still_supervises(tmp_path: Path, cleanup: list) -> None:
    """Leases, the telemetry file and the process ledger need the state directory; servers don't."""
    ws = workspace(tmp_path, {"a": fake(), "b": {**fake(), "dependsOn": ["a"]}})
    up = await start_up(ws, env={**os.environ, "MCP_MARSHAL_STATE_DIR": "/etc/hostname/state"})
    cleanup.append(up.proc)
    pids = await up.ready({"a", "b"})
    degraded = [e for e in up.events if e["event"] == "ServiceDegraded"]
    # each says once what it cannot do here, and where the trouble is
    services = ["single-supervisor check", "telemetry file", "task leases", "gateway", "process ledger", "approvals"]
    assert sorted(e["service"] for e in degraded) == sorted(services)
    assert all("/etc/hostname/state" in e["reason"] and "MCP_MARSHAL_STATE_DIR" in e["reason"] for e in degraded)
    assert all(pid_alive(p) for p in pids.values())
    up.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(up.proc.wait(), 30) == 0
    assert not any(pid_alive(p) for p in pids.values())
    assert b"Traceback" not in await up.proc.stderr.read()  # type: ignore[union-attr]
