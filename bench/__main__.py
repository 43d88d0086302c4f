"""``python -m bench all [--tiny] [--json FILE]``, ``python -m bench NAME``, ``python -m bench setup``.

Each benchmark prints a table (ours and its baselines, measured in the same run) and ratio lines.
``--tiny`` runs every benchmark at smoke-test size: it proves the benchmark works, not a figure.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support / fixtures

from bench.common import Report, Size, compile_package

BENCHMARKS = ["startup", "recovery", "reload", "footprint", "scale", "leases", "telemetry", "lsp", "gateway"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=["all", "setup", *BENCHMARKS])
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds, not figures)")
    parser.add_argument("--json", type=Path, help="also write every report to this file as JSON")
    args = parser.parse_args(argv)

    from bench import peers

    if args.name in ("setup", "all"):
        for peer in peers.setup():
            print(f"peer {peer.name}: {'ready' if peer.argv else 'unavailable: ' + peer.why_not}", flush=True)
        if args.name == "setup":
            return 0
    compile_package()
    names = BENCHMARKS if args.name == "all" else [args.name]
    size = Size(tiny=args.tiny)
    reports: list[Report] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        t0 = time.perf_counter()
        for report in module.run(size):
            print(report.render(), flush=True)
            reports.append(report)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in reports], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
