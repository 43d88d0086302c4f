"""Write ``vscode-client/src/protocol.generated.ts`` (the TypeScript declarations of the wire
contract) from the pydantic models of ``mcp_marshal.wire``; ``--check`` only says whether the
committed file is up to date.

    .venv/bin/python scripts/gen_protocol_ts.py [OUTPUT] [--check]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mcp_marshal.wire import schema
from mcp_marshal.wire_ts import COMMAND, DEFAULT_OUTPUT, render


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Generate the TypeScript wire contract.")
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT, help="the .ts file to write")
    parser.add_argument("--check", action="store_true", help="only say whether it is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    path: Path = args.output
    new = render(schema())
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if args.check:
        if new != old:
            print(f"{path}: out of date with server/mcp_marshal/wire.py; run: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if new != old:
        path.write_text(new, encoding="utf-8")
        print(f"{path}: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
