"""A problem a user can fix in their workspace file, with its exact place in that file."""

from __future__ import annotations

from dataclasses import dataclass

from mcp_marshal.literal import visible


@dataclass(frozen=True, slots=True)
class Problem:
    """One user-facing problem.

    ``line``/``character`` and ``end_line``/``end_character`` are 0-based, with characters in
    UTF-16 code units (what LSP clients expect). ``column`` is the 1-based code-point column of
    the start, for ``file:line:col`` output in a terminal.
    """

    file: str
    line: int
    character: int
    end_line: int
    end_character: int
    message: str
    column: int = 0
    code: str = "invalid"
    severity: str = "error"

    def format(self) -> str:
        """``file:line:col: message`` with 1-based line and column, as compilers print it; safe
        for a terminal (a file name may hold control characters too)."""
        col = self.column or self.character + 1
        return f"{visible(self.file)}:{self.line + 1}:{col}: {visible(self.message)}"
