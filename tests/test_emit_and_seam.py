"""Events as log records (OTEL_PYTHON_AUDITHOOK_EMIT), the SDK seam and its
public fallbacks, and providers that export nothing."""

from __future__ import annotations

import pathlib
import subprocess
from typing import Any

import pytest
from opentelemetry import _logs, context, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _otlp_sink import OtlpSink, attributes, logs_of, metrics_of
from conftest import Runner, implementation_env, run_instrumented
from opentelemetry.instrumentation.audithook import _emit
from opentelemetry.instrumentation.audithook._config import BURST_SECONDS


def _refuse(module: str, name: str) -> Any:
    raise AttributeError(f"{module}.{name} is gone in this release")


SEAMS = {"private": _emit.build_seam(), "public": _emit.build_seam(_refuse)}


def test_the_private_names_are_all_found_in_this_sdk() -> None:
    # each one is a decision made on purpose: a new private name is added to
    # the seam's table, with its fallback
    assert SEAMS["private"].private == {
        "_SUPPRESS_INSTRUMENTATION_KEY",
        "_SPAN_KEY",
        "_RUNTIME_CONTEXT",
        "Span._add_event",
        "ProxyLoggerProvider",
        "LoggerProvider._multi_log_record_processor",
    }
    assert SEAMS["public"].private == frozenset()
    # without them, the C hook's fast path is off
    assert SEAMS["public"].context_args[0] is None
    assert SEAMS["private"].context_args[0] is not None


@pytest.mark.parametrize("which", list(SEAMS))
def test_each_seam_answers_the_same_on_a_real_sdk(
    which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seam = SEAMS[which]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("seam")
    assert seam.current_span(context.get_current()) is trace.INVALID_SPAN
    with tracer.start_as_current_span("work") as span:
        ctx = context.get_current()
        assert seam.current_span(ctx) is span
        assert seam.suppressed(ctx) is False
        with suppress_instrumentation():
            assert seam.suppressed(context.get_current()) is True
        seam.add_span_event(span, "open", {"python.audit.event": "open", "file.path": "f"})
        assert seam.max_span_events(span) == 128
    (finished,) = exporter.get_finished_spans()
    assert [(e.name, dict(e.attributes or {})) for e in finished.events] == [
        ("open", {"python.audit.event": "open", "file.path": "f"})
    ]
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "10")
    with TracerProvider().get_tracer("limits").start_as_current_span("limited") as limited:
        assert seam.max_span_events(limited) == 10
    # a provider that is no provider
    assert seam.logs_exported(_logs.NoOpLoggerProvider()) is False
    exporting = LoggerProvider()
    exporting.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))
    assert seam.logs_exported(exporting) is True


def test_only_the_private_seam_sees_a_provider_with_no_processor() -> None:
    # opentelemetry-instrument --logs_exporter none: an SDK provider, no processor
    empty = LoggerProvider()
    assert SEAMS["private"].logs_exported(empty) is False
    # the fallback cannot look inside: it assumes the provider exports
    assert SEAMS["public"].logs_exported(empty) is True
    assert SEAMS["private"].logs_exported(_logs.get_logger_provider()) is False  # the proxy


def test_the_whole_pipeline_runs_on_the_public_fallbacks(run: Runner, implementation: str) -> None:
    t = run(
        """
from opentelemetry.instrumentation.audithook import _emit
from opentelemetry.instrumentation.utils import suppress_instrumentation

def gone(module, name):
    raise AttributeError(name)

_emit.SEAM = _emit.build_seam(gone)
instrumentor.instrument(meter_provider=meter_provider, events="open", code_location=False)
with span("work"):
    open("in-span.txt", "w").close()
    with suppress_instrumentation():
        open("suppressed.txt", "w").close()
open("outside.txt", "w").close()
dump()
""",
        env={"HARNESS_NO_INSTRUMENT": "1"},
    )
    assert [e["file.path"] for e in t.events("work", "open")] == ["in-span.txt"]
    assert [r["attributes"]["file.path"] for r in t.logs] == ["outside.txt"]
    assert t.count("open") == 2  # the suppressed one is the pipeline's: not counted


# --- OTEL_PYTHON_AUDITHOOK_EMIT=log -------------------------------------------------------


