"""Canary secrets from every way a value reaches a server reach no sink's output.

A real process gets the canaries through its environment (``env``, an ``envFile``, a resolved
``${input:…}``), its arguments (``${env:X}`` substituted into ``args``) and a header, and echoes
them back on stderr as is, JSON-escaped and URL-encoded, beside credential-shaped strings. The
pipeline then gets what a supervisor publishes (stderr lines, the exit, the failure, the
server's ``serverInfo`` and a JSON-RPC error), and the LSP payloads, the JSONL file and the
OTLP export are searched byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from dotenv import dotenv_values

from mcp_marshal.config.dag import DependencyGraph
from mcp_marshal.config.models import Config, InputSettings, ServerSpec
from mcp_marshal.events import EventBus, ServerExited, ServerFailed, ServerLog, ServerReady, ServerStateChanged
from mcp_marshal.redact import PLACEHOLDER, Redactor
from mcp_marshal.telemetry import JsonlFileSink, LspSink, TelemetryPipeline
from mcp_marshal.telemetry.otlp import OtlpSink
from tests.unit.telemetry.conftest import Capture
from tests.unit.telemetry.otlp_receiver import OtlpReceiver

ENV_SECRET = 'files-env-S3cret/0042"q&x'  # in env; with the characters escaping changes
ENV_FILE_SECRET = "from-envFile-S3cret-0046"  # a line of the server's envFile
ARG_SECRET = "arg-from-env-S3cret-0047"  # ${env:ARG_TOKEN} substituted into args
HEADER_SECRET = "web-header-S3cret-0043"
INPUT_SECRET = "typed-input-S3cret-0044"  # resolved ${input:tok}, known only at runtime
PATTERN_SECRETS = [
    "sk-ant-api03-Zz9Yy8Xx7Ww6Vv5Uu4Tt3",
    "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6",
    "BearerPart-q1w2e3r4t5",
    "pw-from-stderr-77",
]
KNOWN = [ENV_SECRET, ENV_FILE_SECRET, ARG_SECRET, HEADER_SECRET, INPUT_SECRET]

# The server: echoes its argv and the canary variables, plain, JSON-escaped and URL-encoded.
ECHO_SERVER = r"""
import json, os, sys
from urllib.parse import quote
values = [sys.argv[2]] + [os.environ[k] for k in ("FILES_TOKEN", "ENV_FILE_TOKEN", "INPUT_TOKEN")]
for v in values:
    print(f"starting with {v}", file=sys.stderr)
    print(json.dumps({"error": {"message": f"cannot open {v}"}}), file=sys.stderr)
    print(f"GET /callback?state={quote(v, safe='')}&next=%2F", file=sys.stderr)
