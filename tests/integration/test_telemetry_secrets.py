"""Secrets planted in env, headers, inputs and a real server's stderr reach no sink's output."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.config.models import Config, InputSettings, ServerSpec
from mcp_marshal.events import EventBus, ServerExited, ServerFailed, ServerLog, ServerStateChanged
from mcp_marshal.redact import PLACEHOLDER, Redactor
from mcp_marshal.telemetry import JsonlFileSink, LspSink, TelemetryPipeline
from mcp_marshal.telemetry.otlp import OtlpSink
from tests.support import FAKE
from tests.unit.telemetry.conftest import Capture
from tests.unit.telemetry.otlp_receiver import OtlpReceiver

ENV_SECRET = "files-env-S3cret-0042"
HEADER_SECRET = "web-header-S3cret-0043"
INPUT_SECRET = "typed-input-S3cret-0044"  # resolved ${input:tok}, known only at runtime
PATTERN_SECRETS = [
    "sk-ant-api03-Zz9Yy8Xx7Ww6Vv5Uu4Tt3",
    "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6",
    "BearerPart-q1w2e3r4t5",
    "pw-from-stderr-77",
]
ALL_SECRETS = [ENV_SECRET, HEADER_SECRET, INPUT_SECRET, *PATTERN_SECRETS]


def workspace_config(tmp_path: Path) -> Config:
    files = ServerSpec(
        name="files",
        type="stdio",
        command=sys.executable,
        args=(FAKE,),
        env={"FILES_TOKEN": ENV_SECRET, "INPUT_TOKEN": "${input:tok}"},
        inputs=("tok",),
    )
    web = ServerSpec(name="web", type="http", url="http://127.0.0.1:9/mcp", headers={"X-Api-Key": HEADER_SECRET})
    return Config(
        file=tmp_path / "w.code-workspace",
        folders=(),
        servers={"files": files, "web": web},
        deps=DependencyGraph({"files": frozenset(), "web": frozenset()}),
        inputs={"tok": InputSettings(id="tok", password=True)},
    )


async def run_leaky_server(bus: EventBus) -> None:
    """Spawn the fake server with secrets in its env and stderr; publish what a supervisor would."""
    stderr_line = (
        f"auth failed: FILES_TOKEN={ENV_SECRET} X-Api-Key: {HEADER_SECRET} input {INPUT_SECRET} "
        f"key {PATTERN_SECRETS[0]} gh {PATTERN_SECRETS[1]} Authorization: Bearer {PATTERN_SECRETS[2]} "
        f"password={PATTERN_SECRETS[3]}"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        FAKE,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={"FILES_TOKEN": ENV_SECRET, "FAKE_STDERR": stderr_line, "FAKE_CRASH_AT_START": "1"},
    )
    assert proc.stderr is not None
    tail: list[str] = []
    async with asyncio.timeout(30):
        async for raw in proc.stderr:
            line = raw.decode().rstrip("\n")
            tail.append(line)
            bus.publish(ServerLog(name="files", stream="stderr", line=line))
        code = await proc.wait()
    assert any(ENV_SECRET in line for line in tail)  # the server really leaked it
    bus.publish(ServerExited(name="files", code=code, signal=None, expected=False, stderr_tail=tuple(tail)))
    bus.publish(ServerFailed(name="files", reason=f"exited with {code}: {tail[0]}", stderr_tail=tuple(tail)))
    bus.publish(ServerStateChanged(name="web", state="failed", previous="starting", detail=f"401 for {HEADER_SECRET}"))


async def test_no_secret_reaches_any_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = Capture()
    path = tmp_path / "t.jsonl"
    with OtlpReceiver() as rx:
        sinks = [LspSink(capture), JsonlFileSink(path), OtlpSink(endpoint=f"{rx.endpoint}/v1/logs", timeout=10)]
        cfg = workspace_config(tmp_path)
        bus = EventBus()
        pipeline = TelemetryPipeline.for_config(cfg, sinks)
        pipeline.attach(bus)
        pipeline.redactor.add_secret(INPUT_SECRET)  # what the supervisor does on resolving ${input:tok}
        await pipeline.start()
        await run_leaky_server(bus)
        report = await pipeline.shutdown(timeout=20)
    assert report["complete"] and all(s["errors"] == 0 for s in report["sinks"].values())

    outputs = {
        "lsp": json.dumps(capture.payloads, ensure_ascii=False).encode(),
        "file": path.read_bytes(),
        "otlp": b"".join(post.body for post in rx.posts),
    }
    for sink, data in outputs.items():
        assert PLACEHOLDER.encode() in data, sink
        assert b"files" in data and b"web" in data and b"FILES_TOKEN" in data, sink  # names and keys stay
        for secret in ALL_SECRETS:
            assert secret.encode() not in data, (sink, secret)
    names = [r["name"] for r in capture.records]
    assert names[:2] == ["ServerLog", "ServerLog"] and names[-3:] == [
        "ServerExited",
        "ServerFailed",
        "ServerStateChanged",
    ]


def test_the_same_redactor_serves_log_messages() -> None:
    """The LSP shell redacts ``window/logMessage`` text with the pipeline's redactor."""
    r = Redactor.from_config(workspace_config(Path("/tmp")))
    r.add_secret(INPUT_SECRET)
    text = f"[files] {ENV_SECRET} {INPUT_SECRET} token={PATTERN_SECRETS[3]}"
    assert r.redact(text) == f"[files] {PLACEHOLDER} {PLACEHOLDER} token={PLACEHOLDER}"
