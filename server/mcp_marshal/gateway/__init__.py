"""The gateway (DESIGN §10): one supervised copy of each server, served to every agent over MCP
Streamable HTTP on loopback. ``hub`` relays one server to many agent sessions; ``http`` is the
HTTP face; ``discovery`` is how agents and a second supervisor find the running one."""
