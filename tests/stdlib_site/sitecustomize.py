"""Loaded by every interpreter of the CPython test run (PYTHONPATH): the
instrumentation in its most demanding configuration, every event selected,
each one mapped, located and emitted as a log record.  At exit it appends
its pid, its hook implementation and how many records it exported to the
file named by AUDITHOOK_STDLIB_MARKER, which proves that it ran."""

import atexit
import os

from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace import TracerProvider

from opentelemetry.instrumentation.audithook import AuditHookInstrumentor
from opentelemetry.instrumentation.audithook._hook import STATE

_exported = [0]


class _Count(LogRecordExporter):
    def export(self, batch):  # type: ignore[no-untyped-def]
        _exported[0] += len(batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def _report() -> None:
    marker = os.environ.get("AUDITHOOK_STDLIB_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {STATE.implementation} {_exported[0]}\n")


atexit.register(_report)
trace.set_tracer_provider(TracerProvider())
_provider = LoggerProvider()
_provider.add_log_record_processor(SimpleLogRecordProcessor(_Count()))
_logs.set_logger_provider(_provider)
AuditHookInstrumentor().instrument(events="@all", rate_limit=0, no_span="log")
