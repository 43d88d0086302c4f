"""Command plumbing: positional arguments checked in the user's terms, errors as JSON-RPC errors.

pygls 2 spreads ``arguments`` into positional parameters and ignores defaults, so every command
is registered as ``(ls, *args)`` and reads its arguments through :class:`Args`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from mcp_marshal.errors import NotNow, UserError

if TYPE_CHECKING:
    from mcp_marshal.lsp.session import WorkspaceSession

log = logging.getLogger(__name__)


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed``: the arguments are fine but the request cannot run now."""

    CODE = -32803
    MESSAGE = "Request failed"


class Args:
    """The positional arguments of one call, read by index with clear errors."""

    def __init__(self, command: str, usage: str, raw: tuple[Any, ...]) -> None:
        self.command = command
        self.usage = usage
        self.raw = raw

    def invalid(self, problem: str) -> JsonRpcInvalidParams:
        """An ``InvalidParams`` naming the command, the problem and the usage."""
        return JsonRpcInvalidParams(f"{self.command}: {problem} (usage: {self.usage})")

    def text(self, index: int, what: str) -> str:
        """A required non-empty string."""
        if index >= len(self.raw):
            raise self.invalid(f"missing {what}")
        value = self.raw[index]
        if not isinstance(value, str) or not value:
            raise self.invalid(f"{what} must be a non-empty string, got {_json_type(value)}")
        return value

    def integer(self, index: int, what: str) -> int | None:
        """An optional integer ≥ 0 (JSON numbers with no fraction are accepted); ``None`` when
        left out."""
        if index >= len(self.raw) or self.raw[index] is None:
            return None
        value = self.raw[index]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.invalid(f"{what} must be an integer ≥ 0, got {_json_type(value)}")
        return value

    def at_most(self, count: int) -> None:
        if len(self.raw) > count:
            raise self.invalid(f"expected at most {count} argument(s), got {len(self.raw)}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    return "an array" if isinstance(value, list | tuple) else "an object"


Handler = Callable[["WorkspaceSession", Args], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Command:
    """A command: its usage line and a handler given the session and the checked arguments.

    ``needs_workspace=False`` lets the handler run with no workspace file (it then receives
    ``None`` as the session).
    """

    usage: str
    handler: Handler
    needs_workspace: bool = True


def register(server: LanguageServer, name: str, command: Command) -> None:
    async def run(ls: LanguageServer, *raw: Any) -> dict[str, Any]:
        args = Args(name, command.usage, raw)
        session = getattr(ls, "session", None)
        if session is None and command.needs_workspace:
            raise RequestFailed(f"{name}: no .code-workspace file is being supervised")
        try:
            return await command.handler(session, args)
        except NotNow as exc:
            raise RequestFailed(f"{name}: {exc}") from None
        except UserError as exc:
            raise args.invalid(str(exc)) from None

    run.__name__ = name
    server.command(name)(run)
