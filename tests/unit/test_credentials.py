"""Which configured values are credentials (removed even from what a server answers an agent),
and how answers are cleaned: inside JSON strings only, so they stay valid (issue 12, #1/#2)."""

from __future__ import annotations

import json

import pytest

from mcp_marshal.redact import PLACEHOLDER, Redactor, is_credential


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # named like a credential: whatever the value looks like
        ("API_KEY", "abcd", True),
        ("GITHUB_TOKEN", "ghp_short", True),
        ("Authorization", "Bearer abcdefgh", True),
        ("X-Api-Key", "plainword", True),
        ("DB_PASSWORD", "hunter22", True),
        ("SESSION_COOKIE", "value", True),
        # too short to search for at all
        ("API_KEY", "abc", False),
        # settings, whatever their length
        ("DEBUG", "true", False),
        ("VERBOSE", "false", False),
        ("PORT", "8080", False),
        ("RATIO", "-0.25", False),
        ("MODE", "production", False),
        ("LOCALE", "en_US.UTF-8", True),  # a digit in a long value: we cannot tell, so it is one
        ("LANGS", "python,rust,go", False),
        ("DATA_DIR", "/home/user/projects/data", False),
        ("HOME", "~/work/repo", False),
        ("WIN", r"C:\Users\me\AppData", False),
        ("HOST", "localhost:5432", False),
        ("URL", "https://api.example.com/v1/mcp", False),
        # shaped like credentials
        (None, "Zx81kQp0aa", True),
        (None, "postgres://user:pa55@db/app", True),
        (None, "https://api.example.com/v1?key=abc123", True),
        (None, "x1y2z3", False),  # shorter than 8: not by shape
    ],
)
def test_is_credential(name: str | None, value: str, expected: bool) -> None:
    assert is_credential(name, value) is expected


def test_configured_settings_are_redacted_from_logs_but_not_from_answers() -> None:
    redactor = Redactor(patterns=False)
    redactor.add_env({"DEBUG": "true", "API_KEY": "k-9f8e7d6c", "UNSET": None})
    assert redactor.redact("debug=true key=k-9f8e7d6c") == f"debug={PLACEHOLDER} key={PLACEHOLDER}"
    answer = {"result": {"debug": True, "text": "debug is true, key k-9f8e7d6c", "k-9f8e7d6c": [1, "true"]}}
    cleaned = redactor.redact_answer(answer)
    assert cleaned == {"result": {"debug": True, "text": f"debug is true, key {PLACEHOLDER}", PLACEHOLDER: [1, "true"]}}
    assert answer["result"]["text"] == "debug is true, key k-9f8e7d6c"  # the original is not touched


def test_an_answer_stays_valid_json_whatever_the_credential_holds() -> None:
    redactor = Redactor(patterns=False)
    secret = 'q"uo\\te-{1}'
    redactor.add_secret(secret)
    message = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": f"got {secret}"}]}}
    wire = json.dumps(redactor.redact_answer(message))
    assert json.loads(wire)["result"]["content"][0]["text"] == f"got {PLACEHOLDER}"
    assert redactor.redact_answer_text(f"plain {secret}") == f"plain {PLACEHOLDER}"


def test_nothing_to_remove_returns_the_same_message() -> None:
    redactor = Redactor()
    redactor.add_env({"DEBUG": "true"})
    message = {"result": {"text": "true"}}
    assert redactor.redact_answer(message) is message


def test_inputs_are_credentials_when_passwords_or_shaped_like_one() -> None:
    redactor = Redactor(patterns=False)
    redactor.add_secrets(["northeurope"], name="region")  # a plain prompt answer is not by itself a credential
    redactor.add_secrets(["short"], credential=True)  # ...a password input always is
    assert redactor.redact_answer({"a": "northeurope short"}) == {"a": f"northeurope {PLACEHOLDER}"}
    assert redactor.redact("northeurope") == PLACEHOLDER
