"""Redaction of secrets from everything we show: telemetry, logs, stderr, what servers send back.

Two passes over every free-text string. First the exact values known to be secret, in the
forms a server may echo them in (``secret_forms``): every value that reaches a server from
the workspace file, the environment, an ``envFile`` or an input. Then patterns for text that
looks like a credential (``Bearer …``, ``token=…``, ``sk-…``, ``ghp_…``, long hex/base64
runs) in text we did not write ourselves, such as a server's stderr.

Covered: a known secret anywhere inside longer text; JSON-escaped (``a\\"b`` for ``a"b``,
``\\u00e9`` or ``é``); URL-encoded (``%2F`` or ``%2f``, ``+`` or ``%20`` for a space, ``/``
kept or encoded); URL-decoded (a configured ``a%2Fb`` echoed as ``a/b``); without its
surrounding whitespace. Not covered: other encodings of a known secret (base64, hex, HTML
entities, changed case), a part of one (a truncated echo), one split across lines; of
those, only what the patterns catch by shape is redacted. Values shorter than
``MIN_SECRET_LENGTH`` are never searched for.

Two tiers. Logs, events, telemetry and notifications lose every configured value (an env
value of ``true`` too: over-redacting a log line costs nothing). What a server answers an
agent is data, so the gateway removes only the values that *are* credentials (``is_credential``:
named like one, or shaped like one, plus every header, input and ``envFile`` value that is),
and only inside JSON strings, so an answer stays valid JSON and ``"debug": true`` stays true.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, quote_plus, unquote

if TYPE_CHECKING:
    from mcp_marshal.config.models import Config

PLACEHOLDER = "<redacted>"

# Shorter values ("1", "on", "dev") are too common to replace everywhere, and hardly secrets.
MIN_SECRET_LENGTH = 4

# Identifiers we keep verbatim even when they happen to look like a pattern: they name things.
KEEP_FIELDS = frozenset({"name", "state", "previous", "stream", "task", "owner", "event", "kind"})

_INPUT_PLACEHOLDER = re.compile(r"\$\{input:[^}]*\}")

_KEY_WORDS = (
    r"(?:api[_-]?key|apikey|access[_-]?key|secret|private[_-]?key|token|password|passwd|pwd|"
    r"credentials?|authorization|auth|signature|sig)"
)

# Announced by a word (``Bearer …``, ``token=…``, ``"api_key": "…"``): key, separator and scheme survive.
_ANNOUNCED = re.compile(
    r"(?P<keep>\b(?:bearer|basic|token|bot)[ \t]+)[A-Za-z0-9._~+/=-]{6,}"
    r"|(?P<keep_kv>" + _KEY_WORDS + r"[A-Za-z0-9_-]*[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?:bearer|basic|token)[ \t]+)?)(?!<redacted>)[^\s\"',;&}]{3,}",
    re.IGNORECASE,
)
# Each word ``_ANNOUNCED`` starts with holds one of these; most text has none, so the regex rarely runs.
_TRIGGER_WORDS = ("key", "token", "secret", "pass", "pwd", "auth", "cred", "sig", "bearer", "basic", "bot")

# Credentials by shape: each is a run of 14+ token characters, so shapes are tried only inside runs.
_RUN = re.compile(r"[A-Za-z0-9+/_.=~-]{14,}")
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

_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _opaque_repl(m: re.Match[str]) -> str:
    run = m.group()
    # Letters only or digits only (a word, a number) has no entropy to protect; nor has a path.
    if not (any(c.isdigit() for c in run) and any(c.isalpha() for c in run)):
        return run
    if m.group("b64") is not None and run.count("/") >= 3:
        return run
    return PLACEHOLDER


def _run_repl(m: re.Match[str]) -> str:
    return _OPAQUE.sub(_opaque_repl, _SHAPES.sub(PLACEHOLDER, m.group()))


def _announced_repl(m: re.Match[str]) -> str:
    return (m.group("keep") or m.group("keep_kv")) + PLACEHOLDER


def redact_patterns(text: str) -> str:
    """``text`` with credential-looking substrings replaced (no knowledge of actual secrets)."""
    if len(text) < _MIN_PATTERN_TEXT:
        return text
    low = text.lower()
    if any(word in low for word in _TRIGGER_WORDS):
        text = _ANNOUNCED.sub(_announced_repl, text)
    return _RUN.sub(_run_repl, text)


_SECRET_NAME = re.compile(_KEY_WORDS + r"|bearer|cookie|session|dsn|connection[_-]?string", re.IGNORECASE)
# Settings that are not credentials whatever they are called: booleans and numbers, words and
# comma lists of words, file paths, host:port, URLs with no user info and no query.
_SETTING = re.compile(
    r"(?:true|false|yes|no|on|off|null|none)"
    r"|[+-]?\d+(?:\.\d+)?"
    r"|[A-Za-z][A-Za-z_.,\- ]*"
    r"|(?:~|\.{1,2})?(?:[/\\][\w.@+,\- ]*)+|[A-Za-z]:[/\\][\w.@+,\\/\- ]*"
    r"|[\w.-]+:\d{1,5}"
    r"|[a-z][a-z0-9+.-]*://[^\s/@?#]+(?:/[^\s?#@]*)?",
    re.IGNORECASE,
)
_MIN_CREDENTIAL_LENGTH = 8


def is_credential(name: str | None, value: str) -> bool:
    """Whether a configured value is a credential rather than a setting: its variable or header
    is named like one (``API_KEY``, ``Authorization``), or it is at least 8 characters and not
    a plain setting (a word, a number, a path, a URL without user info or query)."""
    text = value.strip()
    if len(text) < MIN_SECRET_LENGTH:
        return False
    if name is not None and _SECRET_NAME.search(name):
        return True
    return len(text) >= _MIN_CREDENTIAL_LENGTH and _SETTING.fullmatch(text) is None


def secret_forms(value: str) -> frozenset[str]:
    """``value`` and the forms a server may echo it in (see the module docstring), each at
    least ``MIN_SECRET_LENGTH`` long."""
    forms: set[str] = set()
    for text in {value, value.strip(), unquote(value)}:
        forms |= {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        for safe in ("", "/"):
            for encode in (quote, quote_plus):
                encoded = encode(text, safe=safe, errors="surrogatepass")
                forms |= {encoded, _PERCENT_ESCAPE.sub(lambda m: m.group().lower(), encoded)}
    return frozenset(f for f in forms if len(f) >= MIN_SECRET_LENGTH)


def _walk(value: object, text: Callable[[str], str]) -> Any:
    """``value`` rebuilt with ``text`` applied to every string in it, mapping keys included."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list | tuple):
        return [_walk(v, text) for v in cast("Iterable[object]", value)]
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return {(text(k) if isinstance(k, str) else k): _walk(v, text) for k, v in items}
    return value


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
        chain: list[str] = []
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
    """Replaces secrets with ``<redacted>``; share one among everything that shows text, so a
    secret learned anywhere is redacted everywhere.

    Secrets are only ever added (a reloaded config adds its own, the earlier ones stay), from
    any thread; the regexes are rebuilt on the next use after a change. Each secret is either
    a credential (redacted everywhere, answers to agents included) or merely configured
    (redacted from what we show, left in what a server answers): see the module docstring.
    """

    def __init__(self, secrets: Iterable[str] = (), *, patterns: bool = True) -> None:
        self._secrets: set[str] = set()
        self._credentials: set[str] = set()
        self._forms: set[str] = set()
        self._credential_forms: set[str] = set()
        self._secret_re: re.Pattern[str] | None = None
        self._credential_re: re.Pattern[str] | None = None
        self._dirty = False
        self._lock = threading.Lock()
        self._patterns = patterns
        self.add_secrets(secrets)

    @classmethod
    def from_config(cls, config: Config, *, patterns: bool = True) -> Redactor:
        """A redactor that knows the secrets of ``config`` (see ``add_config``)."""
        redactor = cls(patterns=patterns)
        redactor.add_config(config)
        return redactor

    def add_config(self, config: Config) -> None:
        """Learn the secrets of a (re)loaded configuration: every server's ``secrets`` (what the
        loader found reaching it), ``env`` and ``headers`` values, and the inputs' defaults.
        Values the supervisor learns at start (resolved inputs, ``envFile``) come through
        ``add_secrets`` and ``add_env``."""
        for spec in config.servers.values():
            for value in spec.secrets:
                self._add_literal_parts(None, value)
            for name, value in (*spec.env.items(), *spec.headers.items()):
                if value is not None:
                    self._add_literal_parts(name, value)
        for settings in config.inputs.values():
            if settings.default:
                self.add_secrets((settings.default,), credential=settings.password or None, name=settings.id)

    def _add_literal_parts(self, name: str | None, value: str) -> None:
        # "Bearer ${input:tok}": the input comes later (add_secrets); only a long literal rest is secret.
        if _INPUT_PLACEHOLDER.search(value):
            parts = (p for part in _INPUT_PLACEHOLDER.split(value) if len(p := part.strip()) >= 12)
            self.add_secrets(parts, name=name)
        else:
            self.add_secrets((value,), name=name)

    def add_secret(self, value: str) -> None:
        """Treat ``value`` (and the forms it is echoed in) as a credential from now on."""
        self.add_secrets((value,), credential=True)

    def add_env(self, env: Mapping[str, str | None]) -> None:
        """Learn the values of an environment a server gets (an ``envFile``): each is secret,
        and a credential when ``is_credential`` says so by its name or shape."""
        for name, value in env.items():
            if value:
                self.add_secrets((value,), name=name)

    def add_secrets(self, values: Iterable[str], *, credential: bool | None = None, name: str | None = None) -> None:
        """Treat every one of ``values`` as secret from now on; values shorter than
        ``MIN_SECRET_LENGTH`` are ignored. ``credential`` says whether a value is also removed
        from answers to agents (default: decided per value, by ``name`` and shape)."""
        new = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
        sure = {v for v in new if credential or (credential is None and is_credential(name, v))}
        with self._lock:
            new -= self._secrets
            sure -= self._credentials
            for value in new:
                self._forms |= secret_forms(value)
            for value in sure:
                self._credential_forms |= secret_forms(value)
            self._secrets |= new
            self._credentials |= sure
            self._dirty = self._dirty or bool(new or sure)

    @property
    def secret_count(self) -> int:
        """How many distinct secret values are known (not counting their echoed forms)."""
        return len(self._secrets | self._credentials)

    def _compiled(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        with self._lock:
            if self._dirty:
                forms = self._forms | self._credential_forms
                self._secret_re = re.compile(_trie_pattern(forms)) if forms else None
                creds = self._credential_forms
                self._credential_re = re.compile(_trie_pattern(creds)) if creds else None
                self._dirty = False
            return self._secret_re, self._credential_re

    def redact(self, text: str) -> str:
        """``text`` with known secrets and credential-looking substrings replaced."""
        if len(text) < MIN_SECRET_LENGTH:
            return text
        secret_re = self._compiled()[0] if self._dirty else self._secret_re
        if secret_re is not None:
            text = secret_re.sub(PLACEHOLDER, text)
        return redact_patterns(text) if self._patterns else text

    def redact_answer(self, message: object) -> Any:
        """A JSON-like message a server sends an agent, with every known credential replaced
        inside its strings (keys included) and nothing else touched: a tool's result must
        survive, and the message stays valid JSON. The same object when there is nothing to do."""
        credential_re = self._compiled()[1] if self._dirty else self._credential_re
        if credential_re is None:
            return message
        try:
            return _walk(message, lambda text: credential_re.sub(PLACEHOLDER, text))
        except RecursionError:
            return PLACEHOLDER

    def redact_answer_text(self, text: str) -> str:
        """Like ``redact_answer``, for text that is not JSON (a remote server's plain answer)."""
        credential_re = self._compiled()[1] if self._dirty else self._credential_re
        return text if credential_re is None else credential_re.sub(PLACEHOLDER, text)

    def redact_value(self, value: object) -> Any:
        """Any JSON-like value with every string in it redacted, mapping keys included.

        Lists and tuples come back as lists, dicts (any keys) as dicts, numbers, booleans and
        ``None`` as they are, anything else as its redacted ``str()``. Never raises: a value
        nested too deep to walk is replaced whole.
        """
        try:
            return self._redact_value(value)
        except RecursionError:
            return PLACEHOLDER

    def _redact_value(self, value: object) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in cast("Iterable[object]", value)]
        if isinstance(value, Mapping):
            items = cast("Mapping[object, object]", value).items()
            return {self._redact_key(k): self._redact_value(v) for k, v in items}
        return self.redact(str(value))

    def _redact_key(self, key: object) -> object:
        if key is None or isinstance(key, bool | int | float):
            return key
        return self.redact(key if isinstance(key, str) else str(key))

    def redact_fields(self, fields: Mapping[str, object]) -> dict[str, Any]:
        """Redact a record's fields, keeping identifier fields (server names, states) as is."""
        return {k: v if k in KEEP_FIELDS else self.redact_value(v) for k, v in fields.items()}
