"""``mcp-marshal trust``: approve the launch of servers that are new or changed in a file.

Trust is per server (DESIGN §4): a launch the user has not approved is not spawned, by the
editor or by ``up``. This command shows each such launch as the file writes it (variables
unresolved, every byte visible) and records the approval; a running ``up`` or editor follows
the approvals file and starts what was approved at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE: nowhere to record the approval


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    trust = sub.add_parser("trust", help="approve servers whose launch is new or changed since you approved it")
    trust.add_argument("workspace", nargs="?", type=Path, help="the .code-workspace file (default: the one here)")
    trust.add_argument("names", nargs="*", metavar="NAME", help="only these servers (default: every pending one)")
    trust.add_argument("--dry-run", action="store_true", help="only show what awaits approval")
    trust.add_argument("--json", action="store_true", help="print the result as JSON")
    trust.set_defaults(run=run_trust)


def _split(args: argparse.Namespace) -> tuple[Path | None, list[str]]:
    """``trust NAME`` in a folder with one workspace file: a first argument that is not a file
    is a server name."""
    workspace: Path | None = args.workspace
    names = list(args.names)
    if workspace is not None and workspace.suffix != ".code-workspace" and not workspace.exists():
        return None, [str(workspace), *names]
    return workspace, names


def _entry(config: Config, name: str, changed: tuple[str, ...]) -> dict[str, Any]:
    from mcp_marshal.describe import launch_lines

    return {"name": name, "changed": list(changed), "launch": launch_lines(config.servers[name].written)}


def run_trust(args: argparse.Namespace) -> int:
    from mcp_marshal.approvals import Approvals
    from mcp_marshal.cli.servers import _console, _load, _workspace  # pyright: ignore[reportPrivateUsage]
    from mcp_marshal.cli.show import literal
    from mcp_marshal.describe import describe_change

    workspace, names = _split(args)
    path = _workspace(workspace)
    if path is None:
        return EXIT_USAGE
    config = _load(path, args.json)
    if config is None:
        return 1
    err = _console(stderr=True)
    unknown = [n for n in names if n not in config.servers]
    if unknown:
        known = ", ".join(config.servers) or "none"
        err.print(f"[red]error:[/] no server named {literal(unknown[0])} in {path.name} (servers: {literal(known)})")
        return EXIT_USAGE
    approvals = Approvals(path)
    pending = approvals.pending(config)
    targets = [n for n in (names or list(pending)) if n in pending]
    entries = [_entry(config, n, pending[n].changed) for n in targets]
    approved: list[str] = [] if args.dry_run else approvals.approve(config, targets)
    lost = approvals.degraded is not None and not args.dry_run  # kept in memory only: not recorded
    if args.json:
        result = {"file": str(path), "pending": entries, "approved": [] if lost else approved}
        print(json.dumps({**result, "error": approvals.degraded if lost else None}))
        return EXIT_UNAVAILABLE if lost else 0
    out = _console()
    if not entries:
        already = f" ({', '.join(names)} already approved)" if names else ""
        out.print(f"Nothing to approve in {literal(str(path))}{literal(already)}.")
        return 0
    verb = "Would approve" if args.dry_run else "Could not approve" if lost else "Approved"
    out.print(f"{verb} in {literal(str(path))}:")
    for entry, name in zip(entries, targets, strict=True):
        out.print(f"  [bold]{literal(name)}[/] ({literal(describe_change(pending[name].changed))})")
        for line in entry["launch"]:
            out.print(f"    {literal(line)}")
    if lost:
        err.print(f"[red]error:[/] {literal(approvals.degraded or '')}: nothing was recorded")
        return EXIT_UNAVAILABLE
    if not args.dry_run:
        out.print("A running `mcp-marshal up` or editor starts them now; `mcp-marshal up` starts them next time.")
    return 0
