"""mcp-marshal: supervise the MCP servers declared in a VS Code workspace file."""

__version__ = "0.1.0"
