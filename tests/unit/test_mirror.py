"""What a following window announces between two listings of the owner's servers."""

from __future__ import annotations

import pytest

from mcp_marshal.lsp.mirror import changes
from mcp_marshal.wire import ServerSnapshot


def snap(name: str, state: str = "ready", pid: int | None = 1, restarts: int = 0) -> ServerSnapshot:
    return ServerSnapshot(name=name, type="stdio", state=state, pid=pid, restarts=restarts)


@pytest.mark.parametrize(
    ("before", "after", "changed", "gone"),
    [
        ([], [snap("a")], ["a"], []),
        ([snap("a")], [snap("a")], [], []),
        ([snap("a")], [snap("a", pid=2)], ["a"], []),  # restarted under a new pid
        ([snap("a")], [snap("a", "backoff", None, 1)], ["a"], []),
        ([snap("a"), snap("b")], [snap("b")], [], ["a"]),
        ([snap("a")], [snap("a", pid=1, restarts=0).model_copy(update={"uptime_s": 9.0})], [], []),  # uptime only
    ],
)
def test_changes(
    before: list[ServerSnapshot], after: list[ServerSnapshot], changed: list[str], gone: list[str]
) -> None:
    pairs, removed = changes({s.name: s for s in before}, after)
    assert [current.name for _, current in pairs] == changed and removed == gone
