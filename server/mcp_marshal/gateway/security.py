"""Who may talk to the gateway: the bearer token (or the capability URL that carries it), and
``Host``/``Origin`` checked against DNS rebinding. Pure functions of the request's parts."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """What a ``Host`` header may say: the loopback names (when we listen on loopback), or the
    configured host, each with our port."""
    names = set(LOOPBACK_NAMES) if is_loopback(host) or host in ("0.0.0.0", "::") else set()
    names.add(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return frozenset(f"{name}:{port}" for name in names)


def host_ok(header: str | None, allowed: frozenset[str]) -> bool:
    return header is not None and header.lower() in allowed


def origin_ok(header: str | None, allowed: frozenset[str]) -> bool:
    """No ``Origin`` (a non-browser client) is fine; a browser's must be one of our own."""
    if header is None:
        return True
    parts = urlsplit(header)
    return parts.scheme in ("http", "https") and parts.netloc.lower() in allowed


def token_ok(given: str | None, token: str) -> bool:
    """Compared in constant time, so response times say nothing about the token."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
