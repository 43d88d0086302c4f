"""Redaction: known secrets from the config and runtime, and credential-shaped text."""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_marshal.config.models import Config, InputSettings, ServerSpec
from mcp_marshal.config.problems import Problem
from mcp_marshal.events import ConfigRejected, Event, ServerExited, ServerLog, ServerStateChanged
from mcp_marshal.redact import PLACEHOLDER, Redactor, secret_forms
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
        ("kelvin API_\u212aEY=abcdef123456", f"kelvin API_\u212aEY={PLACEHOLDER}"),  # K (Kelvin sign) is a k
        ("ünïcode ghp_a1b2c3d4e5f6g7h8i9j0k1l2m3n4 é", f"ünïcode {PLACEHOLDER} é"),
        ("surrogate \udc80 sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", f"surrogate \udc80 {PLACEHOLDER}"),
        ("slack xoxb-1234567890 end", f"slack {PLACEHOLDER} end"),  # the shortest shape: a run of 15
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


@pytest.mark.parametrize(
    ("word", "sep"),
    [
        *((word, "=") for word in ("api_key", "apikey", "access-key", "secret", "private_key", "token")),
        *((word, ": ") for word in ("password", "passwd", "pwd", "credential", "credentials")),
        *((word, "=") for word in ("authorization", "auth", "signature", "sig", "x_sig_header")),
        *((word, " ") for word in ("bearer", "basic", "token", "bot")),
    ],
)
def test_every_announcing_word_is_caught_in_any_case(word: str, sep: str) -> None:
    for spelled in (word, word.upper(), word.title()):
        assert Redactor().redact(f"x {spelled}{sep}abcdef123 y") == f"x {spelled}{sep}{PLACEHOLDER} y"


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


def test_redact_value_walks_any_json_value_and_redacts_keys_too() -> None:
    r = Redactor(["s3cr3t-value"])
    reply = {"error": {"code": -32000, "message": "bad s3cr3t-value", "data": [{"s3cr3t-value": True}, None, 1.5]}}
    assert r.redact_value(reply) == {
        "error": {"code": -32000, "message": f"bad {PLACEHOLDER}", "data": [{PLACEHOLDER: True}, None, 1.5]}
    }
    assert r.redact_value({1: "s3cr3t-value", None: 2, (3, "s3cr3t-value"): 3, False: ("a", "s3cr3t-value")}) == {
        1: PLACEHOLDER,
        None: 2,
        f"(3, '{PLACEHOLDER}')": 3,
        False: ["a", PLACEHOLDER],
    }
    assert r.redact_value(Path("/home/s3cr3t-value/x")) == f"/home/{PLACEHOLDER}/x"  # anything else: its str()
    assert [r.redact_value(v) for v in ("", 0, -1, 2.5, True, None, [], {})] == ["", 0, -1, 2.5, True, None, [], {}]


def test_redact_value_never_raises_on_a_value_nested_too_deep_to_walk() -> None:
    r = Redactor(["s3cr3t-value"])
    deep: list[object] = ["s3cr3t-value"]
    for _ in range(100_000):
        deep = [deep]
    assert r.redact_value(deep) == PLACEHOLDER
    assert r.redact_value({"ok": [["s3cr3t-value"]]}) == {"ok": [[PLACEHOLDER]]}


SECRET = 'k3y-with/"quote" & space\\\\'  # ends with two backslashes


@pytest.mark.parametrize(
    ("echo", "form"),
    [
        ("plain", SECRET),
        ("json", json.dumps(SECRET)[1:-1]),  # a server that puts it into a JSON string
        ("url", "k3y-with%2F%22quote%22%20%26%20space%5C%5C"),
        ("url, lower-case hex", "k3y-with%2f%22quote%22%20%26%20space%5c%5c"),
        ("url, + for spaces", "k3y-with%2F%22quote%22+%26+space%5C%5C"),
        ("url path, / kept", "k3y-with/%22quote%22%20%26%20space%5C%5C"),
    ],
)
def test_a_known_secret_is_caught_in_the_forms_a_server_echoes_it_in(echo: str, form: str) -> None:
    r = Redactor([SECRET], patterns=False)
    assert r.redact(f"GET /cb?x={form}&y=1 failed") == f"GET /cb?x={PLACEHOLDER}&y=1 failed", echo


def test_echoed_forms_of_non_ascii_padded_and_pre_encoded_secrets() -> None:
    r = Redactor(["  pässwörd-42  ", "abc%2Fdef%3D"], patterns=False)
    assert r.redact("got pässwörd-42!") == f"got {PLACEHOLDER}!"  # without the surrounding spaces
    assert r.redact('{"p": "p\\u00e4ssw\\u00f6rd-42"}') == f'{{"p": "{PLACEHOLDER}"}}'  # JSON, ASCII-only
    assert r.redact("p%C3%A4ssw%C3%B6rd-42") == PLACEHOLDER  # URL-encoded UTF-8
    assert r.redact("token abc/def= decoded") == f"token {PLACEHOLDER} decoded"  # a configured %2F, decoded
    assert r.secret_count == 2


