"""Forwarded stderr is rate-limited per server, and the editor is told how much was dropped."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_lsp import LanguageClient

from mcp_marshal.token_bucket import TokenBucket
from tests.lsp.conftest import fake, open_session, wait_states, wait_until, workspace_text


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    assert [bucket.take(0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert bucket.drain_suppressed() == 2 and bucket.drain_suppressed() == 0
    assert bucket.take(0.1) and not bucket.take(0.1)  # one token per 1/rate seconds
    assert [bucket.take(10.0) for _ in range(6)] == [True] * 5 + [False]  # refills up to burst only


async def test_stderr_flood_is_limited(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "n.code-workspace"
    ws.write_text(workspace_text({"noisy": fake(FAKE_STDERR_MB=0.5), "quiet": fake(FAKE_STDERR="quiet line")}))
    await open_session(client, ws)
    await wait_states(client, {"noisy": "ready", "quiet": "ready"})
    suppressed = await wait_until(
        lambda: [m for m in client.log_messages if re.fullmatch(r"\[noisy\] … \d+ lines suppressed", m.message)],
        "the suppressed-lines report",
    )
    forwarded = [m for m in client.log_messages if m.message.startswith("[noisy] eee")]
    # the core forwards at most its own rate to the bus; the editor gets a burst of 50 of those
    assert 50 <= len(forwarded) <= 120 and int(suppressed[0].message.split()[2]) > 0
    # buckets are per server; the line is the value of the server's env var, so it arrives redacted
    assert any(m.message == "[quiet] <redacted>" for m in client.log_messages)
