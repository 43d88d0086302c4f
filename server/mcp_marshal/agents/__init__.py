"""Other agents' and editors' MCP configuration files (Claude Code, Codex, Cursor, VS Code):
entries that reach the gateway through ``mcp-marshal connect``, merged into those files with
their comments and layout kept; and their server entries translated into ``mcpMarshal.servers``.

Pure text in, text out: the shell reads and writes the files. Never imports an editor library.
"""
