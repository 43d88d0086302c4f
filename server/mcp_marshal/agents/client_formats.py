"""The clients' own configuration files, and how our entries merge into them.

| client | file (default)                              | servers under                   |
|--------|---------------------------------------------|---------------------------------|
| claude | ``.mcp.json`` beside the workspace file      | ``mcpServers``                  |
| codex  | ``$CODEX_HOME/config.toml`` (``~/.codex``)   | ``[mcp_servers.NAME]`` tables   |
| cursor | ``.cursor/mcp.json`` beside it               | ``mcpServers``                  |
| vscode | ``.vscode/mcp.json`` in its first folder     | ``servers``, ``"type": "stdio"`` |
| json   | none: printed, or ``--config FILE``          | ``mcpServers``                  |

A merge keeps every other entry and byte it can: JSON/JSONC are edited at exact spans
(``jsonc_edit``), TOML through tomlkit. An entry we wrote before (``connect_entries.ownership``)
is updated in place; one the user wrote is left alone unless forced.
"""

# pyright: strict

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Comment, InlineTable, Table, Whitespace

from mcp_marshal.agents import jsonc_edit
from mcp_marshal.agents.connect_entries import Entry, Ownership, ownership
from mcp_marshal.agents.jsonc_edit import CannotEdit
from mcp_marshal.config.models import Config

ActionKind = Literal["add", "update", "unchanged", "replace", "keep", "stale"]
# Codex refuses other server names when it loads its configuration.
_CODEX_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class Action:
    """What a merge does to one entry; ``keep`` (left alone) says why in ``detail``; ``stale``
    is an entry we wrote for a server the workspace no longer has (left for the user to remove)."""

    name: str
    kind: ActionKind
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Merged:
    text: str
    actions: tuple[Action, ...]

    @property
    def changed(self) -> bool:
        return any(a.kind in ("add", "update", "replace") for a in self.actions)


@dataclass(frozen=True, slots=True)
class ClientFormat:
    name: str
    title: str
    key: str
    syntax: Literal["json", "toml"]
    typed: bool = False  # VS Code's entries say ``"type": "stdio"``

    def entry(self, e: Entry) -> dict[str, Any]:
        """``e`` as this client writes a stdio server."""
        out: dict[str, Any] = {"type": "stdio"} if self.typed else {}
        out |= {"command": e.command, "args": list(e.args)}
        if e.env:
            out["env"] = dict(e.env)
        return out

    def refusal(self, e: Entry) -> str | None:
        """Why this client cannot take ``e`` at all, if it cannot."""
        if self.syntax == "toml" and not _CODEX_NAME.match(e.name):
            return "Codex accepts only letters, digits, '-' and '_' in server names"
        return None

    def snippet(self, entries: Sequence[Entry]) -> str:
        """The entries alone, as this client's file would hold them."""
        if self.syntax == "toml":
            doc = tomlkit.document()
            doc.add(self.key, _toml_servers({e.name: self.entry(e) for e in entries}))
            return tomlkit.dumps(doc)
        return jsonc_edit.set_value("", [self.key], {e.name: self.entry(e) for e in entries})

    def merge(self, text: str, entries: Sequence[Entry], workspace: Path, *, force: bool, what: str) -> Merged:
        """``text`` (the client's file, maybe empty) with ``entries`` merged in. ``CannotEdit``
        when the text cannot be parsed or holds something else where the servers go."""
        if self.syntax == "toml":
            return _merge_toml(self, text, entries, workspace, force=force, what=what)
        return _merge_json(self, text, entries, workspace, force=force, what=what)


FORMATS: dict[str, ClientFormat] = {
    f.name: f
    for f in (
        ClientFormat("claude", "Claude Code", "mcpServers", "json"),
        ClientFormat("codex", "Codex", "mcp_servers", "toml"),
        ClientFormat("cursor", "Cursor", "mcpServers", "json"),
        ClientFormat("vscode", "VS Code", "servers", "json", typed=True),
        ClientFormat("json", "a generic MCP client", "mcpServers", "json"),
    )
}


def default_file(fmt: ClientFormat, config: Config, environ: Mapping[str, str], home: Path) -> Path | None:
    """Where ``fmt``'s client reads its servers for this workspace (None for ``json``)."""
    project = config.file.parent
    if fmt.name == "claude":
        return project / ".mcp.json"
    if fmt.name == "cursor":
        return project / ".cursor" / "mcp.json"
    if fmt.name == "vscode":  # VS Code reads .vscode/mcp.json in each workspace folder
        folder = config.folders[0].path if config.folders else project
        return folder / ".vscode" / "mcp.json"
    if fmt.name == "codex":
        codex_home = environ.get("CODEX_HOME")
        return (Path(codex_home) if codex_home else home / ".codex") / "config.toml"
    return None


# --- deciding ----------------------------------------------------------------------------------


def _decide(current: Any, new: Mapping[str, Any], e: Entry, workspace: Path, force: bool) -> Action:
    if current is None:
        return Action(e.name, "add")
    owner: Ownership = ownership(current, e.name, workspace)
    if owner == "ours":
        now = cast(Mapping[str, Any], current)
        env = now.get("env")
        same = all(now.get(k) == v for k, v in new.items() if k != "env")
        same = same and (
            not e.env or (isinstance(env, Mapping) and e.env.items() <= cast(Mapping[str, Any], env).items())
        )
        return Action(e.name, "unchanged" if same else "update")
    if force:
        return Action(e.name, "replace")
    why = "it connects to another workspace" if owner == "other-workspace" else "you wrote it"
    return Action(e.name, "keep", f"an entry of this name is there and {why}; --force replaces it")


