"""Redaction: known secrets from the config and runtime, and credential-shaped text."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mcp_marshal.config.models import Config, InputSettings, ServerSpec
from mcp_marshal.config.problems import Problem
from mcp_marshal.events import ConfigRejected, ServerExited, ServerLog, ServerStateChanged
from mcp_marshal.redact import PLACEHOLDER, Redactor
from mcp_marshal.telemetry import record_from_event

ENV_SECRET = "env-Secret-Value-42"
HEADER_SECRET = "hdr-9f8e7d6c5b4a"
INPUT_DEFAULT = "input-default-pw"


def make_config() -> Config:
    files = ServerSpec(
        name="files",
        type="stdio",
        command="node",
        env={"FILES_TOKEN": ENV_SECRET, "UNSET": None, "DEBUG": "1", "AUTH": "Bearer ${input:tok}"},
    )
    web = ServerSpec(name="web", type="http", url="http://x", headers={"X-Api-Key": HEADER_SECRET})
    return Config(
        file=Path("/w/a.code-workspace"),
        folders=(),
        servers={"files": files, "web": web},
        deps={"files": frozenset(), "web": frozenset()},
        inputs={"tok": InputSettings(id="tok", password=True, default=INPUT_DEFAULT)},
    )


def test_config_values_and_runtime_inputs_are_redacted_everywhere() -> None:
    r = Redactor.from_config(make_config())
    text = f"spawn with {ENV_SECRET}; header {HEADER_SECRET}; default {INPUT_DEFAULT}"
    assert r.redact(text) == f"spawn with {PLACEHOLDER}; header {PLACEHOLDER}; default {PLACEHOLDER}"
    resolved = "typed-by-the-user-77"
    assert r.redact(resolved) == resolved
    r.add_secret(resolved)  # a resolved ${input:tok}: the regex is rebuilt on next use
    assert r.redact(f"x{resolved}y") == f"x{PLACEHOLDER}y"
    # Short, common values are not treated as secrets; placeholders are not secrets either.
    assert r.redact("DEBUG=1 Bearer") == "DEBUG=1 Bearer"


def test_one_secret_being_a_prefix_of_another_redacts_the_longer() -> None:
    r = Redactor(["abcdef", "abcdefghij", "zzzz"])
    assert r.redact("abcdefghij abcdefXY zzzzz") == f"{PLACEHOLDER} {PLACEHOLDER}XY {PLACEHOLDER}z"


def test_thousands_of_secrets_stay_fast() -> None:
    r = Redactor([f"secret-value-{i:05d}-{i * 7919:x}" for i in range(3000)])
    line = "worker 12 handled request in 15 ms; cache hit ratio 0.93 " * 4
    r.redact(line)
    start = time.perf_counter()
    for _ in range(200):
        assert r.redact(line) == line
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.002  # a trie, not 3000 alternatives tried at each position
    assert r.redact("x secret-value-02999-" + f"{2999 * 7919:x}") == f"x {PLACEHOLDER}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi123", f"Authorization: Bearer {PLACEHOLDER}"),
        ("curl -H 'authorization: basic dXNlcjpwYXNz'", f"curl -H 'authorization: basic {PLACEHOLDER}'"),
        ("connecting with token=abcdef123 to host", f"connecting with token={PLACEHOLDER} to host"),
        ("GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxx", f"GITHUB_TOKEN={PLACEHOLDER}"),
        ('{"api_key": "k-123456"}', f'{{"api_key": "{PLACEHOLDER}"}}'),
        ("API-KEY: abc123 rest", f"API-KEY: {PLACEHOLDER} rest"),
        ("password: hunter2", f"password: {PLACEHOLDER}"),
        ("using sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv now", f"using {PLACEHOLDER} now"),
        ("key ghp_a1b2c3d4e5f6g7h8i9j0k1l2m3n4 ok", f"key {PLACEHOLDER} ok"),
        ("pat github_pat_11ABCDEFG0123456789_abcdefghij", f"pat {PLACEHOLDER}"),
        ("slack xoxb-1234567890-abcdefghij", f"slack {PLACEHOLDER}"),
        ("aws AKIAIOSFODNN7EXAMPLE", f"aws {PLACEHOLDER}"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmN", f"jwt {PLACEHOLDER}"),
        ("signing key 3f2a9c1e5b7d4a6f8e0c2b4d6f8a0c2e", f"signing key {PLACEHOLDER}"),
        ("blob Y2xpZW50OnNlY3JldC1rZXktdGhhdC1pcy1sb25nLWVub3VnaDEy==", f"blob {PLACEHOLDER}"),
        ("İstanbul token=abcdef", f"İstanbul token={PLACEHOLDER}"),
        # Not credentials: left alone.
        ("received signal 15, shutting down", None),
        ("listening on http://127.0.0.1:8931/mcp (pid 4242)", None),
        ("/usr/local/lib/python3.11/site-packages/some_really_long_package_name/x.py", None),
        ("disk-usage-monitor-abcdefghijklmnop started", None),
        ("the quick brown fox jumps over the lazy dog", None),
        ("Traceback (most recent call last):", None),
    ],
)
def test_credential_patterns(text: str, expected: str | None) -> None:
    assert Redactor().redact(text) == (text if expected is None else expected)


def test_records_keep_names_and_keys_and_lose_secrets() -> None:
    r = Redactor([ENV_SECRET])
    log = record_from_event(ServerLog(name="files", stream="stderr", line=f"got {ENV_SECRET}"), r)
    assert log.name == "ServerLog"
    assert log.fields == {"name": "files", "stream": "stderr", "line": f"got {PLACEHOLDER}"}
    exited = record_from_event(
        ServerExited(name="files", code=1, signal=None, expected=False, stderr_tail=("a", f"token={ENV_SECRET}")),
        r,
    )
    assert exited.fields["stderr_tail"] == ["a", f"token={PLACEHOLDER}"]
    assert exited.fields["code"] == 1 and exited.fields["expected"] is False
    # A server whose name looks like a token keeps it: names identify, they are not secrets.
    odd = "sk-aaaaaaaaaaaaaaaaaaaaaaaa"
    state = record_from_event(ServerStateChanged(name=odd, state="ready", previous="starting"), r)
    assert state.fields["name"] == odd


def test_nested_events_become_json_ready_records() -> None:
    problem = Problem("a.code-workspace", 1, 2, 1, 5, f"bad value {ENV_SECRET}")
    ev = ConfigRejected(problems=(problem,))
    record = record_from_event(ev, Redactor([ENV_SECRET]))
    assert record.ts == ev.ts
    assert record.fields["problems"][0]["message"] == f"bad value {PLACEHOLDER}"
    assert record.fields["problems"][0]["line"] == 1
    json.dumps(record.to_dict())


def test_redact_value_keeps_mapping_keys() -> None:
    r = Redactor(["s3cr3t-value"])
    assert r.redact_value({"s3cr3t-value": ["s3cr3t-value", 1, None]}) == {"s3cr3t-value": [PLACEHOLDER, 1, None]}
