"""What every benchmark shares: sizes, a result table with ratio lines, workspace files, processes.

A benchmark builds a :class:`Report`: rows of measured values (ours and each baseline, measured
in the same run) and ratio lines comparing them, each with the goal it is judged against. The
printed ratio is what holds on a noisy machine; the absolute values are for context.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_SERVER = ROOT / "tests" / "fixtures" / "fake_server.py"
PING_SERVER = ROOT / "bench" / "ping_server.py"
PYTHON = sys.executable
MARK_VAR = "MCP_MARSHAL_BENCH_RUN"
"""Set in the environment of every process a run starts, so any that outlives it can be found."""


@dataclass(frozen=True)
class Size:
    """How big a run is: ``full`` for figures, ``tiny`` for the smoke test (seconds, not minutes)."""

    tiny: bool = False

    def pick(self, full: Any, tiny: Any) -> Any:
        return tiny if self.tiny else full


@dataclass
class Row:
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass
class Ratio:
    label: str
    value: float
    goal: str = ""
    """Human form of the goal, e.g. ``≤ 1.05``; empty when the ratio is for information only."""
    met: bool | None = None

    def line(self) -> str:
        verdict = "" if self.met is None else ("  goal met" if self.met else "  GOAL NOT MET")
        goal = f"  (goal {self.goal})" if self.goal else ""
        return f"ratio {self.label} = {self.value:.2f}{goal}{verdict}"


@dataclass
class Report:
    """One benchmark's table: rows, then ratio lines, then notes (why a figure is what it is)."""

    title: str
    rows: list[Row] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, name: str, value: float, unit: str, note: str = "") -> float:
        self.rows.append(Row(name, value, unit, note))
        return value

    def ratio(self, label: str, num: float, den: float, *, at_most: float | None = None,
              at_least: float | None = None) -> Ratio:  # fmt: skip
        value = num / den if den else math.inf
        goal, met = "", None
        if at_most is not None:
            goal, met = f"≤ {at_most:g}", value <= at_most
        elif at_least is not None:
            goal, met = f"≥ {at_least:g}", value >= at_least
        r = Ratio(label, value, goal, met)
        self.ratios.append(r)
        return r

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        """Plain text (a markdown table), so it reads the same in a terminal, a log and bench/README.md."""
        lines = [f"## {self.title}", "", "| measurement | value | note |", "|---|---:|---|"]
        for r in self.rows:
            lines.append(f"| {r.name} | {fmt(r.value)} {r.unit} | {r.note} |")
        lines.append("")
        lines += [r.line() for r in self.ratios]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [r.__dict__ for r in self.rows],
            "ratios": [r.__dict__ for r in self.ratios],
            "notes": self.notes,
        }


def fmt(value: float) -> str:
    if value != value or math.isinf(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): an observed value, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_server(name: str, **env: Any) -> dict[str, Any]:
    """A VS Code-dialect server entry for the stdlib fake server (env keys as in tests/fixtures)."""
    fields = {"FAKE_NAME": name, **{k: str(v) for k, v in env.items()}}
    return {"command": PYTHON, "args": [str(FAKE_SERVER)], "env": fields}


def write_workspace(path: Path, servers: dict[str, Any], **settings: Any) -> None:
    """Write a ``.code-workspace`` atomically (temp file + rename, as editors save)."""
    doc = {"folders": [{"path": "."}], "settings": {**settings, "mcpMarshal.servers": servers}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def rss_mb(pid: int | None = None) -> float:
    """Resident set size from /proc (Linux), in MB."""
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid or 'self'}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def state_dir(tmp: Path) -> Iterator[Path]:
    """Point mcp-marshal's state (locks, ledgers, telemetry) at a private folder for the run."""
    old = os.environ.get("MCP_MARSHAL_STATE_DIR")
    os.environ["MCP_MARSHAL_STATE_DIR"] = str(tmp)
    try:
        yield tmp
    finally:
        if old is None:
            os.environ.pop("MCP_MARSHAL_STATE_DIR", None)
        else:
            os.environ["MCP_MARSHAL_STATE_DIR"] = old


def compile_package() -> None:
    """Byte-compile mcp-marshal's modules, as an installed package has them.

    An editable install compiles them on first import, unless PYTHONDONTWRITEBYTECODE is set
    (as on this project's machines): then every ``mcp-marshal`` start would compile ~35 modules
    from source (~45 ms) that a user's install never does, and that the peers (a bundled
    mcp-hub, supervisord from a wheel) do not pay either.
    """
    import compileall

    compileall.compile_dir(str(ROOT / "server" / "mcp_marshal"), quiet=1)


def new_marker() -> str:
    """A value for :data:`MARK_VAR` unique to one run: leftovers are found by it alone (other
    runs may use the same fixture servers on this machine at the same time)."""
    return uuid.uuid4().hex


def marked_pids(marker: str) -> list[int]:
    """Live (non-zombie) processes, other than this one, whose environment carries the marker."""
    needle = f"{MARK_VAR}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


def kill_leftovers(marker: str, wait_s: float = 3.0) -> list[int]:
    """Processes still carrying ``marker`` after ``wait_s`` (a stop sequence may be finishing);
    they are SIGKILLed so a run leaves nothing behind, and returned so it can say so."""
    deadline = time.monotonic() + wait_s
    left = marked_pids(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = marked_pids(marker)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return left