def _stale(existing: Mapping[str, Any], entries: Sequence[Entry], workspace: Path) -> list[Action]:
    names = {e.name for e in entries}
    why = "written for this workspace, which has no such server now; remove it if it is not wanted"
    return [
        Action(name, "stale", why)
        for name, value in existing.items()
        if name not in names and ownership(_plain(value), name, workspace) == "ours"
    ]


def _plain(value: Any) -> Any:
    return value.unwrap() if isinstance(value, Table | InlineTable) else value


# --- JSON / JSONC ------------------------------------------------------------------------------


def _merge_json(
    fmt: ClientFormat, text: str, entries: Sequence[Entry], workspace: Path, *, force: bool, what: str
) -> Merged:
    doc = jsonc_edit.parse_or_refuse(text, what)
    top: Any = {} if doc.empty else doc.value
    if not isinstance(top, dict):
        raise CannotEdit(f"{what} does not hold a JSON object; nothing was changed")
    servers: Any = cast(dict[str, Any], top).get(fmt.key, {})
    if not isinstance(servers, dict):
        raise CannotEdit(f'"{fmt.key}" in {what} is not an object; nothing was changed')
    servers = cast(dict[str, Any], servers)
    actions: list[Action] = []
    for e in entries:
        new = fmt.entry(e)
        action = _decide(servers.get(e.name), new, e, workspace, force)
        actions.append(action)
        if action.kind in ("add", "replace"):
            text = jsonc_edit.set_value(text, [fmt.key, e.name], new, what=what)
        elif action.kind == "update":  # our fields only: whatever the user added stays
            for k, v in new.items():
                if k == "env":
                    for var, value in e.env.items():
                        text = jsonc_edit.set_value(text, [fmt.key, e.name, "env", var], value, what=what)
                else:
                    text = jsonc_edit.set_value(text, [fmt.key, e.name, k], v, what=what)
    return Merged(text, (*actions, *_stale(servers, entries, workspace)))


# --- TOML (Codex) ------------------------------------------------------------------------------


def _merge_toml(
    fmt: ClientFormat, text: str, entries: Sequence[Entry], workspace: Path, *, force: bool, what: str
) -> Merged:
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise CannotEdit(f"{what}: {exc}; nothing was changed") from None
    found = _get(doc, fmt.key)
    if found is None:
        found = tomlkit.table(is_super_table=True)
        doc.add(fmt.key, found)
    elif not isinstance(found, Table | InlineTable):
        raise CannotEdit(f'"{fmt.key}" in {what} is not a table; nothing was changed')
    servers: Table | InlineTable = found
    actions: list[Action] = []
    for e in entries:
        new = fmt.entry(e)
        current = _get(servers, e.name)
        action = _decide(_plain(current), new, e, workspace, force)
        actions.append(action)
        if action.kind == "add":
            _add_table(servers, e.name, new)
        elif action.kind == "replace":
            servers[e.name] = _toml_table(new, inline=isinstance(servers, InlineTable))
        elif action.kind == "update":
            assert isinstance(current, Table | InlineTable)
            for k, v in new.items():
                env = _get(current, "env")
                if k != "env":
                    current[k] = v
                elif isinstance(env, Table | InlineTable):
                    for var, value in e.env.items():
                        env[var] = value
                else:
                    current["env"] = _toml_inline(e.env)
    stale = _stale({k: _get(servers, k) for k in servers}, entries, workspace)
    return Merged(tomlkit.dumps(doc), (*actions, *stale))


def _get(table: Any, key: str) -> Any:
    """``table[key]`` or None: tomlkit's containers are untyped mappings."""
    return cast(Mapping[str, Any], table).get(key)


def _add_table(servers: Table | InlineTable, name: str, entry: Mapping[str, Any]) -> None:
    """A new ``[mcp_servers.NAME]`` after the last one; the comments and blank lines that ended
    the last one (they introduce what follows it) move below the new table."""
    if isinstance(servers, InlineTable):
        servers.add(name, _toml_inline(entry))
        return
    tables = [v for k, v in servers.value.body if k is not None and isinstance(v, Table)]
    trivia: list[tuple[Any, Any]] = []
    if tables:
        body = tables[-1].value.body
        while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace | Comment):
            trivia.insert(0, body.pop())
    table = _toml_table(entry, inline=False)
    servers.add(name, table)
    table.value.body.extend(trivia)


def _toml_servers(entries: Mapping[str, Mapping[str, Any]]) -> Table:
    servers = tomlkit.table(is_super_table=True)
    for name, entry in entries.items():
        servers.add(name, _toml_table(entry, inline=False))
    return servers


def _toml_table(entry: Mapping[str, Any], *, inline: bool) -> Table | InlineTable:
    if inline:
        return _toml_inline(entry)
    table = tomlkit.table()
    for k, v in entry.items():
        table.add(k, _toml_inline(cast(Mapping[str, Any], v)) if isinstance(v, Mapping) else v)
    return table


def _toml_inline(value: Mapping[str, Any]) -> InlineTable:
    table = tomlkit.inline_table()
    for k, v in value.items():
        table[k] = v
    return table
