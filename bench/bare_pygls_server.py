"""Baseline for bench_lsp.py: a bare pygls 2 server with one command returning 20 dicts.

Its ``initialize`` time is the floor any pygls server pays (interpreter, pygls, lsprotocol);
its command round trip is the floor of ``workspace/executeCommand``.
"""

from typing import Any

from pygls.lsp.server import LanguageServer

server = LanguageServer("bare", "0")
ROWS = [{"name": f"s{i:02}", "state": "ready", "pid": 1000 + i, "restarts": 0} for i in range(20)]


@server.command("bare.list")
def bare_list(ls: LanguageServer) -> dict[str, Any]:
    return {"servers": ROWS}


if __name__ == "__main__":
    server.start_io()
