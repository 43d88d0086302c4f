"""A minimal OTLP/HTTP logs receiver on a loopback port: records every POST, decodes protobuf."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    def request(self) -> ExportLogsServiceRequest:
        return ExportLogsServiceRequest.FromString(self.body)


class OtlpReceiver:
    """``with OtlpReceiver() as rx:`` → ``rx.endpoint`` (base URL), ``rx.posts``, ``rx.log_records()``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[Post] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.posts.append(Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                reply = ExportLogsServiceResponse().SerializeToString()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def log_records(self) -> Iterator[tuple[Any, Any, Any]]:
        """(resource, scope, log_record) for every record received so far."""
        for post in list(self.posts):
            for rl in post.request().resource_logs:
                for sl in rl.scope_logs:
                    for lr in sl.log_records:
                        yield rl.resource, sl.scope, lr
