"""The wire contract's JSON Schema, from which the extension's TypeScript types are generated,
is the one the models give today (else the client compiles against a contract we no longer speak)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import gen_protocol_schema


def test_the_committed_schema_is_current() -> None:
    committed = gen_protocol_schema.DEFAULT.read_text(encoding="utf-8")
    assert committed == gen_protocol_schema.render(), f"out of date; run: {gen_protocol_schema.COMMAND}"
