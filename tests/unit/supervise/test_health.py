"""The health verdict as a table: misses in a row, the threshold, and what each check means."""

from __future__ import annotations

import pytest

from mcp_marshal.supervise.health import Verdict, health_step

H, REC, M, U = Verdict.HEALTHY, Verdict.RECOVERED, Verdict.MISSED, Verdict.UNHEALTHY


@pytest.mark.parametrize(
    ("threshold", "checks", "verdicts"),
    [
        (3, "ok ok ok", [H, H, H]),
        (3, "miss ok", [M, H]),
        (3, "miss miss ok miss miss", [M, M, H, M, M]),
        (3, "miss miss miss", [M, M, U]),
        (3, "miss miss miss miss ok", [M, M, U, U, REC]),
        (3, "miss miss miss ok ok", [M, M, U, REC, H]),
        (1, "miss ok miss", [U, REC, U]),
        (2, "ok miss ok miss miss", [H, M, H, M, U]),
    ],
)
def test_verdicts_follow_the_misses_in_a_row(threshold: int, checks: str, verdicts: list[Verdict]) -> None:
    misses, seen = 0, []
    for check in checks.split():
        misses, verdict = health_step(misses, check == "ok", threshold)
        seen.append(verdict)
    assert seen == verdicts


def test_misses_count_in_a_row_and_reset_on_an_answer() -> None:
    assert health_step(0, False, 3) == (1, M)
    assert health_step(2, False, 3) == (3, U)
    assert health_step(5, True, 3) == (0, REC)
    assert health_step(1, True, 3) == (0, H)
