"""Demo MCP server (official SDK): tells the time, with no dependencies."""

import datetime

from mcp.server.mcpserver import MCPServer

server = MCPServer("clock", version="1.0.0")


@server.tool()
def now(tz_offset_hours: int = 0) -> str:
    """The current time as ISO 8601 at the given UTC offset."""
    tz = datetime.timezone(datetime.timedelta(hours=tz_offset_hours))
    return datetime.datetime.now(tz).isoformat(timespec="seconds")


if __name__ == "__main__":
    server.run()
