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

    def of(self, signal: str) -> list[Any]:
        """The requests of one signal ("traces", "metrics", "logs"), as
        ``OtlpGrpcSink.of``."""
        with self.lock:
            return [req for _, path, req in self.requests if path == f"/v1/{signal}"]

    def spans(self) -> list[Any]:
        return spans_of(self.of("traces"))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# What either sink received (OtlpSink.of, OtlpGrpcSink.of), decoded.


def attributes(kvs: Any) -> dict[str, Any]:
    out = {}
    for kv in kvs:
        which = kv.value.WhichOneof("value")
        value = getattr(kv.value, which) if which else None
        if which == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        out[kv.key] = value
    return out


def spans_of(requests: list[Any]) -> list[Any]:
    return [
        s for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]


def metrics_of(requests: list[Any]) -> list[Any]:
    found: dict[str, Any] = {}
    for r in requests:  # the last export holds the final cumulative values
        for rm in r.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    found[m.name] = m
    return list(found.values())


def logs_of(requests: list[Any], scope: str | None = None) -> list[Any]:
    """The log records, of one instrumentation scope if ``scope`` is given."""
    return [
        lr
        for r in requests
        for rl in r.resource_logs
        for sl in rl.scope_logs
        if scope is None or sl.scope.name == scope
        for lr in sl.log_records
    ]
