"""Per-server trust: what counts as a changed launch, and how approvals are kept on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_marshal.approvals import NEW, Approvals, changed_fields, digests
from mcp_marshal.config import load_workspace
from mcp_marshal.config.models import Config, Launch


def config_of(ws: Path, servers: dict[str, Any]) -> Config:
    ws.write_text(json.dumps({"folders": [], "settings": {"mcpMarshal.servers": servers}}))
    loaded = load_workspace(ws)
    assert loaded.config is not None, loaded.problems
    return loaded.config


BASE = Launch(command="npx", args=("-y", "srv"), env=(("A", "1"), ("B", "${env:B}")), cwd="sub")


@pytest.mark.parametrize(
    ("current", "changed"),
    [
        (BASE, ()),
        (Launch(command="npx", args=("-y", "srv"), env=(("B", "${env:B}"), ("A", "1")), cwd="sub"), ()),  # env order
        (Launch(command="uvx", args=BASE.args, env=BASE.env, cwd="sub"), ("command",)),
        (Launch(command="npx", args=("-y", "srv", "--x"), env=BASE.env, cwd="sub"), ("args",)),
        (Launch(command="npx", args=BASE.args, env=(("A", "2"), ("B", "${env:B}")), cwd="sub"), ("env",)),
        (Launch(command="npx", args=BASE.args, env=BASE.env, cwd=None), ("cwd",)),
        (Launch(command="npx", args=BASE.args, env=BASE.env, cwd="sub", env_file=".env"), ("envFile",)),
        (
            Launch(url="http://x", headers=(("Authorization", "t"),)),
            ("command", "args", "env", "cwd", "url", "headers"),
        ),
    ],
)
def test_changed_fields_name_what_differs_in_listing_order(current: Launch, changed: tuple[str, ...]) -> None:
    assert changed_fields(digests(BASE, "s"), digests(current, "s")) == changed


def test_nothing_approved_is_new_and_digests_depend_on_the_salt() -> None:
    assert changed_fields(None, digests(BASE, "s")) == (NEW,)
    assert digests(BASE, "s") != digests(BASE, "t")  # a secret in the file cannot be looked up
    assert all(len(d) == 64 for d in digests(BASE, "s").values())


def test_approve_then_change_then_approve_again(tmp_path: Path) -> None:
    ws = tmp_path / "w.code-workspace"
    one = config_of(ws, {"a": {"command": "x", "env": {"TOKEN": "sk-live-0123456789"}}, "b": {"command": "y"}})
    approvals = Approvals(ws)
    assert not approvals.any_recorded()
    assert {n: p.changed for n, p in approvals.pending(one).items()} == {"a": (NEW,), "b": (NEW,)}
    assert approvals.approve(one, ["a", "nope", "a"]) == ["a"]
    assert list(Approvals(ws).pending(one)) == ["b"]  # another process reads the same file
    assert approvals.path is not None and "sk-live" not in approvals.path.read_text()  # digests only

    two = config_of(ws, {"a": {"command": "x", "args": ["--new"], "env": {"TOKEN": "sk-live-0123456789"}}})
    assert {n: p.changed for n, p in Approvals(ws).pending(two).items()} == {"a": ("args",)}


def test_a_corrupt_file_approves_nothing_and_is_replaced_on_approval(tmp_path: Path) -> None:
    ws = tmp_path / "w.code-workspace"
    config = config_of(ws, {"a": {"command": "x"}})
    approvals = Approvals(ws)
    assert approvals.path is not None
    approvals.path.write_text("{not json")
    assert list(approvals.pending(config)) == ["a"] and not approvals.any_recorded()
    approvals.approve(config, ["a"])
    assert approvals.pending(config) == {}


def test_two_processes_approving_at_once_lose_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "w.code-workspace"
    names = [f"s{i}" for i in range(40)]
    config_of(ws, {n: {"command": "x"} for n in names})
    script = (
        "import sys; from pathlib import Path; from mcp_marshal.approvals import Approvals;"
        "from mcp_marshal.config import load_workspace;"
        "ws = Path(sys.argv[1]); c = load_workspace(ws).config; a = Approvals(ws)\n"
        "for n in sys.argv[2:]: a.approve(c, [n])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(ws), *names[i::2]])  # each approves one at a time
        for i in range(2)
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    config = load_workspace(ws).config
    assert config is not None and Approvals(ws).pending(config) == {}
