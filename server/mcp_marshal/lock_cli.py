"""Placeholder: subcommands are added here by the issue that builds them."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register this module's subcommands on the ``mcp-marshal`` parser."""
