"""Demo MCP server (official SDK) that crashes now and then, so restarts and backoff show.

It exits with code 1 after a random 6–20 s (``FLAKY_MIN_S``/``FLAKY_MAX_S`` override that).
"""

import os
import random
import sys
import threading
import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("flaky", version="1.0.0")


@server.tool()
def roll(sides: int = 6) -> int:
    """Roll a die."""
    return random.randint(1, sides)


def crash_later() -> None:
    delay = random.uniform(float(os.environ.get("FLAKY_MIN_S", "6")), float(os.environ.get("FLAKY_MAX_S", "20")))
    time.sleep(delay)
    print(f"flaky: simulated crash after {delay:.1f} s", file=sys.stderr, flush=True)
    os._exit(1)


if __name__ == "__main__":
    threading.Thread(target=crash_later, daemon=True).start()
    server.run()
