"""The ``mcp-marshal`` command line: a thin shell over the core.

Subcommands import their modules lazily so ``mcp-marshal lsp`` starts fast and ``check`` never
pays for the MCP or pygls imports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-marshal",
        description="Supervise the MCP servers declared in a VS Code .code-workspace file.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from mcp_marshal import cli_servers

    cli_servers.add_parsers(sub)

    lsp = sub.add_parser("lsp", help="run the language server (stdio by default)")
    lsp.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
    lsp.set_defaults(run=_run_lsp)

    from mcp_marshal import lock_cli

    lock_cli.add_parsers(sub)

    from mcp_marshal import telemetry_cli

    telemetry_cli.add_parsers(sub)
    return parser


def _run_lsp(args: argparse.Namespace) -> int:
    from mcp_marshal.lsp.server import run

    return run(tcp=args.tcp)


def _lsp_parser() -> argparse.ArgumentParser:
    """Only ``lsp``: the editor starts us often and waits for ``initialize``, so skip
    importing every other subcommand's module."""
    parser = argparse.ArgumentParser(prog="mcp-marshal")
    sub = parser.add_subparsers(dest="command", required=True)
    lsp = sub.add_parser("lsp")
    lsp.add_argument("--tcp", metavar="HOST:PORT")
    lsp.set_defaults(run=_run_lsp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _lsp_parser() if argv[:1] == ["lsp"] and "-h" not in argv and "--help" not in argv else build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
