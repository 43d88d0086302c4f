"""Telemetry through the LSP: batches as ``telemetry/event`` only on opt-in, flush reports, a
drain before the ``shutdown`` reply, and secrets redacted everywhere the client can look."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_lsp import LanguageClient

from tests.lsp.conftest import command, fake, open_session, wait_states, wait_until, workspace_text

ENV_SECRET = "env-Secret-7f3k29QpL"
HEADER_SECRET = "hdr-Secret-9x2mWq81Z"
INPUT_SECRET = "input-Secret-4Tz8vBn3"
SECRETS = (ENV_SECRET, HEADER_SECRET, INPUT_SECRET)


def _records(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for batch in batches for record in batch["records"]]


def _stopped(records: list[dict[str, Any]], name: str) -> bool:
    return any(
        r["name"] == "ServerStateChanged" and r["fields"]["name"] == name and r["fields"]["state"] == "stopped"
        for r in records
    )


async def test_batches_on_opt_in_drained_at_shutdown_and_redacted(client: LanguageClient, tmp_path: Path) -> None:
    client.rec.inputs = {"api": INPUT_SECRET}  # type: ignore[attr-defined]
    jsonl = tmp_path / "telemetry.jsonl"
    ws = tmp_path / "t.code-workspace"
    echo = f"key={ENV_SECRET} hdr={HEADER_SECRET} in=${{input:api}}"
    servers = {
        "echo": fake(API_KEY=ENV_SECRET, FAKE_STDERR=echo),
        "remote": {
            "type": "http",
            "url": "http://127.0.0.1:9/mcp",
            "headers": {"Authorization": f"Bearer {HEADER_SECRET}"},
            "autoStart": False,
        },
    }
    inputs = [{"id": "api", "description": "API key", "password": True}]
    # small batches, so size and interval both trigger flushes during the test
    telemetry = {"batchSize": 2, "batchIntervalMs": 200, "file": str(jsonl)}
    ws.write_text(workspace_text(servers, inputs=inputs, telemetry=telemetry))
    await open_session(client, ws, telemetry=True)
    await wait_states(client, {"echo": "ready"})
    assert [r["id"] for r in client.rec.input_requests] == ["api"]  # type: ignore[attr-defined]

    batches: list[dict[str, Any]] = client.rec.telemetry  # type: ignore[attr-defined]
    await wait_until(
        lambda: any(r["name"] == "ServerReady" and r["fields"]["name"] == "echo" for r in _records(batches)),
        "a telemetry/event batch with echo's ServerReady",
    )
    for batch in batches:
        assert set(batch) == {"v", "seq", "records", "dropped"} and batch["v"] == 1
        assert all(set(r) == {"name", "ts", "fields"} for r in batch["records"])
    assert [b["seq"] for b in batches] == sorted(b["seq"] for b in batches)

    # the echoed line reaches telemetry redacted (proof it went through, not that it never came)
    await wait_until(
        lambda: any(r["name"] == "ServerLog" and r["fields"]["name"] == "echo" for r in _records(batches)),
        "echo's stderr line in a batch",
    )
    line = next(r for r in _records(batches) if r["name"] == "ServerLog")["fields"]["line"]
    assert "<redacted>" in line
    await command(client, "mcpMarshal.showLogs", "echo")

    report = await command(client, "mcpMarshal.flushTelemetry")
    assert report["complete"] is True and report["dropped"] == 0 and report["pending"] == 0
    assert report["sinks"]["lsp"]["enabled"] is True and report["sinks"]["lsp"]["sent"] >= len(_records(batches))
    assert report["sinks"]["file"]["sent"] == report["sinks"]["lsp"]["sent"]

    # shutdown: servers stop, then the queue is drained before the reply, file and editor alike
    await client.shutdown_session()
    client.capabilities = None  # the fixture must not shut down twice
    assert _stopped(_records(batches), "echo"), "the stop records were sent before the shutdown reply"
    lines = jsonl.read_text().splitlines()
    written = [json.loads(line) for line in lines]  # one record a line, with its batch's seq
    assert _stopped(written, "echo"), "the JSONL file lacks the shutdown-time records"
    assert len(written) == len(_records(batches))  # nothing lost on either side

    seen = [m.message for m in client.messages] + [m.message for m in client.log_messages]
    seen += [p.message for p in client.rec.prompts]  # type: ignore[attr-defined]
    seen += [json.dumps(x) for x in client.rec.states + client.rec.locks + batches]  # type: ignore[attr-defined]
    seen += lines
    assert any("[echo] <redacted>" in text for text in seen)
    leaks = [text for text in seen if any(secret in text for secret in SECRETS)]
    assert not leaks, leaks


async def test_nothing_sent_without_opt_in(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "q.code-workspace"
    telemetry = {"batchSize": 1000, "batchIntervalMs": 60000, "file": str(tmp_path / "t.jsonl")}
    ws.write_text(workspace_text({"a": fake()}, telemetry=telemetry))
    await open_session(client, ws, telemetry=False)
    await wait_states(client, {"a": "ready"})

    report = await command(client, "mcpMarshal.flushTelemetry")
    # the batch interval is a minute, so this flush is what handed the records over
    assert report["flushed"] > 0 and report["complete"] is True and report["pending"] == 0
    assert report["sinks"]["lsp"] == {**report["sinks"]["lsp"], "enabled": False, "sent": 0}
    assert report["sinks"]["lsp"]["skipped"] == report["flushed"] == report["sinks"]["file"]["sent"]
    # every sink finished before the reply, so a telemetry/event would have arrived by now
    assert client.rec.telemetry == []  # type: ignore[attr-defined]
    again = await command(client, "mcpMarshal.flushTelemetry")
    assert again["flushed"] == 0 and client.rec.telemetry == []  # type: ignore[attr-defined]


async def test_a_partial_batch_goes_out_after_the_interval(client: LanguageClient, tmp_path: Path) -> None:
    ws = tmp_path / "i.code-workspace"
    ws.write_text(workspace_text({"a": fake()}, telemetry={"batchSize": 1000, "batchIntervalMs": 200}))
    await open_session(client, ws, telemetry=True)
    await wait_states(client, {"a": "ready"})
    await wait_until(lambda: client.rec.telemetry, "a batch 200 ms after the first record", timeout=5)  # type: ignore[attr-defined]
