"""Shared helpers: build workspace text and find where a snippet sits in it (LSP units)."""

from __future__ import annotations

from pathlib import Path

from mcp_marshal.config import LoadResult, Problem, load_workspace

WS = Path("/ws/demo.code-workspace")
ENV = {"FILES_TOKEN": "s3cr3t-token", "PORT": "8931"}
HOME = Path("/home/ann")


def load(text: str, **kw: object) -> LoadResult:
    kw.setdefault("environ", ENV)
    kw.setdefault("home", HOME)
    return load_workspace(WS, text=text, **kw)  # type: ignore[arg-type]


def at(text: str, needle: str, nth: int = 0) -> tuple[int, int, int, int]:
    """(line, character, end_line, end_character) of the nth ``needle``, in UTF-16 units."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    before = text[:index]
    line = before.count("\n")
    start = before[before.rfind("\n") + 1 :]
    char = len(start.encode("utf-16-le")) // 2
    width = len(needle.encode("utf-16-le")) // 2
    assert "\n" not in needle
    return line, char, line, char + width


def where(p: Problem) -> tuple[int, int, int, int]:
    return p.line, p.character, p.end_line, p.end_character


def only(result: LoadResult, code: str | None = None) -> Problem:
    problems = [p for p in result.problems if code is None or p.code == code]
    assert len(problems) == 1, [p.format() for p in result.problems]
    return problems[0]
