"""A ``.code-workspace`` file → a validated, resolved ``Config``, or the problems that stop it.

Everything a user can get wrong is a ``Problem`` with its exact place in the file, in the
user's terms; nothing here raises on bad input. Reading the file is the only I/O: pass
``text`` (an editor's unsaved buffer) and the rest is a pure function of its arguments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, ValidationError

from mcp_marshal.config import dag
from mcp_marshal.config.jsonc import JsoncDocument, JsonPath, Span, parse_jsonc
from mcp_marshal.config.messages import validation_problems
from mcp_marshal.config.models import (
    PREFIX,
    Config,
    Folder,
    HttpServerSettings,
    InputSettings,
    Launch,
    MarshalSettings,
    ServerSettings,
    ServerSpec,
    StdioServerSettings,
)
from mcp_marshal.config.problems import Problem
from mcp_marshal.config.variables import VariableContext, substitute
from mcp_marshal.errors import UserError
from mcp_marshal.literal import visible

#: Problems reported per file at most; one more says how many were left out.
MAX_PROBLEMS = 100
#: Settings for the editor extension (how to launch us), not for the supervisor: not ours to check.
CLIENT_SECTIONS = frozenset({"server"})


@dataclass(frozen=True)
class LoadResult:
    """``config`` is ``None`` exactly when some problem has severity ``error``; warnings and
    information never block a configuration."""

    config: Config | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


class WorkspaceNotFound(UserError):
    """No single ``*.code-workspace`` file where one was expected (which the user can fix)."""

    code = "workspace-not-found"


def find_workspace_file(directory: Path) -> Path:
    """The one ``*.code-workspace`` file directly in ``directory``."""
    found = sorted(directory.glob("*.code-workspace"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise WorkspaceNotFound(f"no *.code-workspace file in {visible(str(directory))}")
    names = ", ".join(visible(p.name) for p in found)
    raise WorkspaceNotFound(f"several *.code-workspace files in {visible(str(directory))} ({names}); name one")


def load_workspace(
    path: Path,
    *,
    text: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> LoadResult:
    """Parse, validate and resolve the workspace file at ``path`` (or ``text``, its content).

    ``environ`` and ``home`` feed ``${env:…}`` and ``${userHome}``/``~``; they default to this
    process's. Relative paths in the file are relative to the file's directory.
    """
    file = Path(os.path.abspath(path))
    if text is None:
        try:
            with open(file, encoding="utf-8-sig", newline="") as f:  # line breaks as written, as an editor sees them
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            return LoadResult(None, (_problem_at_start(file, f"cannot read the workspace file: {reason}"),))
    loader = _Loader(
        file,
        parse_jsonc(text),
        os.environ if environ is None else environ,
        str(home if home is not None else Path.home()),
    )
    config = loader.load()
    problems = sorted(loader.problems, key=lambda p: (p.line, p.character))
    if any(p.severity == "error" for p in problems):
        config = None
    return LoadResult(config, _capped_problems(problems))


def _capped_problems(problems: list[Problem]) -> tuple[Problem, ...]:
    """The first ``MAX_PROBLEMS``, then one that counts the rest: an editor recomputes them on
    every keystroke, and a terminal has to print them."""
    if len(problems) <= MAX_PROBLEMS:
        return tuple(problems)
    rest = problems[MAX_PROBLEMS:]
    worst = next((s for s in ("error", "warning", "information") if any(p.severity == s for p in rest)), "hint")
    first = rest[0]
    more = replace(
        first,
        message=f"{len(rest)} more problems in this file are not shown (the first {MAX_PROBLEMS} are)",
        code="too-many-problems",
        severity=worst,
    )
    return (*problems[:MAX_PROBLEMS], more)


def _problem_at_start(file: Path, message: str, code: str = "unreadable") -> Problem:
    return Problem(str(file), 0, 0, 0, 0, message, column=1, code=code)


# The top level of a workspace file; only what we read is checked, the rest is VS Code's.
class _FolderEntry(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    path: str | None = None
    uri: str | None = None
    name: str | None = None


class _WorkspaceFile(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    folders: list[_FolderEntry] = []
    settings: dict[str, Any] = {}


class _Loader:
    def __init__(self, file: Path, doc: JsoncDocument, environ: Mapping[str, str], home: str) -> None:
        self.file, self.doc, self.environ, self.home = file, doc, environ, home
        self.base = file.parent
        self.problems: list[Problem] = []
        # Settings key (no prefix) → where it is written in the file.
        self.where: dict[str, JsonPath] = {}

    # --- problems ------------------------------------------------------------------------------

    def add(self, span: Span, message: str, code: str, severity: str = "error") -> None:
        self.problems.append(
            Problem(
                str(self.file),
                span.line,
                span.character,
                span.end_line,
                span.end_character,
                message,
                column=span.column,
                code=code,
                severity=severity,
            )
        )

    def add_at(self, path: JsonPath, message: str, code: str, *, key: bool = False, severity: str = "error") -> None:
        """A problem at the value (or, with ``key``, the key) written at ``path``, or at the
        deepest part of ``path`` that exists."""
        value, key_node, _ = self.doc.find(path)
        node = key_node if key and key_node is not None else value
        self.add(self.span_of(node), message, code, severity)

    def report(self, exc: ValidationError, settings_at: Mapping[str, JsonPath] | None = None) -> None:
        for span, message in validation_problems(exc, self.doc, settings_at):
            self.add(span, message, "invalid")

    def span_of(self, node: Any) -> Span:
        """The span of ``node``; the whole document when nothing was found."""
        return self.doc.span(node) if node is not None else self.doc.root_span()

    # --- the steps -----------------------------------------------------------------------------

    def load(self) -> Config | None:
        doc = self.doc
        for error in doc.errors:
            self.add(error.span, error.message, error.code)
        for span, key in doc.duplicates:
            self.add(span, f'duplicate key "{visible(key)}"; the last one is used', "duplicate-key", "warning")
        if doc.errors:
            return None
        if doc.empty:
            self.problems.append(_problem_at_start(self.file, "the workspace file is empty", "empty"))
            return None
        value: Any = doc.value
        if not isinstance(value, dict):
            self.add(doc.root_span(), "a workspace file must be a JSON object", "invalid")
            return None
        try:
            top = _WorkspaceFile.model_validate(value)
        except ValidationError as exc:
            self.report(exc)
            return None
        folders = self.folders(top.folders)
        settings = self.marshal_settings(top.settings)
        if settings is None or folders is None:
            return None
        return self.resolve(settings, folders)

    def folders(self, entries: Sequence[_FolderEntry]) -> tuple[Folder, ...] | None:
        out: list[Folder] = []
        for i, entry in enumerate(entries):
            if entry.path is not None:
                path = Path(os.path.normpath(self.base / entry.path))
            elif entry.uri is not None and urlparse(entry.uri).scheme == "file":
                path = Path(unquote(urlparse(entry.uri).path))
            elif entry.uri is not None:
                self.add_at(
                    ("folders", i, "uri"),
                    "remote folders are not supported; ignored",
                    "folder",
                    severity="warning",
                )
                continue
            else:
                self.add_at(("folders", i), 'a folder needs a "path"', "folder")
                return None
            out.append(Folder(entry.name or path.name, path))
        # VS Code opens a workspace without folders too; its own directory stands in.
        return tuple(out) or (Folder(self.base.name, self.base),)

    def marshal_settings(self, settings: Mapping[str, Any]) -> MarshalSettings | None:
        raw: dict[str, Any] = {}
        for key, value in settings.items():
            name = key.removeprefix(PREFIX)
            if name != key and name.split(".")[0] not in CLIENT_SECTIONS:
                raw[name] = value
                self.where[name] = ("settings", key)
        nested: Any = settings.get(PREFIX[:-1])
        if isinstance(nested, dict):  # VS Code also accepts "mcpMarshal": {"servers": …}
            for key, value in cast("dict[str, Any]", nested).items():
                if key in CLIENT_SECTIONS:
                    continue
                if key in raw:
                    where = ("settings", PREFIX[:-1], key)
                    self.add_at(
                        where,
                        f'"{PREFIX}{visible(key)}" is set twice; this one is ignored',
                        "duplicate-key",
                        key=True,
                        severity="warning",
                    )
                    continue
                raw[key] = value
                self.where[key] = ("settings", PREFIX[:-1], key)
        if "servers" not in raw and isinstance(settings.get("mcp"), dict) and settings["mcp"].get("servers"):
            self.add_at(
                ("settings", "mcp"),
                f'these servers are VS Code\'s own; mcp-marshal supervises "{PREFIX}servers"',
                "vscode-mcp",
                key=True,
                severity="information",
            )
        try:
            return MarshalSettings.model_validate(raw, strict=True)
        except ValidationError as exc:
            self.report(exc, self.where)
            return None

    def resolve(self, settings: MarshalSettings, folders: tuple[Folder, ...]) -> Config:
        inputs: dict[str, InputSettings] = {}
        for i, entry in enumerate(settings.inputs):
            if entry.id in inputs:
                self.add_at(
                    (*self.where["inputs"], i, "id"),
                    f'input "{visible(entry.id)}" is declared twice',
                    "duplicate-input",
                )
            inputs[entry.id] = entry
        ctx = VariableContext(folders, self.home, self.environ, frozenset(inputs))
        specs = {name: self.server(name, s, settings, ctx) for name, s in settings.servers.items()}
        deps = self.graph(settings.servers)
        return Config(
            file=self.file,
            folders=folders,
            servers=MappingProxyType(specs),
            deps=deps,
            inputs=MappingProxyType(inputs),
            restart=settings.restart,
            health=settings.health,
            stop=settings.stop,
            locks=settings.locks,
            telemetry=settings.telemetry,
            gateway=settings.gateway,
        )

    def server(self, name: str, s: ServerSettings, settings: MarshalSettings, ctx: VariableContext) -> ServerSpec:
        at = (*self.where["servers"], name)
        shown = visible(name)
        if not name.strip():
            self.add_at(at, "a server needs a name", "invalid", key=True)
        used: set[str] = set()
        secrets: set[str] = set()

        def sub(value: str, *path: str | int) -> str:
            done = substitute(value, ctx)
            used.update(done.inputs)
            secrets.update(done.env_values)
            if done.issues:
                node, _, matched = self.doc.find((*at, *path))
                for issue in done.issues:
                    if node is not None and matched == len(at) + len(path):
                        span = self.doc.string_span(node, issue.start, issue.end)
                    else:  # not reached: every validated string is in the file
                        span = self.doc.root_span()
                    self.add(span, f'server "{shown}": {issue.message}', "variable", issue.severity)
            return done.text

        restart = settings.restart.model_copy(update=_overrides(s.restart))
        health = settings.health.model_copy(update=_overrides(s.health))
        common: dict[str, Any] = {
            "name": name,
            "depends_on": tuple(dict.fromkeys(s.depends_on)),
            "tier": s.tier,
            "auto_start": s.auto_start,
            "shared": s.shared,
            "restart": restart,
            "health": health,
            "stop": settings.stop,
        }
        for i, dep in enumerate(s.depends_on):
            if dep not in settings.servers:
                self.add_at(
                    (*at, "dependsOn", i),
                    f'server "{shown}" depends on unknown server "{visible(dep)}"',
                    "unknown-server",
                )
        if isinstance(s, StdioServerSettings):
            command = self.expand_home(sub(s.command, "command"))
            if os.sep in command and not os.path.isabs(command):
                command = os.path.normpath(self.base / command)
            env: dict[str, str | None] = {
                key: None if v is None else sub(v, "env", key) if isinstance(v, str) else _number(v)
                for key, v in s.env.items()
            }
            secrets.update(v for v in env.values() if v)
            written = Launch(
                command=s.command,
                args=tuple(s.args),
                env=tuple((k, v if v is None or isinstance(v, str) else _number(v)) for k, v in s.env.items()),
                env_file=s.env_file,
                cwd=s.cwd,
            )
            spec = ServerSpec(
                type="stdio",
                command=command,
                args=tuple(sub(a, "args", i) for i, a in enumerate(s.args)),
                env=MappingProxyType(env),
                env_file=self.path(sub(s.env_file, "envFile")) if s.env_file is not None else None,
                cwd=self.path(sub(s.cwd, "cwd")) if s.cwd is not None else ctx.folders[0].path,
                written=written,
                **common,
            )
        else:
            assert isinstance(s, HttpServerSettings)
            url = sub(s.url, "url")
            if not url.lower().startswith(("http://", "https://")) and "${input:" not in url:
                after = " once its variables are substituted" if "${" in s.url else ""
                msg = f'server "{shown}": "url" must start with http:// or https://{after}'
                self.add_at((*at, "url"), msg, "invalid")
            headers = {k: sub(v, "headers", k) for k, v in s.headers.items()}
            secrets.update(v for v in headers.values() if v)
            spec = ServerSpec(
                type=s.type,
                url=url,
                headers=MappingProxyType(headers),
                written=Launch(url=s.url, headers=tuple(s.headers.items())),
                **common,
            )
        return replace(spec, inputs=tuple(sorted(used)), secrets=frozenset(secrets))

    def graph(self, servers: Mapping[str, ServerSettings]) -> dag.DependencyGraph:
        graph = dag.DependencyGraph.of(servers)
        servers_at = self.where.get("servers", ())
        conflicts = dag.tier_conflicts(servers)
        for name, dep in conflicts:
            at = (*servers_at, name, "dependsOn", list(servers[name].depends_on).index(dep))
            tier, dep_tier, shown = servers[name].tier, servers[dep].tier, visible(dep)
            msg = (
                f'server "{visible(name)}" (tier {tier}) depends on "{shown}" (tier {dep_tier}), which starts'
                f' after every tier-{tier} server; give "{shown}" a lower tier or drop the dependency'
            )
            self.add_at(at, msg, "tier")
        # Conflicts are cycles through a tier; they are reported once, above.
        for cycle in graph.cycles(without=conflicts):
            first = cycle.path[0]
            nxt = cycle.path[1 % len(cycle.path)]
            listed = list(servers[first].depends_on)
            where = ("dependsOn", listed.index(nxt)) if nxt in listed else ("tier",)
            self.add_at((*servers_at, first, *where), cycle_message(cycle), "cycle")
        return graph

    # --- helpers -------------------------------------------------------------------------------

    def expand_home(self, value: str) -> str:
        if value == "~" or value.startswith("~/"):
            return self.home + value[1:]
        return value

    def path(self, value: str) -> Path:
        return Path(os.path.normpath(self.base / self.expand_home(value)))


def cycle_message(cycle: dag.Cycle) -> str:
    """``dependency cycle: a → b → a``, the path cut short (``… and N more``) to stay readable
    however long the cycle: a 3,000-server ring is one line, not 3,000 names."""
    names = capped_names([visible(n) for n in cycle.path])
    text = f"dependency cycle: {' → '.join(names)} → {names[0]}"
    on_path = set(cycle.path)
    others = [visible(n) for n in cycle.members if n not in on_path]
    if others:
        text += f" ({len(others)} more caught in it: {', '.join(capped_names(others))})"
    return text


def capped_names(names: Sequence[str], most: int = 8, width: int = 100) -> list[str]:
    """The first names that fit in ``most`` names and ``width`` characters, then ``… and N more``."""
    shown: list[str] = []
    length = 0
    for name in names:
        if len(shown) == most or (shown and length + len(name) > width):
            break
        shown.append(name)
        length += len(name) + 3
    if len(shown) < len(names):
        shown.append(f"… and {len(names) - len(shown)} more")
    return shown


def _overrides(model: BaseModel | None) -> dict[str, Any]:
    return {} if model is None else model.model_dump(exclude_none=True)


def _number(value: float) -> str:
    """JSON numbers as JavaScript prints them (``1`` not ``1.0``), since VS Code stringifies so."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
