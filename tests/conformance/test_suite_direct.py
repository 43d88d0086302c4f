"""The official conformance suite, run for real against the fixture server over Streamable HTTP.

This is configuration (a) of ``.ci/conformance``: the suite straight against the SDK server,
no gateway in between. Installs the suite into the tools cache on first use (npm); skipped
when npm cannot.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conformance import run_suite as rs

pytestmark = [pytest.mark.npm, pytest.mark.timeout(600)]

# What the active suite of 0.2.0-alpha.12 counts against a server that implements every fixture.
ACTIVE_SCENARIOS = 31
ACTIVE_CHECKS = 73


@pytest.fixture(scope="module")
def tools() -> rs.Tools:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    try:
        return rs.ensure_tools()
    except (RuntimeError, OSError) as e:
        pytest.skip(f"the conformance suite could not be installed: {e}")


def test_active_suite_passes_against_the_fixture_over_http(tools: rs.Tools) -> None:
    port = rs.free_port()
    with rs.serving(rs.fixture_command(port), port):
        summary = rs.run_suite(f"http://127.0.0.1:{port}/mcp", tools=tools)
    failures = {n: s["failed"] for n, s in summary["scenarios"].items() if s["failed"]}
    assert failures == {}
    assert summary["totals"]["scenarios"] == ACTIVE_SCENARIOS
    assert summary["totals"]["passed"] == ACTIVE_CHECKS
    assert summary.get("suite_reported") == {"passed": ACTIVE_CHECKS, "failed": 0}
