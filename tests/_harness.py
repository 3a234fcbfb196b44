"""Imported first by every scenario script that the tests run in a subprocess.

Audit hooks can never be removed, so each scenario that installs one runs in a
fresh interpreter: it sets up real SDK pipelines (in-memory span exporter,
metric reader, log exporter), instruments with the keyword arguments found
in ``HARNESS_KWARGS`` (JSON), runs, and ``dump()`` prints what was exported.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry.instrumentation.audithook import AuditHookInstrumentor

MARKER = "@@TELEMETRY@@"

span_exporter = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
trace.set_tracer_provider(tracer_provider)
metric_reader = InMemoryMetricReader()
meter_provider = MeterProvider(metric_readers=[metric_reader])
tracer = trace.get_tracer("scenario")
log_exporter = InMemoryLogRecordExporter()
logger_provider = LoggerProvider()
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
if os.environ.get("HARNESS_NO_LOGS") != "1":
    _logs.set_logger_provider(logger_provider)

instrumentor = AuditHookInstrumentor()
KWARGS: dict[str, Any] = json.loads(os.environ.get("HARNESS_KWARGS", "{}"))
if os.environ.get("HARNESS_NO_INSTRUMENT") != "1":
    instrumentor.instrument(meter_provider=meter_provider, **KWARGS)


@contextlib.contextmanager
def span(name: str) -> Iterator[None]:
    with tracer.start_as_current_span(name):
        yield


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def collect() -> dict[str, Any]:
    spans = [
        {
            "name": s.name,
            "events": [
                {"name": e.name, "attributes": {k: _plain(v) for k, v in e.attributes.items()}}
                for e in s.events
            ],
            "dropped_events": s.dropped_events,
            "attributes": {k: _plain(v) for k, v in (s.attributes or {}).items()},
        }
        for s in span_exporter.get_finished_spans()
    ]
    metrics: dict[str, list[dict[str, Any]]] = {}
    data = metric_reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points = metrics.setdefault(metric.name, [])
                for point in metric.data.data_points:
                    points.append({"attributes": dict(point.attributes), "value": point.value,
                                   "unit": metric.unit, "scope": sm.scope.name,
                                   "scope_version": sm.scope.version})  # fmt: skip
    logs = []
    for item in log_exporter.get_finished_logs():
        record = getattr(item, "log_record", item)
        logs.append(
            {
                "event_name": record.event_name,
                "body": record.body,
                "attributes": {k: _plain(v) for k, v in (record.attributes or {}).items()},
                "trace_id": record.trace_id or 0,
                "span_id": record.span_id or 0,
                "severity_text": record.severity_text,
            }
        )
    return {"spans": spans, "metrics": metrics, "logs": logs}


def otlp_bytes() -> bytes:
    """Everything exported so far, serialized by the real OTLP encoders."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans = encode_spans(span_exporter.get_finished_spans()).SerializeToString()
    logs = encode_logs(log_exporter.get_finished_logs()).SerializeToString()
    return spans + logs


def dump(**extra: Any) -> None:
    from opentelemetry.instrumentation.audithook._hook import STATE

    payload = collect()
    payload["extra"] = extra
    payload["implementation"] = STATE.implementation
    sys.stdout.write(MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()