_TEXT = st.lists(
    st.sampled_from(
        [*"aZ09+/_.=~-%\\ \t:;\"'", "ghp_", "sk-", "token=", "Bearer ", "é", "İ", "\u212a", "\udc80", "Ｆ"]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(before=_TEXT, after=_TEXT, form=st.sampled_from(sorted(secret_forms(SECRET))))
def test_a_planted_secret_never_survives_in_any_text(before: str, after: str, form: str) -> None:
    out = Redactor([SECRET]).redact(before + form + after)
    assert form not in out and SECRET not in out


@pytest.mark.parametrize("text", ["x" * 13 + " " + "y" * 13, "x" * 14, "plain words only", "é" * 40, "\udc80" * 9])
def test_text_without_credentials_comes_back_unchanged(text: str) -> None:
    assert Redactor(["unrelated-secret"]).redact(text) == text


def test_add_config_learns_what_the_loader_found_reaching_each_server() -> None:
    from_args = "value-of-ARG_TOKEN-0099"  # ${env:ARG_TOKEN} substituted into args
    spec = ServerSpec(
        name="files", type="stdio", command="node", args=("--token", from_args), secrets=frozenset({from_args})
    )
    config = replace(make_config(), servers={**make_config().servers, "files": spec})
    r = Redactor.from_config(config)
    assert r.redact(f"argv: node --token {from_args}") == f"argv: node --token {PLACEHOLDER}"
    assert r.redact(f"header {HEADER_SECRET}") == f"header {PLACEHOLDER}"  # other servers' values too
    r.add_secrets(["from-the-envFile-77", "x", "from-an-input-78"])  # learned by the supervisor at start
    assert r.redact("from-the-envFile-77 x from-an-input-78") == f"{PLACEHOLDER} x {PLACEHOLDER}"


class Level(enum.StrEnum):
    HIGH = f"high {ENV_SECRET}"


class Code(enum.IntEnum):
    ONE = 1


@dataclass(frozen=True, slots=True)
class Inner:
    text: str
    n: int


@dataclass(frozen=True, slots=True)
class Everything(Event):
    name: str
    line: str
    count: int
    ok: bool
    nothing: None
    level: Level
    code: Code
    tail: tuple[str, ...]
    info: dict[str, Any]
    inner: Inner
    path: Path
    state: Any  # an identifier field: kept verbatim, whatever it holds
    extra: list[Any] = field(default_factory=list[Any])


def test_every_non_identifier_field_is_made_json_ready_and_loses_its_secrets() -> None:
    event = Everything(
        name=f"name {ENV_SECRET}",
        line=f"got {ENV_SECRET} and token=abcdef123 and \udc80",
        count=7,
        ok=True,
        nothing=None,
        level=Level.HIGH,
        code=Code.ONE,
        tail=("a", f"password: {ENV_SECRET}"),
        info={"key": [ENV_SECRET, 1, None, {"k": f"Bearer {ENV_SECRET}xyz"}], 2: "two"},
        inner=Inner(f"x{ENV_SECRET}y", 2),
        path=Path(f"/tmp/{ENV_SECRET}"),
        state=(f"tuple {ENV_SECRET}",),
        extra=[Inner(ENV_SECRET, 1)],
    )
    record = record_from_event(event, Redactor([ENV_SECRET]))
    assert record.name == "Everything" and record.ts == event.ts and "ts" not in record.fields
    assert record.fields == {
        "name": f"name {ENV_SECRET}",  # identifiers are kept
        "line": f"got {PLACEHOLDER} and token={PLACEHOLDER} and \ufffd",  # lone surrogates: U+FFFD
        "count": 7,
        "ok": True,
        "nothing": None,
        "level": f"high {PLACEHOLDER}",
        "code": 1,
        "tail": ["a", f"password: {PLACEHOLDER}"],
        "info": {"key": [PLACEHOLDER, 1, None, {"k": f"Bearer {PLACEHOLDER}xyz"}], "2": "two"},
        "inner": {"text": f"x{PLACEHOLDER}y", "n": 2},
        "path": f"/tmp/{PLACEHOLDER}",
        "state": [f"tuple {ENV_SECRET}"],
        "extra": [{"text": PLACEHOLDER, "n": 1}],
    }
    assert [type(record.fields[k]) for k in ("level", "code")] == [str, int]  # enums become their values
    json.dumps(record.to_dict(), ensure_ascii=False).encode()  # every sink can encode it
    unredacted = record_from_event(event)
    assert unredacted.fields["line"] == f"got {ENV_SECRET} and token=abcdef123 and \ufffd"
