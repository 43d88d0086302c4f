"""Errors a user causes and can fix: one family that every shell catches, and nothing broader.

A ``UserError``'s message is written for the person who made the mistake (what is wrong, in
their terms, and what would be right); shells print it as is (CLI), answer with it (LSP
``InvalidParams``/``RequestFailed``, an MCP tool error). Any other exception is a bug.
"""

from __future__ import annotations


class UserError(Exception):
    """A bad argument, an unknown name, a missing file: ``code`` classifies it for machines."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class NotNow(UserError):
    """The request is fine but cannot run in the current state (not trusted yet, not running):
    the user can act and retry. LSP answers it with ``RequestFailed``, not ``InvalidParams``."""

    code = "not-now"
