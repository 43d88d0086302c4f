"""Demo MCP server (official SDK): an in-memory notebook other demo servers build on."""

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("notes", version="1.0.0")
NOTES: list[str] = []


@server.tool()
def add_note(text: str) -> int:
    """Store a note; returns how many notes there are."""
    NOTES.append(text)
    return len(NOTES)


@server.tool()
def list_notes() -> list[str]:
    """Every note stored so far."""
    return list(NOTES)


if __name__ == "__main__":
    print("notes: ready for notes", file=sys.stderr, flush=True)
    server.run()
