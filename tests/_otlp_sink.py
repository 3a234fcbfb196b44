"""A real OTLP/HTTP receiver on loopback, for tests: decodes the protobuf
requests the SDK's exporters send, or answers with a chosen error status."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_TYPES: dict[str, Any] = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


class OtlpSink:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[float, str, Any]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message = _TYPES[self.path]()
                message.ParseFromString(body)
                with sink.lock:
                    sink.requests.append((time.monotonic(), self.path, message))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[Any]:
        with self.lock:
            return [
                span
                for _, path, req in self.requests
                if path == "/v1/traces"
                for rs in req.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
