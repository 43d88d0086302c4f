"""Configuration problems as diagnostics on the workspace file (and the buffer being edited)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

from mcp_marshal.config.problems import Problem

SOURCE = "mcp-marshal"
#: What an editor's own JSON checker already reports (the file is JSONC for every editor).
SYNTAX_CODES = frozenset({"syntax", "duplicate-key"})
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def uri_of(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


def to_diagnostic(problem: Problem) -> types.Diagnostic:
    """Problems already use LSP units (0-based lines, UTF-16 characters): copy them straight."""
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=problem.line, character=problem.character),
            end=types.Position(line=problem.end_line, character=problem.end_character),
        ),
        message=problem.message,
        severity=_SEVERITY.get(problem.severity, types.DiagnosticSeverity.Error),
        code=problem.code,
        source=SOURCE,
    )


class Diagnostics:
    """Publishes problems on the workspace file and clears files whose problems went away."""

    def __init__(self, ls: LanguageServer, workspace_file: Path, *, syntax: bool = True) -> None:
        self._ls = ls
        self._syntax = syntax
        """False where the editor checks JSON syntax itself (VS Code): not reported twice."""
        self._file = workspace_file
        self._uri = uri_of(workspace_file)  # published on every keystroke: convert it once
        self._published: set[str] = set()

    def publish(self, problems: Iterable[Problem]) -> None:
        """Replace the diagnostics; an empty ``problems`` clears them.

        A problem whose ``file`` names another file (an ``envFile``, say) is published there.
        """
        by_uri: dict[str, list[types.Diagnostic]] = {self._uri: []}
        for problem in problems:
            if not self._syntax and problem.code in SYNTAX_CODES:
                continue
            by_uri.setdefault(self._uri_for(problem), []).append(to_diagnostic(problem))
        for uri in self._published - by_uri.keys():
            by_uri[uri] = []
        for uri, diagnostics in by_uri.items():
            self._ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))
        self._published = {uri for uri, diagnostics in by_uri.items() if diagnostics}

    def _uri_for(self, problem: Problem) -> str:
        if not problem.file:
            return self._uri
        path = Path(problem.file)
        return uri_of(path if path.is_absolute() else self._file.parent / path)
