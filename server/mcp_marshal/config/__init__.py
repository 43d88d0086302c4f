"""Configuration: a ``.code-workspace`` file → typed, validated ``Config``; the start-order
graph; the reload diff. Pure apart from reading the file; never imports an editor library.

Entry points: ``load_workspace`` (→ ``LoadResult``), ``find_workspace_file``, ``plan_reload``;
``dag`` for start order, ``resolve_inputs`` for ``${input:…}`` at launch. They are imported on
first use: ``events`` imports ``config.problems``, which runs this file, and static imports here
would load pydantic and tree-sitter into every process that only needs the event vocabulary.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config, ServerSpec
    from mcp_marshal.config.problems import Problem
    from mcp_marshal.config.reload_plan import ReloadPlan, plan_reload
    from mcp_marshal.config.variables import resolve_inputs
    from mcp_marshal.config.workspace import (
        LoadResult,
        WorkspaceNotFound,
        find_workspace_file,
        load_workspace,
    )

_HOMES = {
    "Config": "models",
    "ServerSpec": "models",
    "Problem": "problems",
    "ReloadPlan": "reload_plan",
    "plan_reload": "reload_plan",
    "resolve_inputs": "variables",
    "LoadResult": "workspace",
    "WorkspaceNotFound": "workspace",
    "find_workspace_file": "workspace",
    "load_workspace": "workspace",
}
__all__ = [
    "Config",
    "LoadResult",
    "Problem",
    "ReloadPlan",
    "ServerSpec",
    "WorkspaceNotFound",
    "find_workspace_file",
    "load_workspace",
    "plan_reload",
    "resolve_inputs",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
