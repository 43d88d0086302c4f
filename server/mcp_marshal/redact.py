"""Redaction of secrets from telemetry (and log text) before anything is queued.

Two passes over every free-text string: the exact values the supervisor knows to be secret
(server ``env`` and ``headers`` values, resolved ``${input:…}`` values), then patterns for
things that look like credentials (``Bearer …``, ``token=…``, ``sk-…``, ``ghp_…``, long
hex/base64 runs) in text we did not write ourselves, such as a server's stderr.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config

PLACEHOLDER = "<redacted>"

# Shorter values ("1", "true", "dev") are too common to replace everywhere and too short to be
# worth protecting by substring search anyway.
MIN_SECRET_LENGTH = 4

# Identifiers we keep verbatim even when they happen to look like a pattern: they name things.
KEEP_FIELDS = frozenset({"name", "state", "previous", "stream", "task", "owner", "event", "kind"})

_INPUT_PLACEHOLDER = re.compile(r"\$\{input:[^}]*\}")

_KEY_WORDS = (
    r"(?:api[_-]?key|apikey|access[_-]?key|secret|private[_-]?key|token|password|passwd|pwd|"
    r"credentials?|authorization|auth|signature|sig)"
)

# Credentials announced by a word: ``Bearer …``, ``key=value``, ``"token": "…"``, ``GITHUB_TOKEN=…``.
# The key, the separator and the scheme survive. Only run when a trigger word occurs, and on the
# lower-cased text (matching spans map back 1:1), which is ~3x faster than IGNORECASE.
_ANNOUNCED_SOURCE = (
    r"(?P<keep>\b(?:bearer|basic|token|bot)[ \t]+)[A-Za-z0-9._~+/=-]{6,}"
    r"|(?P<keep_kv>" + _KEY_WORDS + r"[A-Za-z0-9_-]*[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?:bearer|basic|token)[ \t]+)?)(?!<redacted>)[^\s\"',;&}]{3,}"
)
_ANNOUNCED = re.compile(_ANNOUNCED_SOURCE)
_ANNOUNCED_ANY_CASE = re.compile(_ANNOUNCED_SOURCE, re.IGNORECASE)
_TRIGGER_WORDS = ("key", "token", "secret", "pass", "pwd", "auth", "cred", "sig", "bearer", "basic", "bot")

# Credentials by shape. Every shape is a run of at least 14 token characters, so one cheap scan
# for such runs comes first and the shapes are only tried inside them.
_RUN = re.compile(r"[A-Za-z0-9+/_.=~-]{14,}")
_RUN_TABLE = bytes(1 if re.fullmatch(r"[A-Za-z0-9+/_.=~-]", chr(b)) else 0 for b in range(256))
"""UTF-8 byte → 1 for a ``_RUN`` character, else 0 (every byte of a multi-byte character is ≥ 128)."""
_RUN_BYTES = b"\x01" * 14
_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r")"
)
# Long hex (API keys, signing keys) and long base64 — checked for letters *and* digits below.
_OPAQUE = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32,}(?![A-Za-z0-9])|(?P<b64>[A-Za-z0-9+/_-]{40,}={0,2})")
_MIN_PATTERN_TEXT = 7


def _opaque_repl(m: re.Match[str]) -> str:
    run = m.group()
    # A long run of letters only or digits only (a hex-looking "eeee…", a number, a word) has
    # no entropy to protect; a secret mixes both. Paths are not credentials either.
    if not (any(c.isdigit() for c in run) and any(c.isalpha() for c in run)):
        return run
    if m.group("b64") is not None and run.count("/") >= 3:
        return run
    return PLACEHOLDER


def _run_repl(m: re.Match[str]) -> str:
    run = m.group()
    run = _SHAPES.sub(PLACEHOLDER, run)
    return _OPAQUE.sub(_opaque_repl, run)


def _announced_repl(m: re.Match[str]) -> str:
    return (m.group("keep") or m.group("keep_kv")) + PLACEHOLDER


def _redact_announced(text: str, low: str) -> str:
    if len(low) != len(text):  # a few characters change length when lower-cased
        return _ANNOUNCED_ANY_CASE.sub(_announced_repl, text)
    out: list[str] = []
    pos = 0
    for m in _ANNOUNCED.finditer(low):
        keep_end = m.end("keep") if m.group("keep") is not None else m.end("keep_kv")
        out += (text[pos:keep_end], PLACEHOLDER)
        pos = m.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def redact_patterns(text: str) -> str:
    """``text`` with credential-looking substrings replaced (no knowledge of actual secrets)."""
    if len(text) < _MIN_PATTERN_TEXT:
        return text
    low = text.lower()
    for word in _TRIGGER_WORDS:
        if word in low:
            text = _redact_announced(text, low)
            break
    # Most lines hold no run at all: find that out in C (a byte table, a substring search)
    # instead of letting the regex try every position. Exact: run characters are ASCII, so a
    # run in the text is the same run in its UTF-8 bytes, and every other byte maps to 0.
    if _RUN_BYTES not in text.encode("utf-8", "surrogatepass").translate(_RUN_TABLE):
        return text
    return _RUN.sub(_run_repl, text)


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words`` (longest first), factored as a trie so a thousand
    secrets cost about as much to scan for as one."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict[str, Any]) -> str:
        chain = []
        while "" not in node and len(node) == 1:  # collapse single-child runs: no deep recursion
            ch, node = next(iter(node.items()))
            chain.append(re.escape(ch))
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return "".join(chain)
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy optional: prefer the longer secret when one is a prefix of another.
        return "".join(chain) + ("(?:" + body + ")?" if "" in node else body)

    return build(trie)


class Redactor:
    """Replaces secrets with ``<redacted>``; cheap enough to run on every telemetry record.

    Thread-safe for ``add_secret`` from any thread; the regex is rebuilt lazily, only after the
    set of secrets changed. Keys of mappings and identifier fields (``KEEP_FIELDS``) stay.
    """

    standard_fields: ClassVar[bool] = True
    """``redact_fields``/``redact_value`` are these: ``record_from_event`` may then redact field by
    field itself (same result, no intermediate dict); a subclass overriding them is called instead."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.standard_fields = cls.redact_fields is Redactor.redact_fields and cls.redact_value is Redactor.redact_value

    def __init__(self, secrets: Iterable[str] = (), *, patterns: bool = True) -> None:
        self._secrets: set[str] = set()
        self._secret_re: re.Pattern[str] | None = None
        self._dirty = False
        self._lock = threading.Lock()
        self._patterns = patterns
        for value in secrets:
            self.add_secret(value)

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> Redactor:
        """A redactor knowing every ``env`` and ``headers`` value of every server, and the
        defaults of declared inputs (resolved input values come later via ``add_secret``)."""
        redactor = cls(**kwargs)
        redactor.add_config(config)
        return redactor

    def add_config(self, config: Config) -> None:
        """Learn the secrets of a (re)loaded configuration; earlier ones are kept."""
        for spec in config.servers.values():
            for mapping in (spec.env, spec.headers):
                for value in mapping.values():
                    if value is not None:
                        self._add_literal_parts(str(value))
        for spec_input in config.inputs.values():
            if spec_input.default:
                self.add_secret(spec_input.default)

    def _add_literal_parts(self, value: str) -> None:
        # "Bearer ${input:tok}": the placeholder is resolved later (add_secret); the literal
        # remainder is not secret by itself, but the whole value without placeholders may be.
        if _INPUT_PLACEHOLDER.search(value):
            for part in _INPUT_PLACEHOLDER.split(value):
                part = part.strip()
                if len(part) >= 12:
                    self.add_secret(part)
        else:
            self.add_secret(value)

    def add_secret(self, value: str) -> None:
        """Treat ``value`` as secret from now on (e.g. a resolved ``${input:…}``)."""
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        forms = {value, json.dumps(value, ensure_ascii=False)[1:-1]}  # as text, and inside JSON text
        with self._lock:
            if not forms <= self._secrets:
                self._secrets |= forms
                self._dirty = True

    @property
    def secret_count(self) -> int:
        return len(self._secrets)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._dirty:
            with self._lock:
                self._secret_re = re.compile(_trie_pattern(self._secrets)) if self._secrets else None
                self._dirty = False
        return self._secret_re

    def redact(self, text: str) -> str:
        """``text`` with known secrets and credential-looking substrings replaced."""
        if len(text) < MIN_SECRET_LENGTH:
            return text
        secret_re = self._compiled() if self._dirty else self._secret_re
        # search is about twice as fast as a sub that finds nothing, and most text holds no secret
        if secret_re is not None and secret_re.search(text) is not None:
            text = secret_re.sub(PLACEHOLDER, text)
        return redact_patterns(text) if self._patterns else text

    def redact_known(self, text: str) -> str:
        """``text`` with the known secret values replaced, nothing else: for what a server sends
        an agent (tool results must survive), where only a configured secret must never show."""
        secret_re = self._compiled() if self._dirty else self._secret_re
        if secret_re is None or secret_re.search(text) is None:
            return text
        return secret_re.sub(PLACEHOLDER, text)

    def redact_value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value; mapping keys are kept."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.redact_value(v) for k, v in value.items()}
        return value

    def redact_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Redact a record's fields, keeping identifier fields (server names, states) as is."""
        return {k: v if k in KEEP_FIELDS else self.redact_value(v) for k, v in fields.items()}
