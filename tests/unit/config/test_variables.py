"""Variable substitution and the late ``${input:…}`` fill."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_marshal.config import ServerSpec, resolve_inputs
from mcp_marshal.config.models import Folder
from mcp_marshal.config.variables import VariableContext, substitute

CTX = VariableContext(
    folders=(Folder("api", Path("/ws/api")), Folder("front", Path("/ws/web"))),
    home="/home/ann",
    env={"TOKEN": "t0k"},
    inputs={"gh"},
)


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("${workspaceFolder}/db", "/ws/api/db"),
        ("${workspaceFolder:front}", "/ws/web"),
        ("${workspaceFolderBasename}", "api"),
        ("${workspaceFolderBasename:front}", "web"),
        ("${userHome}/x", "/home/ann/x"),
        ("a${pathSeparator}b", f"a{os.sep}b"),
        ("Bearer ${env:TOKEN}", "Bearer t0k"),
        ("${input:gh}", "${input:gh}"),
        ("no variables at all", "no variables at all"),
        ("$HOME and $ {x}", "$HOME and $ {x}"),
    ],
)
def test_substitutes_like_vscode(text: str, out: str) -> None:
    done = substitute(text, CTX)
    assert done.text == out and done.issues == ()


def test_records_inputs_used() -> None:
    assert substitute("--a=${input:gh} --b=${input:gh}", CTX).inputs == {"gh"}


@pytest.mark.parametrize(
    ("text", "severity", "span"),
    [
        ("x ${env:MISSING} y", "warning", (2, 16)),
        ("${input:other}", "error", (0, 14)),
        ("${workspaceFolder:nope}", "error", (0, 23)),
        ("a ${typo}", "error", (2, 9)),
        ("${config:editor.tabSize}", "error", (0, 24)),
    ],
)
def test_issues_have_offsets_and_never_values(text: str, severity: str, span: tuple[int, int]) -> None:
    [issue] = substitute(text, CTX).issues
    assert (issue.severity, (issue.start, issue.end)) == (severity, span)
    assert "t0k" not in issue.message


def test_missing_env_resolves_to_empty_string() -> None:
    assert substitute("[${env:MISSING}]", CTX).text == "[]"


def test_resolve_inputs_fills_every_launch_field() -> None:
    spec = ServerSpec(
        name="s",
        type="stdio",
        command="${input:gh}/bin",
        args=("--t=${input:gh}", "${input:other}"),
        env={"A": "${input:gh}", "B": None},
        cwd=Path("/ws/${input:gh}"),
        inputs=("gh",),
    )
    done = resolve_inputs(spec, {"gh": "V"})
    assert done.command == "V/bin" and done.args == ("--t=V", "${input:other}")
    assert dict(done.env) == {"A": "V", "B": None} and done.cwd == Path("/ws/V") and done.inputs == ()
    http = ServerSpec(name="h", type="http", url="https://x/${input:gh}", headers={"H": "${input:gh}"}, inputs=("gh",))
    assert resolve_inputs(http, {"gh": "V"}).headers == {"H": "V"}
    assert resolve_inputs(ServerSpec(name="n", type="stdio", command="x"), {}).command == "x"


def test_resolve_inputs_names_a_missing_value_but_not_values() -> None:
    spec = ServerSpec(name="s", type="stdio", command="x", inputs=("gh", "pw"))
    with pytest.raises(KeyError, match="'pw'") as info:
        resolve_inputs(spec, {"gh": "secret-value"})
    assert "secret-value" not in str(info.value)
