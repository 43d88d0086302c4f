"""Write the VS Code settings schema (``contributes.configuration`` of ``vscode-client/package.json``)
from the pydantic models; ``--check`` only says whether the committed one is up to date.

    .venv/bin/python scripts/gen_settings_schema.py [PACKAGE_JSON] [--check]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mcp_marshal.config.vscode_schema import COMMAND, DEFAULT_MANIFEST, render


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Generate contributes.configuration from the models.")
    parser.add_argument("manifest", nargs="?", type=Path, default=DEFAULT_MANIFEST, help="package.json to update")
    parser.add_argument("--check", action="store_true", help="only say whether it is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    path: Path = args.manifest
    old = path.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        if new != old:
            print(f"{path}: contributes.configuration is out of date; run: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if new != old:
        path.write_text(new, encoding="utf-8")
        print(f"{path}: contributes.configuration regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