print("argv " + " ".join(sys.argv[1:]), file=sys.stderr)
print(os.environ["LEAK"], file=sys.stderr)
sys.exit(3)
"""


def workspace_config(tmp_path: Path) -> Config:
    """What the loader makes of the workspace: ``secrets`` holds what reaches each server."""
    files = ServerSpec(
        name="files",
        type="stdio",
        command=sys.executable,
        args=(str(tmp_path / "echo.py"), "--token", ARG_SECRET),
        env={"FILES_TOKEN": ENV_SECRET, "INPUT_TOKEN": "${input:tok}"},
        env_file=tmp_path / "files.env",
        inputs=("tok",),
        secrets=frozenset({ENV_SECRET, ARG_SECRET}),
    )
    web = ServerSpec(
        name="web",
        type="http",
        url="http://127.0.0.1:9/mcp",
        headers={"X-Api-Key": HEADER_SECRET},
        secrets=frozenset({HEADER_SECRET}),
    )
    return Config(
        file=tmp_path / "w.code-workspace",
        folders=(),
        servers={"files": files, "web": web},
        deps=DependencyGraph({"files": frozenset(), "web": frozenset()}),
        inputs={"tok": InputSettings(id="tok", password=True)},
    )


async def run_leaky_server(tmp_path: Path, bus: EventBus, redactor: Redactor) -> None:
    """Start the echo server as a supervisor would (env + envFile + resolved input), learning
    the values it learns at start, and publish what it publishes."""
    (tmp_path / "echo.py").write_text(ECHO_SERVER)
    (tmp_path / "files.env").write_text(f"ENV_FILE_TOKEN={ENV_FILE_SECRET}\nDEBUG=1\n")
    spec = workspace_config(tmp_path).servers["files"]
    assert spec.env_file is not None and spec.command is not None
    env_file = {k: v for k, v in dotenv_values(spec.env_file).items() if v is not None}
    redactor.add_secrets(env_file.values())
    redactor.add_secrets([INPUT_SECRET])  # the answer to the ${input:tok} prompt
    leak = (
        f"key {PATTERN_SECRETS[0]} gh {PATTERN_SECRETS[1]} Authorization: Bearer {PATTERN_SECRETS[2]} "
        f"password={PATTERN_SECRETS[3]} X-Api-Key: {HEADER_SECRET}"
    )
    env = {**env_file, "FILES_TOKEN": ENV_SECRET, "INPUT_TOKEN": INPUT_SECRET, "LEAK": leak}
    proc = await asyncio.create_subprocess_exec(
        spec.command,
        *spec.args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "PATH": os.environ.get("PATH", "")},
    )
    assert proc.stderr is not None
    tail: list[str] = []
    async with asyncio.timeout(30):
        async for raw in proc.stderr:
            line = raw.decode().rstrip("\n")  # unredacted: the pipeline alone must catch every canary
            tail.append(line)
            bus.publish(ServerLog(name="files", stream="stderr", line=line))
        code = await proc.wait()
    assert code == 3 and len(tail) == 14 and any(ENV_FILE_SECRET in line for line in tail)  # it leaked
    bus.publish(ServerExited(name="files", code=code, signal=None, expected=False, stderr_tail=tuple(tail)))
    bus.publish(ServerFailed(name="files", reason=f"exited with {code}: {tail[0]}", stderr_tail=tuple(tail)))
    # What a server sends back: its serverInfo, and a JSON-RPC error shown as JSON text.
    info = {"name": "files", "version": f"1.0 {INPUT_SECRET}", "extra": [{ARG_SECRET: 1, 7: ENV_FILE_SECRET}]}
    bus.publish(ServerReady(name="files", handshake_ms=3.0, protocol_version="2025-11-25", server_info=info))
    error = {"code": -32602, "message": f"cannot use {ENV_SECRET}", "data": {"got": ARG_SECRET}}
    bus.publish(ServerStateChanged(name="web", state="failed", previous="starting", detail=f"401 {json.dumps(error)}"))


def echoed(secret: str) -> list[bytes]:
    """The byte strings that would show ``secret`` in an output, however it was echoed."""
    forms = {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}
    return [f.encode() for f in forms] + [json.dumps(f)[1:-1].encode() for f in forms]


async def test_no_canary_reaches_any_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = Capture()
    path = tmp_path / "t.jsonl"
    with OtlpReceiver() as rx:
        sinks = [LspSink(capture), JsonlFileSink(path), OtlpSink(endpoint=f"{rx.endpoint}/v1/logs", timeout=10)]
        bus = EventBus()
        pipeline = TelemetryPipeline.for_config(workspace_config(tmp_path), sinks)
        pipeline.attach(bus)
        await pipeline.start()
        await run_leaky_server(tmp_path, bus, pipeline.redactor)
        report = await pipeline.shutdown(timeout=20)
    assert report["complete"] and all(s["errors"] == 0 for s in report["sinks"].values())

    outputs = {
        "lsp": json.dumps(capture.payloads, ensure_ascii=False).encode(),
        "file": path.read_bytes(),
        "otlp": b"".join(post.body for post in rx.posts),
    }
    for sink, data in outputs.items():
        assert data.count(PLACEHOLDER.encode()) >= 20, sink
        assert b"files" in data and b"web" in data and b"--token" in data, sink  # names and the rest stay
        assert b"/callback?state=" in data and b"next=%2F" in data, sink
        for secret in KNOWN:
            for form in echoed(secret):
                assert form not in data, (sink, secret, form)
        for secret in PATTERN_SECRETS:
            assert secret.encode() not in data, (sink, secret)
    names = [r["name"] for r in capture.records]
    assert names == ["ServerLog"] * 14 + ["ServerExited", "ServerFailed", "ServerReady", "ServerStateChanged"]
    ready = capture.records[-2]["fields"]
    assert ready["server_info"] == {
        "name": "files",
        "version": f"1.0 {PLACEHOLDER}",
        "extra": [{PLACEHOLDER: 1, "7": PLACEHOLDER}],
    }


def test_the_same_redactor_serves_log_messages(tmp_path: Path) -> None:
    """The LSP shell redacts ``window/logMessage`` text (and ``up --json`` its lines) with the
    pipeline's redactor, so it knows every canary once the supervisor has learned them."""
    r = Redactor.from_config(workspace_config(tmp_path))
    r.add_secrets([INPUT_SECRET, ENV_FILE_SECRET])
    text = f"[files] {ENV_SECRET} {ARG_SECRET} {INPUT_SECRET} {ENV_FILE_SECRET} token={PATTERN_SECRETS[3]}"
    assert r.redact(text) == f"[files] {' '.join([PLACEHOLDER] * 4)} token={PLACEHOLDER}"
