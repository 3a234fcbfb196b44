"""Runs CPython's regression test runner inside one recording span (run by
the CPython tier under ``opentelemetry-instrument``).  At exit it appends what
the audit hook did in this process to the file named by
AUDITHOOK_CPYTHON_MARKER: its implementation and how many selected events it
counted, which proves it ran (or, disabled, that it did not)."""

import atexit
import os
import sys

from opentelemetry import trace


def _report() -> None:
    from opentelemetry.instrumentation.audithook._hook import STATE

    selected, _ = STATE.snapshot()
    with open(os.environ["AUDITHOOK_CPYTHON_MARKER"], "a", encoding="utf-8") as f:
        f.write(f"{STATE.implementation} {sum(selected.values())}\n")


atexit.register(_report)
span = trace.get_tracer("cpython-tests").start_span("cpython-tests")
assert span.is_recording()
with trace.use_span(span, end_on_exit=True):
    from test.libregrtest.main import main

    sys.argv[0] = "regrtest"
    main()
