"""``mcp-marshal gateway`` (where the running supervisor serves, how to authenticate) and
``mcp-marshal connect SERVER`` (a stdio MCP server relaying to it, for command-only clients)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from mcp_marshal.cli.show import plain

EXIT_NOT_RUNNING = 1
EXIT_USAGE = 2


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gw = sub.add_parser("gateway", help="where the running supervisor serves its servers, and how to authenticate")
    gw.add_argument("workspace", nargs="?", type=Path, help="the .code-workspace file (default: the one here)")
    gw.add_argument("--json", action="store_true", help="print one JSON object")
    gw.add_argument(
        "--capability-urls",
        action="store_true",
        help="also print URLs that carry the token, for clients that cannot set headers (keep them secret)",
    )
    gw.set_defaults(run=run_gateway)

    connect = sub.add_parser("connect", help="a stdio MCP server relaying to the running gateway (for agents)")
    connect.add_argument("server", metavar="SERVER", help="the server's name in the workspace file")
    connect.add_argument("workspace", nargs="?", type=Path, help="the .code-workspace file (default: the one here)")
    connect.set_defaults(run=run_connect)


def _workspace(arg: Path | None) -> Path | None:
    from mcp_marshal.config import find_workspace_file
    from mcp_marshal.errors import UserError

    try:
        return (arg if arg is not None else find_workspace_file(Path.cwd())).resolve()
    except UserError as exc:
        print(f"error: {plain(exc)}", file=sys.stderr)
        return None


def run_gateway(args: argparse.Namespace) -> int:
    from mcp_marshal.gateway import discovery
    from mcp_marshal.paths import workspace_state_dir

    file = _workspace(args.workspace)
    if file is None:
        return EXIT_USAGE
    info = discovery.running(file)
    if info is None or not info.get("url"):
        print(f"no supervisor serves {plain(str(file))}: start one with `mcp-marshal up` or open it in the editor",
              file=sys.stderr)  # fmt: skip
        return EXIT_NOT_RUNNING
    url = str(info["url"])
    token_file = workspace_state_dir(file) / discovery.TOKEN
    servers: dict[str, Any] = {str(n): f"{url}/mcp/{n}" for n in info.get("servers", [])}
    out: dict[str, Any] = {
        "workspace": str(file),
        "pid": info.get("pid"),
        "kind": info.get("kind"),
        "url": url,
        "servers": servers,
        "token_file": str(token_file),
        "header": "Authorization: Bearer <the token file's content>",
    }
    if args.capability_urls:
        token = discovery.token(file)
        out["capability_urls"] = {name: f"{url}/{token}/mcp/{name}" for name in servers}
    if args.json:
        print(json.dumps(out))
        return 0
    # The discovery file and the names in it are as untrusted as the workspace file.
    print(f"{plain(info.get('kind'))} (pid {plain(info.get('pid'))}) serves {plain(file.name)} at {plain(url)}")
    width = max((len(plain(n)) for n in servers), default=0)
    for name, endpoint in servers.items():
        print(f"  {plain(name):<{width}}  {plain(endpoint)}")
    print(f"authenticate with:  Authorization: Bearer $(cat {plain(token_file)})")
    for name, endpoint in out.get("capability_urls", {}).items():
        print(f"  {plain(name):<{width}}  {plain(endpoint)}   (carries the token: keep it secret)")
    return 0


def run_connect(args: argparse.Namespace) -> int:
    # Every agent session starts one bridge: httpx would import its command-line tool (rich,
    # click, pygments: ~40 ms and several MB) because they are installed, and never use it.
    sys.modules.setdefault("httpx._main", None)  # pyright: ignore[reportArgumentType]
    from mcp_marshal.gateway.connect import serve_stdio

    file = _workspace(args.workspace)
    if file is None:
        return EXIT_USAGE
    return asyncio.run(serve_stdio(file, args.server))
