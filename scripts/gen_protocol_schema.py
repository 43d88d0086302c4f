"""Write the wire contract's JSON Schema (``vscode-client/protocol.schema.json``) from the pydantic
models in ``mcp_marshal.wire``; the extension's ``npm run gen:protocol`` turns it into
``src/protocol.generated.ts``. ``--check`` only says whether the committed one is up to date.

    .venv/bin/python scripts/gen_protocol_schema.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mcp_marshal.wire import schema

COMMAND = ".venv/bin/python scripts/gen_protocol_schema.py && npm run gen:protocol -w vscode-client"
DEFAULT = Path(__file__).resolve().parent.parent / "vscode-client" / "protocol.schema.json"


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the wire contract's JSON Schema from the models.")
    parser.add_argument("--check", action="store_true", help="only say whether it is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    new = render()
    old = DEFAULT.read_text(encoding="utf-8") if DEFAULT.exists() else ""
    if args.check:
        if new != old:
            print(f"{DEFAULT}: out of date; run: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if new != old:
        DEFAULT.write_text(new, encoding="utf-8")
        print(f"{DEFAULT}: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
