"""``workspace/executeCommand``: one small module per area, each with a ``COMMANDS`` table.

Adding an area (locks, telemetry) means adding a module whose ``COMMANDS`` maps
``mcpMarshal.<name>`` to a :class:`~mcp_marshal.lsp.commands.args.Command`, and listing it here.
"""

from __future__ import annotations

from pygls.lsp.server import LanguageServer

from mcp_marshal.lsp.commands import gateway, locks, servers, telemetry
from mcp_marshal.lsp.commands.args import Command, register

MODULES = (servers, locks, telemetry, gateway)


def register_all(server: LanguageServer) -> None:
    for module in MODULES:
        table: dict[str, Command] = module.COMMANDS
        for name, command in table.items():
            register(server, name, command)
