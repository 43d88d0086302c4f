"""``mcp-marshal import [FILE] [--workspace WS] [--write]``: another client's server entries
(VS Code ``mcp.json`` or ``settings.mcp``, a ``.mcp.json``, Cursor's or Claude's ``mcpServers``)
as ``mcpMarshal.servers`` in the workspace file, with its comments kept.

Without ``--write`` it prints the servers it would add (stdout; literal ``env``/``headers``
values shown as ``<redacted>``) and what it would change (stderr). The edited file must load
without errors, or nothing is written. Exit codes: 0 done; 1 nothing could be written (the
workspace file has problems, a file cannot be parsed); 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

from mcp_marshal.agents.jsonc_edit import CannotEdit, render
from mcp_marshal.cli.clients import EXIT_PROBLEMS, EXIT_USAGE, read_text, say, workspace_file, write_text
from mcp_marshal.cli.show import plain
from mcp_marshal.errors import UserError

_KINDS = {"skipped": "skipped", "inexact": "not exact", "ignored": "ignored", "secret": "secret"}
_VERBS = {"add": "add", "replace": "replace", "unchanged": "already there:", "keep": "leave alone"}
_DONE = {"add": "added", "replace": "replaced", "unchanged": "already there:", "keep": "left alone"}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="turn VS Code / Claude / Cursor MCP server entries into mcpMarshal.servers",
        description="Reads FILE (default: .vscode/mcp.json, .mcp.json, .cursor/mcp.json or the workspace's own"
        " settings.mcp, the first found) and adds its servers to the workspace file's mcpMarshal.servers.",
    )
    p.add_argument("file", nargs="?", type=Path, metavar="FILE", help="the file to import from")
    p.add_argument(
        "--workspace", type=Path, metavar="WS", help="the .code-workspace file to write (default: the one here)"
    )
    p.add_argument("--write", action="store_true", help="edit the workspace file (default: show what would change)")
    p.add_argument("--force", action="store_true", help="replace servers (and inputs) of the same name")
    p.add_argument("--from", dest="dialect", choices=["vscode", "claude", "cursor"],
                   help="whose variables FILE uses (default: guessed from its name)")  # fmt: skip
    p.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UserError as exc:
        say(f"error: {exc}")
        return EXIT_PROBLEMS if isinstance(exc, CannotEdit) else EXIT_USAGE


def _target(args: argparse.Namespace) -> Path:
    if args.workspace is not None:
        return workspace_file(args.workspace)
    if args.file is not None and args.file.name.endswith(".code-workspace"):
        return workspace_file(args.file)  # its own settings.mcp, into its own mcpMarshal.servers
    return workspace_file(None)


def _source_file(args: argparse.Namespace, ws: Path, first_folder: Path) -> Path:
    if args.file is not None:
        if not args.file.is_file():
            raise UserError(f"{args.file} is not a file")
        return Path(os.path.abspath(args.file))
    candidates = [first_folder / ".vscode" / "mcp.json", ws.parent / ".vscode" / "mcp.json",
                  ws.parent / ".mcp.json", ws.parent / ".cursor" / "mcp.json"]  # fmt: skip
    found = list(dict.fromkeys(c for c in candidates if c.is_file()))
    if not found:
        text, _ = read_text(ws, str(ws))
        if '"mcp"' in text:  # cheap: the real check is read_source's
            return ws
        raise UserError(f"nothing to import next to {ws}: name the file (a VS Code mcp.json, a .mcp.json, ...)")
    for other in found[1:]:
        say(f"also found {other}: import it with `mcp-marshal import {other}`")
    return found[0]


def _run(args: argparse.Namespace) -> int:
    from mcp_marshal.agents.translate import read_source, translate
    from mcp_marshal.agents.workspace_merge import merge_into_workspace, without_unloadable
    from mcp_marshal.config import load_workspace

    ws = Path(os.path.abspath(_target(args)))
    before = load_workspace(ws)
    if before.config is None:
        for problem in before.errors:
            say(f"{problem.format()} ({problem.severity})")
        say("fix the workspace file first (`mcp-marshal check` shows the same); nothing was changed")
        return EXIT_PROBLEMS
    folders = before.config.folders
    file = _source_file(args, ws, folders[0].path)
    source_text, _ = read_text(file, str(file))
    source = read_source(file, source_text, args.dialect)
    say(f"reading {file} ({source.kind}; {source.dialect} variables)")
    text, bom = read_text(ws, str(ws))
    translation = without_unloadable(ws, text, translate(source, folders), force=args.force)
    for note in translation.notes:
        prefix = f"{note.server}: " if note.server else ""
        say(f"  {_KINDS[note.kind]}: {prefix}{note.message}")
    merged = merge_into_workspace(text, translation, force=args.force, what=str(ws))
    verbs = _DONE if args.write else _VERBS
    for action in merged.actions:
        why = f": {action.detail}" if action.detail else ""
        say(f"  {verbs[action.kind]} {action.name}{why}")
    after = load_workspace(ws, text=merged.text)
    if after.config is None:  # a translation we got wrong: say so rather than write it
        for problem in after.errors:
            say(f"{problem.format()} ({problem.severity})")
        say("the edited workspace file would not load; nothing was changed (please report this)")
        return EXIT_PROBLEMS
    written = {a.name for a in merged.actions if a.kind in ("add", "replace")}
    if not args.write:
        shown_servers = {n: _redacted(e) for n, e in translation.servers.items() if n in written}
        preview: dict[str, Any] = {"mcpMarshal.servers": shown_servers}
        inputs = [a.name for a in merged.actions if a.name.startswith("input ") and a.kind in ("add", "replace")]
        if inputs:
            preview["mcpMarshal.inputs"] = [translation.inputs[i] for i in sorted(translation.inputs)
                                            if f'input "{i}"' in inputs]  # fmt: skip
        print(plain(render(preview), layout=True))
        say(
            f"{ws} would get these (nothing written; --write does it)" if merged.changed else f"{ws}: nothing to change"
        )
        return 0
    if merged.changed:
        write_text(ws, merged.text, bom)
        say(f"wrote {ws}")
        say(_next_step(source.dialect, file))
    else:
        say(f"{ws}: nothing to change")
    return 0


def _next_step(dialect: str, file: Path) -> str:
    """The client still starts its own copies from ``file``: how to hand them over to us."""
    if dialect == "vscode":
        return (f"VS Code still starts its own copies from {file}: remove them there once mcp-marshal runs"
                " (its extension offers the supervised servers to chat)")  # fmt: skip
    where = shlex.quote(str(file))
    return f"to point its client at the supervised copies: mcp-marshal clients json --config {where} --write --force"


def _redacted(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` to print: a literal ``env``/``headers`` value may be a secret; one made of
    variables (``${env:…}``, ``Bearer ${input:…}``) is shown, since it says where it comes from."""
    out = dict(entry)
    for key in ("env", "headers"):
        if isinstance(out.get(key), dict):
            out[key] = {k: v if not isinstance(v, str) or "${" in v else "<redacted>" for k, v in out[key].items()}
    return out
