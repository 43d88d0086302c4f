"""Server entries written for VS Code, Claude Code or Cursor, as ``mcpMarshal.servers`` entries
that mean the same, and a note for everything that does not carry over exactly.

Sources: VS Code's ``mcp.json`` (``servers``, ``inputs``), a ``.code-workspace`` or
``settings.json`` with ``settings.mcp``/``mcp``, and ``mcpServers`` files (``.mcp.json``,
``.cursor/mcp.json``, Claude Desktop's). Variables follow each client's dialect: VS Code and
Cursor write ``${env:X}``/``${workspaceFolder}``; Claude Code writes ``${X}`` (``${env:X}``
here) and ``${X:-default}``, which has no exact equivalent (our variables have no defaults).
"""

# pyright: strict

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import ValidationError

from mcp_marshal.agents.jsonc_edit import parse_or_refuse
from mcp_marshal.config.models import Folder, InputSettings
from mcp_marshal.errors import UserError

Dialect = Literal["vscode", "claude", "cursor"]
NoteKind = Literal["skipped", "inexact", "ignored", "secret"]

_VARIABLE = re.compile(r"\$\{([^{}]*)\}")
_CLAUDE_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_NESTED = re.compile(r"\$\{[^}]*\$\{")
_SECRET_NAME = re.compile(r"token|key|secret|passw|pwd|auth|credential|cookie|session", re.IGNORECASE)
_STDIO_FIELDS = ("type", "command", "args", "env", "envFile", "cwd")
_HTTP_FIELDS = ("type", "url", "headers")
# VS Code's own fields, which our schema accepts (so entries can be copied) and ignores.
_VSCODE_ONLY = {
    "dev": "VS Code's dev mode (watch, debug) is not mcp-marshal's; ignored",
    "sandboxEnabled": "VS Code's sandbox is not applied by mcp-marshal: the server runs unsandboxed",
    "oauth": "mcp-marshal does not sign in with OAuth: the server may refuse requests without a token in headers",
    "gallery": "",
    "version": "",
}
_INPUT_FIELDS = ("type", "id", "description", "password", "default", "options", "command", "args")


@dataclass(frozen=True, slots=True)
class Note:
    """Something that did not carry over exactly. ``server`` None: about the file. Never holds
    a value from the file (it may be a secret), only names."""

    server: str | None
    kind: NoteKind
    message: str


@dataclass(frozen=True)
class Source:
    """The server entries of one file, and what its variables and relative paths mean."""

    file: Path
    kind: str
    dialect: Dialect
    folder: Path
    servers: Mapping[str, Any]
    inputs: Sequence[Any] = ()
    folders: Sequence[Folder] = ()  # a .code-workspace source's own folders
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Translation:
    servers: dict[str, dict[str, Any]]
    inputs: dict[str, dict[str, Any]]
    """Every input the servers use, by id (``uses`` says which server uses which)."""
    uses: dict[str, frozenset[str]] = field(default_factory=dict[str, frozenset[str]])
    notes: list[Note] = field(default_factory=list[Note])


def _obj(value: Any) -> dict[str, Any] | None:
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def _seq(value: Any) -> list[Any] | None:
    return cast(list[Any], value) if isinstance(value, list) else None


# --- reading a source file -----------------------------------------------------------------------


