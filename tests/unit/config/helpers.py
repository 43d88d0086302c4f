"""Shared helpers: build workspace text and find where a snippet sits in it (LSP units)."""

from __future__ import annotations

import re
from pathlib import Path

from mcp_marshal.config import LoadResult, Problem, load_workspace

WS = Path("/ws/demo.code-workspace")
ENV = {"FILES_TOKEN": "s3cr3t-token", "PORT": "8931"}
HOME = Path("/home/ann")


def load(text: str, **kw: object) -> LoadResult:
    kw.setdefault("environ", ENV)
    kw.setdefault("home", HOME)
    return load_workspace(WS, text=text, **kw)  # type: ignore[arg-type]


def lsp_lines(text: str) -> list[str]:
    """The lines of ``text`` as an LSP client counts them: ``\n``, ``\r\n`` and ``\r`` end one."""
    return re.split(r"\r\n|\r|\n", text)


def units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def at(text: str, needle: str, nth: int = 0) -> tuple[int, int, int, int]:
    """(line, character, end_line, end_character) of the nth ``needle``, in LSP lines and UTF-16 units."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    before = lsp_lines(text[:index])
    line, char = len(before) - 1, units(before[-1])
    assert len(lsp_lines(needle)) == 1
    return line, char, line, char + units(needle)


def where(p: Problem) -> tuple[int, int, int, int]:
    return p.line, p.character, p.end_line, p.end_character


def only(result: LoadResult, code: str | None = None) -> Problem:
    problems = [p for p in result.problems if code is None or p.code == code]
    assert len(problems) == 1, [p.format() for p in result.problems]
    return problems[0]
