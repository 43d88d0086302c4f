"""``${...}`` substitution with VS Code's meaning, as a pure function of an explicit context.

``${input:ID}`` is kept as written: its value is asked of the user at start, so the supervisor
calls ``resolve_inputs`` just before it launches the server. Any variable this module does not
know is an error rather than text passed on silently: a typo in ``${workspaceFolder}`` should
not reach a server as a literal path.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mcp_marshal.config.models import Folder, ServerSpec
from mcp_marshal.literal import visible

_VARIABLE = re.compile(r"\$\{([^{}]*)\}")
_FOLDER_SCOPED = ("workspaceFolder", "workspaceFolderBasename")
_KNOWN = (*_FOLDER_SCOPED, "userHome", "pathSeparator", "env:NAME", "input:ID")


@dataclass(frozen=True)
class VariableContext:
    """What variables resolve against. ``folders[0]`` is ``${workspaceFolder}``."""

    folders: Sequence[Folder]
    home: str
    env: Mapping[str, str]
    inputs: Collection[str] = ()


@dataclass(frozen=True, slots=True)
class VariableIssue:
    """A problem with one ``${...}`` occurrence; ``start``/``end`` index the original text."""

    start: int
    end: int
    message: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class Substituted:
    """``text`` resolved; ``inputs`` it still holds as ``${input:ID}``; ``env_values`` the
    (non-empty) values it took from ``${env:…}``, which are secrets wherever they land."""

    text: str
    inputs: frozenset[str] = frozenset()
    issues: tuple[VariableIssue, ...] = ()
    env_values: frozenset[str] = frozenset()


def substitute(text: str, ctx: VariableContext) -> Substituted:
    """Resolve every variable of ``text`` except ``${input:ID}``. Never raises on user input;
    messages name variables, never their values."""
    if "${" not in text:
        return Substituted(text)
    issues: list[VariableIssue] = []
    inputs: set[str] = set()
    env_values: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name, colon, arg = match.group(1).partition(":")
        written = match.group(0)
        shown = visible(written)

        def issue(message: str, severity: str = "error") -> str:
            issues.append(VariableIssue(match.start(), match.end(), message, severity))
            return written

        if name in _FOLDER_SCOPED:
            folder = _folder(ctx.folders, arg) if colon else (ctx.folders[0] if ctx.folders else None)
            if folder is None:
                names = ", ".join(f'"{visible(f.name)}"' for f in ctx.folders) or "none"
                return issue(f'no workspace folder named "{visible(arg)}" for {shown} (folders: {names})')
            return str(folder.path) if name == "workspaceFolder" else folder.path.name
        if name == "userHome" and not colon:
            return ctx.home
        if name in ("pathSeparator", "/") and not colon:
            return os.sep
        if name == "env" and arg:
            value = ctx.env.get(arg)
            if value is None:
                # VS Code substitutes an empty string; say so, since a missing token fails late.
                issue(f"environment variable {visible(arg)} is not set, so {shown} is empty", "warning")
                return ""
            if value:
                env_values.add(value)
            return value
        if name == "input" and arg:
            if arg not in ctx.inputs:
                return issue(f'input "{visible(arg)}" is not declared in "mcpMarshal.inputs"')
            inputs.add(arg)
            return written
        known = ", ".join(f"${{{k}}}" for k in _KNOWN)
        return issue(f"unknown variable {shown} (known: {known})")

    out = _VARIABLE.sub(replace, text)
    return Substituted(out, frozenset(inputs), tuple(issues), frozenset(env_values))


def resolve_inputs(spec: ServerSpec, values: Mapping[str, str]) -> ServerSpec:
    """``spec`` with every ``${input:ID}`` replaced by ``values[ID]``, ready to launch.

    Raises ``KeyError`` naming the first input of ``spec.inputs`` missing from ``values``:
    asking the user for every input before the launch is the caller's job.
    """
    missing = next((i for i in spec.inputs if i not in values), None)
    if missing is not None:
        raise KeyError(f"no value for input {missing!r} of server {spec.name!r}")
    if not spec.inputs:
        return spec

    def value(match: re.Match[str]) -> str:
        name, _, arg = match.group(1).partition(":")
        return values[arg] if name == "input" and arg in spec.inputs else match.group(0)

    def fill(text: str) -> str:
        return _VARIABLE.sub(value, text)

    def fill_opt(text: str | None) -> str | None:
        return None if text is None else fill(text)

    return dataclasses.replace(
        spec,
        command=fill_opt(spec.command),
        args=tuple(fill(a) for a in spec.args),
        env={k: fill_opt(v) for k, v in spec.env.items()},
        env_file=None if spec.env_file is None else Path(fill(str(spec.env_file))),
        cwd=None if spec.cwd is None else Path(fill(str(spec.cwd))),
        url=fill_opt(spec.url),
        headers={k: fill(v) for k, v in spec.headers.items()},
        inputs=(),
    )


def _folder(folders: Sequence[Folder], name: str) -> Folder | None:
    return next((f for f in folders if f.name == name), None)
