"""The instrumentation never hurts the application it is loaded into, and
loses nothing without counting it: faults at every stage, hostile input,
misbehaving exporters, process life, and a flood of events."""

from __future__ import annotations

import time

import pytest

from _otlp_sink import OtlpSink
from conftest import Runner, implementation_env, run_instrumented

# A bug injected at each stage of the hook's work, as code run in the scenario.
FAULTS = {
    "selection": """
from opentelemetry.instrumentation.audithook import _config
def boom(self, name):
    raise RuntimeError("injected selection bug")
_config.Selection.mode = boom
""",
    # the pure hook samples in Python (the C hook in C: nothing to break there)
    "sampling": """
from opentelemetry.instrumentation.audithook import _purehook
def boom():
    raise RuntimeError("injected sampling bug")
_purehook.random = boom
""",
    # where the hook cannot read the context itself, it asks Python
    "situation": """
from opentelemetry.instrumentation.audithook._hook import STATE
def boom():
    raise RuntimeError("injected situation bug")
STATE.emitter.situation = boom
STATE.impl.set_context(None, (), None, None, STATE.situation)
""",
    "mapping": """
from opentelemetry.instrumentation.audithook import _mapping
def boom(*args):
    raise RuntimeError("injected mapping bug")
_mapping.map_arguments = boom
""",
    "location": """
from opentelemetry.instrumentation.audithook import _emit
def boom(*args):
    raise RuntimeError("injected location bug")
_emit.caller_location = boom
""",
    "emitting": """
from opentelemetry.instrumentation.audithook._hook import STATE
def boom(*args):
    raise RuntimeError("injected emitting bug")
STATE.emitter.seam.add_span_event = boom
""",
}


@pytest.mark.parametrize("stage", list(FAULTS))
def test_a_bug_at_each_stage_leaves_the_operation_intact(
    run: Runner, implementation: str, stage: str
) -> None:
    if stage == "sampling" and implementation == "c":
        pytest.skip("the C hook samples in C: there is no Python to break")
    t = run(
        FAULTS[stage]
        + """
import pathlib
with span("work"):
    for i in range(5):
        with open(f"f{i}.txt", "w") as f:
            f.write(f"data {i}")
    # closed at once: under -X dev (the stress tier) an unclosed file's
    # ResourceWarning would read this script's source, one more open event
    contents = [pathlib.Path(f"f{i}.txt").read_text() for i in range(5)]
dump(contents=contents)
""",
        kwargs={"events": "open", "sample_ratio": "open=0.999999", "code_location": True},
    )
    assert t.extra["contents"] == [f"data {i}" for i in range(5)]
    if stage == "location":
        # the events go out without their location, and the bug is reported once
        events = t.events("work", "open")
        assert len(events) == 10
        assert not any("code.file.path" in e for e in events)
        assert t.dropped("open", "hook_error") == 0
        assert t.stderr.count("could not find the code location of 'open'") == 1
        assert "injected location bug" in t.stderr
        return
    assert t.events("work") == []
    hook_errors = t.dropped("open", "hook_error")
    # selection fails once, then the name is treated as unselected; the other
    # stages fail for every event (the 5 writes and the 5 reads)
    assert hook_errors == (1 if stage == "selection" else 10)
    assert t.stderr.count("audit hook failed on event 'open'") == 1
    assert f"injected {stage} bug" in t.stderr


def test_an_exporter_that_raises_does_not_reach_the_application(run: Runner) -> None:
    t = run(
        """
from opentelemetry.sdk.trace.export import SpanExporter
class Broken(SpanExporter):
    def export(self, spans):
        raise RuntimeError("injected export bug")
tracer_provider.add_span_processor(SimpleSpanProcessor(Broken()))
with span("work"):
    with open("f.txt", "w") as f:
        f.write("ok")
dump(content=open("f.txt").read())
""",
        kwargs={"events": "open"},
    )
    assert t.extra["content"] == "ok"
    assert len(t.events("work", "open")) == 1  # the other processor still got it
    assert t.dropped("open", "hook_error") == 0
    assert "injected export bug" in t.stderr  # the SDK logs its exporter's failure