def read_source(file: Path, text: str, dialect: Dialect | None = None) -> Source:
    """The servers ``file`` declares, and how to read them; ``UserError`` when it declares none
    in any known format. ``dialect`` overrides the one guessed from the file's name."""
    top = _obj(parse_or_refuse(text, str(file)).value)
    if top is None:
        raise UserError(f"{file} is empty")
    parent = file.parent
    folder = parent.parent if parent.name in (".vscode", ".cursor") else parent
    mcp = _obj(top.get("mcp"))
    settings = _obj(top.get("settings"))
    if settings is not None and file.name.endswith(".code-workspace"):
        mcp = _obj(settings.get("mcp"))
        if mcp is None:
            raise UserError(f'{file} has no "settings.mcp" (VS Code\'s own servers) to import')
        folders = _source_folders(file, top)
        first = folders[0].path if folders else parent
        return _vscode_source(file, "a .code-workspace's settings.mcp", mcp, first, folders, dialect)
    if "servers" in top or "inputs" in top:
        return _vscode_source(file, "VS Code mcp.json", top, folder, (), dialect)
    if mcp is not None:
        return _vscode_source(file, 'VS Code settings ("mcp")', mcp, folder, (), dialect)
    if "mcpServers" in top:
        servers = _obj(top.get("mcpServers"))
        if servers is None:
            raise UserError(f'"mcpServers" in {file} is not an object')
        guessed: Dialect = "cursor" if parent.name == ".cursor" else "claude"
        kind = "Cursor mcp.json" if guessed == "cursor" else "an mcpServers file (Claude Code .mcp.json)"
        extra = tuple(Note(None, "ignored", f'"{k}" is not translated') for k in top if k != "mcpServers")
        return Source(file, kind, dialect or guessed, folder, servers, notes=extra)
    if top and all(isinstance(v, dict) and ("command" in v or "url" in v) for v in top.values()):
        guessed = "cursor" if parent.name == ".cursor" else "claude"  # a bare server map, as VS Code accepts
        return Source(file, "a map of servers", dialect or guessed, folder, top)
    raise UserError(f'{file} declares no MCP servers (expected "servers", "mcpServers", "mcp" or "settings.mcp")')


def _vscode_source(
    file: Path, kind: str, block: dict[str, Any], folder: Path, folders: Sequence[Folder], dialect: Dialect | None
) -> Source:
    servers = _obj(block.get("servers", {}))
    inputs = _seq(block.get("inputs", []))
    if servers is None or inputs is None:
        raise UserError(f'"servers" must be an object and "inputs" an array in {file}')
    notes = tuple(
        Note(None, "ignored", f'"{k}" is not translated (mcp-marshal has no equivalent)')
        for k in block
        if k not in ("servers", "inputs")
    )
    return Source(file, kind, dialect or "vscode", folder, servers, inputs, folders, notes)


def _source_folders(file: Path, top: dict[str, Any]) -> list[Folder]:
    out: list[Folder] = []
    for entry in _seq(top.get("folders")) or []:
        item = _obj(entry)
        if item is not None and isinstance(item.get("path"), str):
            path = Path(os.path.normpath(file.parent / str(item["path"])))
            name = item.get("name")
            out.append(Folder(name if isinstance(name, str) else path.name, path))
    return out


# --- translating -------------------------------------------------------------------------------


class _Skip(Exception):
    """This server cannot be translated; the message says why."""


