"""The layout's one rule of direction (DESIGN §2), checked on the source: the core never imports
a shell or a shell's libraries, ``supervise`` never imports ``telemetry``, and no two modules
import each other, directly or in a circle (lazy and type-only imports included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "server" / "mcp_marshal"
SHELLS = ("mcp_marshal.lsp", "mcp_marshal.cli", "mcp_marshal.__main__")
SHELL_LIBRARIES = ("pygls", "lsprotocol", "rich", "argparse")


def module_name(path: Path) -> str:
    """``server/mcp_marshal/config/dag.py`` → ``mcp_marshal.config.dag``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, wherever the import statement is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            for alias in node.names:  # "from pkg import module" imports the module, else the package
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {i for i in imports(path) if i in MODULES and i != name} for name, path in MODULES.items()}
CORE = sorted(name for name in MODULES if not name.startswith(SHELLS))


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("module", CORE)
def test_the_core_never_imports_a_shell_or_its_libraries(module: str) -> None:
    bad = sorted(i for i in imports(MODULES[module]) if _under(i, SHELLS) or _under(i, SHELL_LIBRARIES))
    assert not bad, f"{module} imports {bad}"


def test_supervise_never_imports_telemetry() -> None:
    bad = {m: sorted(GRAPH[m]) for m in MODULES if _under(m, ("mcp_marshal.supervise",))}
    offenders = {m: [i for i in deps if _under(i, ("mcp_marshal.telemetry",))] for m, deps in bad.items()}
    assert not any(offenders.values()), offenders


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over the module graph: every one is a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, cycles