def test_debug_logging_of_the_whole_sdk_does_not_recurse(run: Runner) -> None:
    t = run(
        """
import logging
class FileTouchingHandler(logging.Handler):
    def emit(self, record):
        with open("debug.log", "a") as f:
            f.write(record.getMessage() + "\\n")
logging.basicConfig(level=logging.DEBUG, handlers=[FileTouchingHandler()], force=True)
from opentelemetry.instrumentation.audithook import _mapping
real = _mapping.map_arguments
def noisy(*args):
    logging.getLogger("opentelemetry.sdk").debug("mapping %s", args[0])
    return real(*args)
_mapping.map_arguments = noisy
with span("work"):
    for i in range(100):
        open(f"app{i}.txt", "w").close()
dump(lines=sum(1 for _ in open("debug.log")))
""",
        kwargs={"events": "open", "rate_limit": 0, "span_event_budget": 0},
    )
    assert t.extra["lines"] >= 16  # the DEBUG records of the mapping did run
    # the handler's own opens happen inside the hook: not recorded, no recursion
    paths = {e["file.path"] for e in t.events("work", "open")}
    assert all(p.startswith("app") for p in paths)
    assert "RecursionError" not in t.stderr
    assert t.dropped("open", "hook_error") == 0


def test_a_hanging_exporter_does_not_block_audited_calls(run: Runner) -> None:
    t = run(
        """
import threading, time
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
entered, release = threading.Event(), threading.Event()
class Hanging(SpanExporter):
    def export(self, spans):
        entered.set()
        release.wait(60)
        return SpanExportResult.SUCCESS
tracer_provider.add_span_processor(BatchSpanProcessor(Hanging(), schedule_delay_millis=10))
entered_during_work = None
for i in range(300):
    with span(f"r{i}"):
        for j in range(5):
            open("f.txt", "w").close()
    if i == 150:
        entered.wait(10)  # by now the exporter is stuck
        entered_during_work = entered.is_set()
work_done_while_hanging = not release.is_set()
release.set()
dump(entered=entered_during_work, done_while_hanging=work_done_while_hanging)
""",
        kwargs={"events": "open"},
    )
    assert t.extra == {"entered": True, "done_while_hanging": True}
    assert t.count("open") == 1500


@pytest.mark.parametrize("status", [429, 503])
def test_an_exporter_answered_429_or_503_does_not_block_audited_calls(
    run: Runner, status: int
) -> None:
    sink = OtlpSink(status=status)
    try:
        t = run(
            f"""
import time
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
exporter = OTLPSpanExporter(endpoint="{sink.endpoint}/v1/traces", timeout=5)
calls = []
real_export = exporter.export
def export(spans):
    calls.append([time.monotonic(), None])
    result = real_export(spans)
    calls[-1][1] = time.monotonic()
    return result
exporter.export = export
tracer_provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=10))
for i in range(200):
    with span(f"r{{i}}"):
        for j in range(5):
            open("f.txt", "w").close()
    if i == 20:
        time.sleep(0.3)  # let the first export start and be refused
done = time.monotonic()
first = [c for c in calls]
dump(calls=first, done=done)
""",
            kwargs={"events": "open"},
            timeout=120,
        )
    finally:
        sink.close()
    assert sink.requests, "the exporter never reached the sink"
    start, end = t.extra["calls"][0]
    # the first export began during the work, and was still retrying the
    # refused request when all the audited calls were done
    assert start < t.extra["done"]
    assert end is None or end > t.extra["done"]
    # the 1000 writes, and the .pyc files the app's import of the exporter read
    assert t.count("open") >= 1000


def test_exit_flushes_pending_telemetry_quietly(tmp_path, implementation: str) -> None:  # type: ignore[no-untyped-def]
    sink = OtlpSink()
    app = tmp_path / "app.py"
    app.write_text(
        "from opentelemetry import trace\n"
        "tracer = trace.get_tracer('app')\n"
        "for i in range(50):\n"
        "    with tracer.start_as_current_span(f'request-{i}'):\n"
        "        open('f.txt', 'w').close()\n",
        encoding="utf-8",
    )
    try:
        start = time.monotonic()
        proc = run_instrumented(
            app,
            cwd=tmp_path,
            timeout=60,
            OTEL_SERVICE_NAME="exit-test",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
            # pending at exit: the batch would not be sent for a minute otherwise
            OTEL_BSP_SCHEDULE_DELAY="60000",
            OTEL_PYTHON_AUDITHOOK_EVENTS="open",
            OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW="0",
            **implementation_env(implementation),
        )
        elapsed = time.monotonic() - start
        spans = sink.spans()
    finally:
        sink.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert len(spans) == 50
    assert all([e.name for e in s.events] == ["open"] for s in spans)
    print(f"process with 50 pending spans exited and flushed in {elapsed:.2f}s")
