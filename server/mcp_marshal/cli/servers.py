"""``mcp-marshal up | check | probe``: the servers of a workspace, from a terminal.

A shell over the core: it loads the file, builds an orchestrator, prints events. Output for
humans uses rich; ``--json`` prints one JSON object per line for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_marshal.cli.show import literal

if TYPE_CHECKING:
    from rich.console import Console

    from mcp_marshal.config.models import Config
    from mcp_marshal.config.problems import Problem
    from mcp_marshal.events import Event, EventBus
    from mcp_marshal.supervisor import Supervisor

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_ALREADY = 3

STATE_STYLE = {
    "ready": "green",
    "starting": "cyan",
    "unhealthy": "yellow",
    "exited": "yellow",
    "backoff": "yellow",
    "failed": "bold red",
    "blocked": "magenta",
    "stopping": "dim",
    "stopped": "dim",
}


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = sub.add_parser("up", help="run the workspace's MCP servers in the foreground")
    up.add_argument("workspace", nargs="?", type=Path, help="the .code-workspace file (default: the one here)")
    up.add_argument(
        "--trust", action="store_true", help="trust the file as it is now: approve every server in it and start them"
    )
    up.add_argument("--json", action="store_true", help="print one event per line as JSON")
    up.set_defaults(run=run_up)

    check = sub.add_parser("check", help="validate the workspace file and print the start plan")
    check.add_argument("workspace", nargs="?", type=Path)
    check.add_argument("--json", action="store_true", help="print problems and levels as JSON")
    check.set_defaults(run=run_check)

    probe = sub.add_parser("probe", help="start servers once, handshake, list tools, stop: a doctor")
    probe.add_argument("workspace", nargs="?", type=Path)
    probe.add_argument("--server", action="append", metavar="NAME", help="only this server (repeatable)")
    probe.add_argument("--trust", action="store_true", help="trust the file: allow it to spawn processes")
    probe.add_argument("--json", action="store_true", help="print the results as JSON")
    probe.set_defaults(run=run_probe)


# --- shared ------------------------------------------------------------------------------------


def _console(stderr: bool = False) -> Console:
    from mcp_marshal.cli.show import console

    return console(stderr)


def _workspace(arg: Path | None) -> Path | None:
    """The file to use, or None after printing why there is none."""
    from mcp_marshal.config import WorkspaceNotFound, find_workspace_file

    if arg is not None:
        if not arg.is_file():
            _console(stderr=True).print(f"[red]error:[/] {literal(arg)} is not a file")
            return None
        return arg
    try:
        return find_workspace_file(Path.cwd())
    except WorkspaceNotFound as exc:
        _console(stderr=True).print(f"[red]error:[/] {literal(exc)}")
        return None


def _print_problems(problems: tuple[Problem, ...], as_json: bool) -> None:
    if as_json:
        for p in problems:
            print(
                json.dumps(
                    {
                        "problem": p.message,
                        "file": p.file,
                        "line": p.line + 1,
                        "column": p.column or p.character + 1,
                        "severity": p.severity,
                        "code": p.code,
                    }
                )
            )
        return
    console = _console(stderr=True)
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        console.print(f"{literal(p.format())} [{colour}]({literal(p.severity)})[/]")


def _load(path: Path, as_json: bool) -> Config | None:
    from mcp_marshal.config import load_workspace

    result = load_workspace(path)
    if result.problems:
        _print_problems(result.problems, as_json)
    return result.config


def _command_line(config: Config, name: str) -> str:
    """The launch as the file writes it: ``${env:X}`` unresolved, so no resolved secret is shown."""
    spec = config.servers[name]
    written = spec.written
    if spec.spawned:
        return shlex.join([written.command or "", *written.args])
    return f"{spec.type} {written.url}"


def _load_args(args: argparse.Namespace) -> tuple[Path, Config] | int:
    """The workspace named by ``args`` and its configuration, or the exit code saying why not."""
    path = _workspace(args.workspace)
    if path is None:
        return EXIT_USAGE
    config = _load(path, args.json)
    return EXIT_PROBLEMS if config is None else (path, config)


def _refuse_untrusted(config: Config, names: list[str], path: Path, verb: str) -> int:
    console = _console(stderr=True)
    console.print(f"[yellow]Not trusted:[/] {literal(path)} would {verb} these servers:")
    from mcp_marshal.describe import launch_lines

    for name in names:
        console.print(f"  [bold]{literal(name)}[/]:")
        for line in launch_lines(config.servers[name].written):  # as written: every field, every byte
            console.print(f"    {literal(line)}")
    console.print(
        "Nothing was started. If you trust this file, run again with [bold]--trust[/]"
        " (or approve it with [bold]mcp-marshal trust[/])."
    )
    return EXIT_USAGE


# --- check -------------------------------------------------------------------------------------


def run_check(args: argparse.Namespace) -> int:
    loaded = _load_args(args)
    if isinstance(loaded, int):
        return loaded
    path, config = loaded

    levels = config.deps.levels()
    if args.json:
        print(json.dumps({"file": str(path), "levels": [list(level) for level in levels]}))
        return 0
    console = _console()
    console.print(f"[green]✓[/] {literal(path)}: {len(config.servers)} server(s), start plan:")
    for i, level in enumerate(levels):
        parts = []
        for name in level:
            spec = config.servers[name]
            needs = sorted(config.deps.needs(name))
            note = f" (after {literal(', '.join(needs))})" if needs else ""
            manual = "" if spec.auto_start else " [dim](manual)[/]"
            parts.append(f"[bold]{literal(name)}[/]{note}{manual}")
        console.print(f"  level {i}: " + ", ".join(parts))
    return 0


# --- up ----------------------------------------------------------------------------------------


def run_up(args: argparse.Namespace) -> int:
    loaded = _load_args(args)
    if isinstance(loaded, int):
        return loaded
    path, config = loaded
    if not args.trust and not _approved_before(path):
        return _refuse_untrusted(config, list(config.servers), path, "start")
    return asyncio.run(_up(path, config, args.json, approve_all=args.trust))


def _approved_before(path: Path) -> bool:
    """Whether the user trusted this file before (``--trust``, ``mcp-marshal trust`` or an
    editor): then ``up`` starts what was approved and holds the rest until approved."""
    from mcp_marshal.approvals import Approvals

    return Approvals(path).any_recorded()


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _up(path: Path, config: Config, as_json: bool, *, approve_all: bool) -> int:
    from mcp_marshal.events import EventBus
    from mcp_marshal.gateway.discovery import AlreadySupervised
    from mcp_marshal.redact import Redactor
    from mcp_marshal.supervisor import Supervisor
    from mcp_marshal.telemetry.feature import WorkspaceTelemetry

    bus = EventBus()
    redactor = Redactor.from_config(config)
    telemetry = WorkspaceTelemetry(bus, redactor)
    stop = asyncio.Event()
    _install_stop_signals(stop)
    console = None if as_json else _console()  # rich costs ~20 ms of start-up a script does not need
    if as_json:
        bus.subscribe(lambda e: print(json.dumps(e.to_dict(), default=str), flush=True))
    else:
        assert console is not None
        bus.subscribe(lambda e: _narrate(console, e))
    supervisor = Supervisor(path, bus, redactor=redactor, features=[telemetry], trusted=True, kind="mcp-marshal up")
    async with supervisor:
        try:
            await supervisor.open()
        except AlreadySupervised as exc:
            _console(stderr=True).print(f"[yellow]{literal(exc)}[/]; nothing was started here.")
            return EXIT_ALREADY
        async with asyncio.TaskGroup() as tg:
            starter = tg.create_task(supervisor.trust(approve_all=approve_all))
            table = None if console is None else tg.create_task(_live_table(supervisor, bus, stop))
            await stop.wait()
            for task in (starter, table):
                if task is not None:
                    task.cancel()
        if console is not None:
            console.print("stopping…")
    if console is not None:
        console.print("stopped")
    return 0


def _narrate(console: Console, event: Event) -> None:
    """One line per event worth one (the same wording as the editor's output), above the table;
    the problems of a rejected edit in full."""
    from mcp_marshal.describe import describe
    from mcp_marshal.events import ApprovalNeeded, ConfigRejected

    line = describe(event)
    if line is None:
        return
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {literal(line)}")
    if isinstance(event, ConfigRejected):
        _print_problems(event.problems, as_json=False)
    elif isinstance(event, ApprovalNeeded):
        console.print("         to see what would run and approve it: [bold]mcp-marshal trust[/] (in another terminal)")


async def _live_table(supervisor: Supervisor, bus: EventBus, stop: asyncio.Event) -> None:
    """Redraw on every event, and once a second for the uptime column."""
    from rich.live import Live

    changed = asyncio.Event()
    unsubscribe = bus.subscribe(lambda _e: changed.set())
    try:
        with Live(_table(supervisor), console=_console(), auto_refresh=False, transient=False) as live:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), 1.0)
                changed.clear()
                live.update(_table(supervisor), refresh=True)
    finally:
        unsubscribe()


def _table(supervisor: Supervisor) -> Any:
    from rich.table import Table

    table = Table(title=f"MCP servers — {literal(supervisor.file.name)}", title_justify="left", expand=False)
    for col in ("name", "state", "pid", "restarts", "uptime", "handshake", "last error"):
        table.add_column(col, no_wrap=col != "last error", overflow="fold")
    for s in supervisor.snapshots():
        state, style = (
            ("needs approval", "bold yellow") if s.needs_approval else (s.state, STATE_STYLE.get(s.state, ""))
        )
        table.add_row(
            literal(s.name),
            f"[{style}]{literal(state)}[/]",
            str(s.pid or "–"),
            str(s.restarts),
            _duration(s.uptime_s),
            f"{s.handshake_ms:.0f} ms" if s.handshake_ms is not None else "–",
            literal(s.last_error or ""),
        )
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


# --- probe -------------------------------------------------------------------------------------


def run_probe(args: argparse.Namespace) -> int:
    loaded = _load_args(args)
    if isinstance(loaded, int):
        return loaded
    path, config = loaded
    names = list(config.servers)
    if args.server:
        unknown = [n for n in args.server if n not in config.servers]
        if unknown:
            _console(stderr=True).print(
                f"[red]error:[/] unknown server(s) {literal(', '.join(unknown))}; servers: {literal(', '.join(names))}"
            )
            return EXIT_USAGE

        names = sorted(set(args.server) | config.deps.dependencies(args.server), key=names.index)
    if not args.trust:
        from mcp_marshal.approvals import Approvals

        pending = Approvals(path).pending(config)
        unapproved = [n for n in names if n in pending]
        if unapproved:
            return _refuse_untrusted(config, unapproved, path, "start")
    results = asyncio.run(_probe(config, names))
    failed = [r for r in results if not r["ok"]]
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        _print_probe(results)
    return EXIT_PROBLEMS if failed else 0


async def _probe(config: Config, names: list[str]) -> list[dict[str, Any]]:
    """Start ``names`` along the DAG, list each ready server's tools over its own pipe, stop."""
    from dataclasses import replace

    from mcp_marshal.config.models import RestartPolicy
    from mcp_marshal.events import EventBus
    from mcp_marshal.supervise.lifeline import Lifeline
    from mcp_marshal.supervise.orchestrator import Orchestrator

    # A probe reports the first failure instead of retrying it.
    servers = {n: replace(config.servers[n], restart=RestartPolicy(max_restarts=0), auto_start=True) for n in names}
    deps = config.deps.restricted(names)
    probe_config = replace(config, servers=servers, deps=deps)
    results: list[dict[str, Any]] = []
    async with Lifeline() as lifeline, Orchestrator(probe_config, EventBus(), lifeline=lifeline) as orch:
        t0 = time.perf_counter()
        await orch.start_all()
        elapsed = time.perf_counter() - t0
        for name in names:
            snap = orch.get(name)
            row: dict[str, Any] = {
                "name": name,
                "ok": snap.state == "ready",
                "state": snap.state,
                "handshake_ms": snap.handshake_ms,
                "protocol": snap.protocol_version,
                "server": snap.server_info.get("name"),
                "tools": None,
                "reason": snap.last_error,
                "stderr_tail": snap.stderr_tail[-10:] if snap.state != "ready" else [],
            }
            if row["ok"]:
                try:
                    tools = await orch.list_tools(name)
                    row["tools"] = None if tools is None else len(tools)
                except Exception as exc:  # a tools/list failure is a finding, not a crash
                    row["ok"] = False
                    row["reason"] = f"tools/list failed: {exc}"
            results.append(row)
        for row in results:
            row["all_ready_s"] = round(elapsed, 3)
    return results


def _print_probe(results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title="probe", title_justify="left")
    for col in ("server", "result", "handshake", "tools", "protocol", "serverInfo", "reason"):
        table.add_column(col, overflow="fold")
    for r in results:
        table.add_row(
            literal(r["name"]),
            "[green]ok[/]" if r["ok"] else f"[red]{literal(r['state'])}[/]",
            f"{r['handshake_ms']:.0f} ms" if r["handshake_ms"] is not None else "–",
            "–" if r["tools"] is None else str(r["tools"]),
            literal(r["protocol"] or "–"),
            literal(r["server"] or "–"),
            literal(r["reason"] or ""),
        )
    console.print(table)
    for r in results:
        if not r["ok"] and r["stderr_tail"]:
            console.print(f"[bold]{literal(r['name'])}[/] stderr (last lines):")
            for line in r["stderr_tail"]:
                console.print(f"  {literal(line)}")
    if results:
        console.print(f"all ready after {results[0]['all_ready_s']:.2f} s", style="dim")


if __name__ == "__main__":
    sys.exit(0)