def test_emit_log_makes_every_event_a_log_record(run: Runner) -> None:
    t = run(
        """
from opentelemetry import trace
with span("work"):
    ids = trace.get_current_span().get_span_context()
    open("in-span.txt", "w").close()
open("outside.txt", "w").close()
dump(trace_id=ids.trace_id, span_id=ids.span_id)
""",
        kwargs={"events": "open"},
        env={"OTEL_PYTHON_AUDITHOOK_EMIT": "log"},
    )
    assert t.events("work") == []  # no span events
    inside, outside = t.logs
    assert inside["event_name"] == "open" and inside["body"] == "open"
    assert inside["attributes"]["file.path"] == "in-span.txt"
    assert inside["attributes"]["python.audit.event"] == "open"
    assert (inside["trace_id"], inside["span_id"]) == (t.extra["trace_id"], t.extra["span_id"])
    assert outside["attributes"]["file.path"] == "outside.txt"
    assert (outside["trace_id"], outside["span_id"]) == (0, 0)
    assert t.count("open") == 2
    assert t.points("python.audit.events.dropped") == []


def test_emit_log_is_a_keyword_too_and_keeps_the_rate_limit(run: Runner) -> None:
    t = run(
        """
with span("work"):
    for i in range(30):
        open("f.txt", "w").close()
dump()
""",
        # a bucket of one every two seconds holds 10 (BURST_SECONDS of its rate)
        kwargs={"events": "open", "emit": "log", "rate_limit": 0.5, "repeat_window": 0},
    )
    assert len(t.logs) == 0.5 * BURST_SECONDS == 10
    assert t.dropped("open", "rate_limited") == 20
    # log records take nothing from the span: no per-span budget applies
    assert t.dropped("open", "span_budget") == 0


def test_emit_log_without_a_provider_that_exports_counts_and_says_so(run: Runner) -> None:
    t = run(
        """
with span("work"):
    open("f.txt", "w").close()
dump()
""",
        kwargs={"events": "open"},
        env={"OTEL_PYTHON_AUDITHOOK_EMIT": "log", "HARNESS_NO_LOGS": "1"},
    )
    assert t.logs == [] and t.events("work") == []
    assert t.dropped("open", "no_logs") == 1
    assert t.stderr.count("OTEL_PYTHON_AUDITHOOK_EMIT=log, but no LoggerProvider exports") == 1


APP = """\
import sys
from opentelemetry import trace
tracer = trace.get_tracer("app")
with tracer.start_as_current_span("handle") as span:
    context = span.get_span_context()
    open("in-span.txt", "w").close()
open("outside.txt", "w").close()
print(format(context.trace_id, "032x"), format(context.span_id, "016x"))
"""


def _run_app(
    tmp_path: pathlib.Path, implementation: str, signal: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[Any], list[Any]]:
    """APP under opentelemetry-instrument, exporting over OTLP/HTTP to a real
    receiver: (the process, its requests of ``signal``, the spans).  The
    exporters wait for each answer, and the sink keeps a request before it
    answers: once the process has exited, everything it sent is there."""
    sink = OtlpSink()
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    try:
        proc = run_instrumented(
            app,
            cwd=tmp_path,
            timeout=60,
            OTEL_SERVICE_NAME="emit-test",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
            OTEL_PYTHON_AUDITHOOK_EVENTS="open",
            **implementation_env(implementation),
            **env,
        )
        requests = sink.of(signal)
        spans = sink.spans()
    finally:
        sink.close()
    assert proc.returncode == 0, proc.stderr
    return proc, requests, spans


def test_emit_log_over_real_otlp(tmp_path: pathlib.Path, implementation: str) -> None:
    proc, requests, spans = _run_app(
        tmp_path,
        implementation,
        "logs",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_PYTHON_AUDITHOOK_EMIT="log",
    )
    trace_id, span_id = proc.stdout.split()
    records = logs_of(requests, scope="opentelemetry.instrumentation.audithook")
    by_path = {attributes(r.attributes)["file.path"]: r for r in records if r.event_name == "open"}
    assert set(by_path) >= {"in-span.txt", "outside.txt"}
    inside = by_path["in-span.txt"]
    assert (inside.trace_id.hex(), inside.span_id.hex()) == (trace_id, span_id)
    assert by_path["outside.txt"].trace_id == b""
    # and the span carries no span event
    (handle,) = [s for s in spans if s.name == "handle"]
    assert list(handle.events) == []


def test_logs_exporter_none_counts_events_outside_spans(
    tmp_path: pathlib.Path, implementation: str
) -> None:
    # The SDK then sets a LoggerProvider with no processor: a log record given
    # to it goes nowhere, so an event outside spans must count as no_span.
    _, requests, _ = _run_app(
        tmp_path,
        implementation,
        "metrics",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="none",
    )
    (metric,) = [m for m in metrics_of(requests) if m.name == "python.audit.events.dropped"]
    dropped = {
        attrs["python.audit.drop.reason"]: point.as_int
        for point in metric.sum.data_points
        if (attrs := attributes(point.attributes))["python.audit.event"] == "open"
    }
    # outside.txt, and whatever the interpreter opened outside spans after start-up
    assert dropped.get("no_span", 0) >= 1, dropped
