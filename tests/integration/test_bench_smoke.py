"""Every benchmark runs, at smoke-test size, through the documented command (``python -m bench``).

The figures at this size mean nothing; what is checked is that each benchmark still measures
ours and its baselines and prints a finite ratio for them, so ``bench/README.md`` stays
reproducible from a fresh clone. Peers (mcp-hub, supervisord) are installed by the benchmark's
own setup step, as a user would run it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]
PEERS = {"startup": "mcp-hub", "reload": "mcp-hub", "recovery": "supervisord", "footprint": "supervisord",
         "gateway": "mcp-proxy"}  # fmt: skip


@pytest.fixture(scope="module")
def peers_ready() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "setup"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "unavailable" not in done.stdout, done.stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_and_prints_ratios(name: str, peers_ready: None, tmp_path: Path) -> None:
    out = tmp_path / "reports.json"
    env = {**os.environ, "MCP_MARSHAL_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "bench", name, "--tiny", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=170)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = json.loads(out.read_text())
    assert reports, done.stdout
    for report in reports:
        assert report["rows"], report
        assert report["ratios"], report
        for ratio in report["ratios"]:
            assert math.isfinite(ratio["value"]) and ratio["value"] > 0, ratio
        for row in report["rows"]:
            assert math.isfinite(row["value"]), row
    assert "ratio " in done.stdout
    if name in PEERS:
        rows = [row["name"] for report in reports for row in report["rows"]]
        assert any(PEERS[name] in row for row in rows), rows