@dataclass
class _Server:
    """Translating one server: what its strings mean, and what was noticed on the way."""

    name: str
    source: Source
    target: Sequence[Folder]
    declared: frozenset[str]
    notes: list[Note]
    inputs: set[str] = field(default_factory=set[str])

    def note(self, kind: NoteKind, message: str) -> None:
        self.notes.append(Note(self.name, kind, message))

    def folder(self, path: Path) -> str:
        """``path`` (a folder) as the target workspace file names it."""
        for i, f in enumerate(self.target):
            if os.path.realpath(f.path) == os.path.realpath(path):
                return "${workspaceFolder}" if i == 0 else f"${{workspaceFolder:{f.name}}}"
        return str(path)

    def text(self, value: Any, where: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _Skip(f'"{where}" must be a string')
        value = _js_number(value) if not isinstance(value, str) else value
        if self.source.dialect == "claude":
            if _NESTED.search(value):
                raise _Skip(f"{where} nests one variable in another's default, which has no equivalent")
            return _VARIABLE.sub(lambda m: self.claude_variable(m, where), value)
        return _VARIABLE.sub(lambda m: self.vscode_variable(m, where), value)

    def vscode_variable(self, match: re.Match[str], where: str) -> str:
        written = match.group(0)
        name, colon, arg = match.group(1).partition(":")
        if name in ("workspaceFolder", "workspaceRoot", "workspaceFolderBasename"):
            path = self.source.folder
            if colon:
                named = next((f.path for f in self.source.folders if f.name == arg), None)
                if named is None and any(f.name == arg for f in self.target):
                    return written  # a folder the target workspace names the same way
                if named is None:
                    raise _Skip(f"{written} in {where}: no workspace folder is named so")
                path = named
            spelled = self.folder(path)
            if name != "workspaceFolderBasename":
                return spelled
            return spelled.replace("${workspaceFolder", "${workspaceFolderBasename") if "${" in spelled else path.name
        if not colon and name in ("userHome", "pathSeparator", "/"):
            return written
        if name == "env" and arg:
            return written
        if name == "input" and arg:
            if arg not in self.declared:
                raise _Skip(f'{written} in {where}: input "{arg}" is not declared in "inputs"')
            self.inputs.add(arg)
            return written
        raise _Skip(f"{written} in {where} has no equivalent in mcp-marshal")

    def claude_variable(self, match: re.Match[str], where: str) -> str:
        written = match.group(0)
        parsed = _CLAUDE_VARIABLE.match(match.group(1))
        if parsed is None:
            raise _Skip(f"{written} in {where} is not ${{VAR}} or ${{VAR:-default}}")
        var, default = parsed.group(1), parsed.group(2)
        if default:  # no defaults here: the default keeps the entry working where VAR is unset (the usual case)
            self.note(
                "inexact",
                f"${{{var}:-…}} in {where} became its default: mcp-marshal variables have no defaults, so {var}"
                f" no longer overrides it (write ${{env:{var}}} to take it from the environment instead)",
            )
            return default
        return f"${{env:{var}}}"  # ${VAR:-} is ${VAR}: empty when unset, as ours is

    def path(self, value: Any, where: str) -> str:
        """A path field: relative paths meant the source's folder; ours are relative to the
        workspace file, so they are anchored to the folder explicitly."""
        return self.anchored(self.text(value, where), self.folder(self.source.folder))

    @staticmethod
    def anchored(text: str, base: str) -> str:
        if text.startswith(("/", "~", "${")) or os.path.isabs(text):
            return text
        return f"{base.rstrip('/')}/{text.removeprefix('./')}"

    def mapping(self, value: Any, where: str, *, nulls: bool) -> dict[str, Any]:
        block = _obj(value)
        if block is None:
            raise _Skip(f'"{where}" must be an object')
        out: dict[str, Any] = {}
        for key, item in block.items():
            if nulls and (item is None or (isinstance(item, int | float) and not isinstance(item, bool))):
                out[key] = item  # env takes null (unset) and numbers as they are
            else:
                out[key] = self.text(item, f"{where}.{key}")
            written = out[key]
            if isinstance(written, str) and written and "${" not in written and _SECRET_NAME.search(key):
                self.note("secret", f"{where}.{key} is written as a literal value, so it is now in the workspace"
                          f" file too; ${{env:…}} or an input keeps it out")  # fmt: skip
        return out


def translate(source: Source, target: Sequence[Folder]) -> Translation:
    """Every server of ``source`` that can be expressed for a workspace with ``target`` folders
    (``target[0]`` is its ``${workspaceFolder}``), the inputs they use, and a note for each
    thing that did not carry over exactly (skipped servers say why)."""
    notes = list(source.notes)
    declared: dict[str, dict[str, Any]] = {}
    for raw in source.inputs:
        item = _obj(raw)
        if item is not None and isinstance(item.get("id"), str):
            declared[str(item["id"])] = item
    servers: dict[str, dict[str, Any]] = {}
    uses: dict[str, frozenset[str]] = {}
    for name, raw in source.servers.items():
        state = _Server(name, source, target, frozenset(declared), notes)
        try:
            servers[name] = _server(state, raw)
        except _Skip as why:
            notes.append(Note(name, "skipped", f"not imported: {why}"))
            continue
        uses[name] = frozenset(state.inputs)
    inputs: dict[str, dict[str, Any]] = {}
    for input_id in sorted({i for used in uses.values() for i in used}):
        entry, why = _input(declared[input_id], notes)
        if entry is not None:
            inputs[input_id] = entry
            continue
        for name in [n for n, used in uses.items() if input_id in used]:
            del servers[name], uses[name]
            notes.append(Note(name, "skipped", f'not imported: its input "{input_id}" {why}'))
    unused = [i for i in declared if i not in inputs and not any(i in u for u in uses.values())]
    if unused:
        notes.append(Note(None, "ignored", f"inputs no imported server uses are not imported: {', '.join(unused)}"))
    return Translation(servers, inputs, uses, notes)


def _server(s: _Server, raw: Any) -> dict[str, Any]:
    entry = _obj(raw)
    if entry is None:
        raise _Skip("an entry must be an object")
    kind = entry.get("type")
    if kind in ("streamable-http", "streamableHttp"):  # other clients' names for Streamable HTTP
        kind = "http"
    if kind is None:
        kind = "stdio" if "command" in entry else "http" if "url" in entry else None
    if kind not in ("stdio", "http", "sse"):
        raise _Skip(f'unknown type "{entry.get("type")}"' if "type" in entry else 'it has neither "command" nor "url"')
    out: dict[str, Any] = {"type": kind} if "type" in entry else {}
    fields = _STDIO_FIELDS if kind == "stdio" else _HTTP_FIELDS
    if kind == "stdio":
        if not isinstance(entry.get("command"), str) or not entry["command"]:
            raise _Skip('"command" must be a non-empty string')
        args = _seq(entry.get("args", []))
        if args is None:
            raise _Skip('"args" must be an array')
        cwd = s.path(entry["cwd"], "cwd") if "cwd" in entry else None
        command = s.text(entry["command"], "command")
        if "/" in command or os.sep in command:  # a relative path to a program was relative to its cwd
            command = s.anchored(command, cwd if cwd is not None else s.folder(s.source.folder))
        out["command"] = command
        if "args" in entry:
            out["args"] = [s.text(a, f"args[{i}]") for i, a in enumerate(args)]
        if "env" in entry:
            out["env"] = s.mapping(entry["env"], "env", nulls=True)
        if "envFile" in entry:
            out["envFile"] = s.path(entry["envFile"], "envFile")
        default_cwd = s.folder(s.source.folder)
        if cwd is not None:
            out["cwd"] = cwd
        elif default_cwd != "${workspaceFolder}":  # the client ran it in its own folder; so do we
            out["cwd"] = default_cwd
    else:
        if not isinstance(entry.get("url"), str):
            raise _Skip('"url" must be a string')
        out["url"] = s.text(entry["url"], "url")
        if "headers" in entry:
            out["headers"] = s.mapping(entry["headers"], "headers", nulls=False)
        if kind == "sse":
            s.note("ignored", "a legacy SSE server: supervised, but the gateway does not relay it to agents")
    for key, value in entry.items():
        if key in fields:
            continue
        if key in _VSCODE_ONLY and (key != "oauth" or kind != "stdio"):
            out[key] = value  # accepted by our schema and ignored, so the entry stays VS Code's too
            if _VSCODE_ONLY[key]:
                s.note("ignored", f'"{key}": {_VSCODE_ONLY[key]}')
        else:
            s.note("ignored", f'"{key}" is not translated (mcp-marshal has no such field); dropped')
    return out


def _input(raw: dict[str, Any], notes: list[Note]) -> tuple[dict[str, Any] | None, str]:
    """An input as ``mcpMarshal.inputs`` takes it, or None and why not."""
    out = {k: raw[k] for k in _INPUT_FIELDS if k in raw}
    options = _seq(out.get("options"))
    if options is not None and not all(isinstance(o, str) for o in options):
        values = [_obj(o).get("value") if _obj(o) is not None else o for o in options]  # pyright: ignore[reportOptionalMemberAccess]
        out["options"] = values
        notes.append(Note(None, "inexact", f'input "{raw["id"]}": option labels are not kept, only their values'))
    for key in raw:
        if key not in _INPUT_FIELDS:
            notes.append(Note(None, "ignored", f'input "{raw["id"]}": "{key}" is not translated; dropped'))
    try:
        InputSettings.model_validate(out, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"cannot be translated ({where}: {first['msg'].lower()})"
    return out, ""


def _js_number(value: float) -> str:
    """A JSON number as the client passed it on (JavaScript's ``String(1.0)`` is ``"1"``)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
