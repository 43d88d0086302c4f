"""Demo MCP server (official SDK): searches words; declared as depending on `notes`."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("search", version="1.0.0")


@server.tool()
def search(text: str, word: str) -> list[int]:
    """Offsets at which ``word`` occurs in ``text``."""
    out, start = [], text.find(word)
    while start >= 0:
        out.append(start)
        start = text.find(word, start + 1)
    return out


@server.tool()
def count(text: str, word: str) -> int:
    """How often ``word`` occurs in ``text``."""
    return text.count(word)


if __name__ == "__main__":
    server.run()
