"""The ``mcp-marshal`` command line: a thin shell over the core.

Subcommands import their modules lazily so ``mcp-marshal lsp`` starts fast and ``check`` never
pays for the MCP or pygls imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each subcommand's module, imported only when that subcommand (or the full --help) is asked for:
# `mcp-marshal up` and `lsp` are started often and should not pay for the lease or telemetry code.
COMMANDS = {
    "up": "servers", "check": "servers", "probe": "servers",
    "lsp": None, "lock": "locks", "telemetry": "telemetry",
    "gateway": "gateway", "connect": "gateway",
    "clients": "clients", "import": "import_config", "trust": "trust",
}  # fmt: skip


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser for every subcommand, or, with ``only``, for that one alone (same arguments)."""
    parser = argparse.ArgumentParser(
        prog="mcp-marshal",
        description="Supervise the MCP servers declared in a VS Code .code-workspace file.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    done: set[str | None] = set()
    for command, module in COMMANDS.items():
        if (only is not None and command != only) or module in done:
            continue
        done.add(module)
        if module is None:
            lsp = sub.add_parser("lsp", help="run the language server (stdio by default)")
            lsp.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
            # What LSP clients (vscode-languageclient among them) append by convention: stdio is our default.
            lsp.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
            lsp.set_defaults(run=_run_lsp)
        else:
            importlib.import_module(f"mcp_marshal.cli.{module}").add_parsers(sub)
    return parser


def _run_lsp(args: argparse.Namespace) -> int:
    from mcp_marshal.lsp.server import run

    return run(tcp=args.tcp)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
