"""``mcp-marshal clients [CLIENT] [WORKSPACE] [--write]``: the entries that put Claude Code,
Codex, Cursor or VS Code on the gateway (``mcp-marshal connect NAME WORKSPACE``), printed or
merged into that client's own file.

Exit codes: 0 done; 1 the workspace has problems, or the client's file cannot be read, parsed
or written (nothing changed); 2 bad usage. What would be written goes to stdout, the narration
(where, what changes, what is left alone) to stderr, so ``clients json > file`` works.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from mcp_marshal.agents.jsonc_edit import CannotEdit
from mcp_marshal.cli.show import plain
from mcp_marshal.errors import UserError

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
CLIENTS = ("claude", "codex", "cursor", "vscode", "json")
_VERBS = {"add": "add", "update": "update", "replace": "replace", "unchanged": "unchanged", "keep": "leave alone",
          "stale": "leave alone"}  # fmt: skip
_DONE = {"add": "added", "update": "updated", "replace": "replaced", "unchanged": "unchanged", "keep": "left alone",
         "stale": "left alone"}  # fmt: skip


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "clients",
        usage="mcp-marshal clients [claude|codex|cursor|vscode|json] [WORKSPACE] [--write] [--force] [--config PATH]",
        help="print (or --write) the config entries that put an agent on the gateway",
        description="One entry per server the gateway serves, running `mcp-marshal connect NAME WORKSPACE`"
        " (no token is written: connect reads it). Files: claude .mcp.json, codex ~/.codex/config.toml,"
        " cursor .cursor/mcp.json, vscode .vscode/mcp.json; json prints a generic mcpServers object.",
    )
    p.add_argument("target", nargs="*", metavar="[CLIENT] [WORKSPACE]",
                   help=f"one of {', '.join(CLIENTS)} (default json), then the .code-workspace file")  # fmt: skip
    p.add_argument("--write", action="store_true", help="merge the entries into the client's file")
    p.add_argument("--force", action="store_true", help="replace entries of the same name that you wrote")
    p.add_argument("--config", type=Path, metavar="PATH", help="the client's file to merge into (default: its own)")
    p.set_defaults(run=run_clients)


# --- shared with ``import`` ----------------------------------------------------------------------


def say(message: str) -> None:
    """A line of narration on stderr, shown literally (names and paths come from files)."""
    print(plain(message, layout=True), file=sys.stderr)


def read_text(path: Path, what: str) -> tuple[str, bool]:
    """The file's text (``""`` when it does not exist) and whether it began with a BOM."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "", False
    except OSError as exc:
        raise CannotEdit(f"cannot read {what}: {exc.strerror}; nothing was changed") from None
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        return data[3 if bom else 0 :].decode("utf-8"), bom
    except UnicodeDecodeError:
        raise CannotEdit(f"{what} is not UTF-8 text; nothing was changed") from None


def write_text(path: Path, text: str, bom: bool = False) -> None:
    """Replace the file atomically (a reader never sees half of it), keeping its mode; through
    a symlink, the file it points to is replaced (dotfile managers link these files)."""
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o7777 if target.exists() else None
    tmp = target.with_name(f".{target.name}.mcp-marshal-tmp")
    try:
        with open(tmp, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
            f.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CannotEdit(f"cannot write {path}: {exc.strerror}; nothing was changed") from None


def launcher() -> tuple[str, ...]:
    """How a client should run mcp-marshal: this installation's executable by absolute path
    (clients start servers with a bare PATH), else the first on PATH, else ``python -m``."""
    argv0 = Path(sys.argv[0])
    candidates = [argv0] if argv0.name == "mcp-marshal" else []
    candidates.append(Path(sys.executable).parent / "mcp-marshal")
    found = shutil.which("mcp-marshal")
    if found:
        candidates.append(Path(found))
    for exe in candidates:
        if exe.is_file() and os.access(exe, os.X_OK):
            return (os.path.abspath(exe),)
    return (sys.executable, "-m", "mcp_marshal")


# --- clients -------------------------------------------------------------------------------------


def _targets(values: list[str]) -> tuple[str, Path | None]:
    if len(values) > 2:
        raise UserError(f"expected [CLIENT] [WORKSPACE], got {len(values)} arguments")
    client, rest = ("json", values) if not values or values[0] not in CLIENTS else (values[0], values[1:])
    if rest and rest[0] in CLIENTS:
        raise UserError(f"name one client, then the workspace file (got {rest[0]!r} second)")
    if rest and not Path(rest[0]).exists() and not rest[0].endswith(".code-workspace"):
        raise UserError(f"unknown client {rest[0]!r}: one of {', '.join(CLIENTS)}")
    return client, Path(rest[0]) if rest else None


def workspace_file(arg: Path | None) -> Path:
    """The workspace file named, or the one in the current directory."""
    from mcp_marshal.config import WorkspaceNotFound, find_workspace_file

    if arg is None:
        try:
            return find_workspace_file(Path.cwd())
        except WorkspaceNotFound as exc:  # a ValueError until config's UserError version lands
            raise UserError(str(exc)) from None
    if not arg.is_file():
        raise UserError(f"{arg} is not a file")
    return arg


def run_clients(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UserError as exc:
        say(f"error: {exc}")
        return EXIT_PROBLEMS if isinstance(exc, CannotEdit) else EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from mcp_marshal.agents.client_formats import FORMATS, default_file
    from mcp_marshal.agents.connect_entries import STATE_ENV, connect_entries
    from mcp_marshal.config import load_workspace
    from mcp_marshal.paths import state_root

    client, ws_arg = _targets(args.target)
    fmt = FORMATS[client]
    result = load_workspace(workspace_file(ws_arg))
    for problem in result.problems:
        say(f"{problem.format()} ({problem.severity})")
    if result.config is None:
        say("fix the workspace file first (`mcp-marshal check` shows the same)")
        return EXIT_PROBLEMS
    config = result.config
    # A state directory other than the default must reach connect, or it looks in the wrong place.
    moved = STATE_ENV in os.environ or "XDG_STATE_HOME" in os.environ
    entries, skipped = connect_entries(config, launcher(), str(state_root()) if moved else None)
    for s in skipped:
        say(f"{s.name}: no entry: {s.reason}")
    for e in list(entries):
        refusal = fmt.refusal(e)
        if refusal is not None:
            say(f"{e.name}: no entry: {refusal}")
            entries.remove(e)

    file = args.config or default_file(fmt, config, os.environ, Path.home())
    if file is None:
        if args.write:
            raise UserError("json only prints; name the file to merge into with --config PATH")
        print(plain(fmt.snippet(entries), layout=True), end="")
        return 0
    file = Path(os.path.abspath(file))
    text, bom = read_text(file, str(file))
    merged = fmt.merge(text, entries, config.file, force=args.force, what=str(file))
    if args.write:
        say(f"{fmt.title}: {file}")
    else:
        say(f"{fmt.title}: {file} would get these entries (nothing written; --write merges them)")
    verbs = _DONE if args.write else _VERBS
    for action in merged.actions:
        why = f": {action.detail}" if action.detail else ""
        say(f"  {verbs[action.kind]} {action.name}{why}")
    if not args.write:
        kept = {a.name for a in merged.actions if a.kind == "keep"}
        print(plain(fmt.snippet([e for e in entries if e.name not in kept]), layout=True), end="")
        return 0
    if merged.changed:
        write_text(file, merged.text, bom)
        say(f"wrote {file}")
    else:
        say("it already has these entries; nothing written")
    return 0
