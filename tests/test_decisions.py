"""Every drop that needs no span object is decided by the hook itself (in C
for the C hook) before any of our Python runs, and counted by reason: the
Python handler sees only the events that will be exported."""

from __future__ import annotations

import os

import pytest

from conftest import COUNT_HANDLER_CALLS, Runner
from opentelemetry.instrumentation.audithook._config import BURST_SECONDS


def test_rate_limited_events_outside_spans_never_reach_python(run: Runner) -> None:
    # opentelemetry-instrument's defaults: a LoggerProvider, no_span=log,
    # rate limits on: a burst outside spans becomes log records up to the limit
    t = run(
        COUNT_HANDLER_CALLS
        + """
for i in range(3000):
    sys.audit("myapp.burst", i)
dump(handled=len(handled))
""",
        kwargs={"events": "myapp.*", "rate_limit": 50, "rate_limit_total": 0},
    )
    logged = [r for r in t.logs if r["event_name"] == "myapp.burst"]
    assert 50 * BURST_SECONDS <= len(logged) <= 50 * BURST_SECONDS + 10
    assert t.extra["handled"] == len(logged)
    assert t.count("myapp.burst") == 3000
    assert t.dropped("myapp.burst", "rate_limited") == 3000 - len(logged)


def test_the_process_wide_rate_limit_is_decided_by_the_hook(run: Runner) -> None:
    t = run(
        COUNT_HANDLER_CALLS
        + """
for i in range(1000):
    sys.audit(f"myapp.name{i % 10}", i)
dump(handled=len(handled))
""",
        kwargs={"events": "myapp.*", "rate_limit": 0, "rate_limit_total": 30},
    )
    assert 30 * BURST_SECONDS <= len(t.logs) <= 30 * BURST_SECONDS + 5
    assert t.extra["handled"] == len(t.logs)
    total = sum(t.dropped(f"myapp.name{k}", "rate_limited_total") for k in range(10))
    assert total == 1000 - len(t.logs)


def test_sampling_and_spans_that_do_not_record_are_decided_by_the_hook(run: Runner) -> None:
    t = run(
        COUNT_HANDLER_CALLS
        + """
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("off")
for i in range(400):
    sys.audit("myapp.outside", i)
with unsampled.start_as_current_span("unsampled"):
    for i in range(400):
        sys.audit("myapp.unsampled", i)
with span("work"):
    for i in range(400):
        sys.audit("myapp.halved", i)
dump(handled=handled)
""",
        kwargs={
            "events": "myapp.*",
            "no_span": "drop",
            "sample_ratio": "myapp.halved=0.5",
            "rate_limit": 0,
            "span_event_budget": 0,
        },
        env={"OTEL_SPAN_EVENT_COUNT_LIMIT": "1000"},
    )
    for name in ("myapp.outside", "myapp.unsampled"):
        assert t.count(name) == 400
        assert t.dropped(name, "no_span") == 400
    kept = len(t.events("work", "myapp.halved"))
    assert t.dropped("myapp.halved", "sampled_out") == 400 - kept
    # 400 draws at 0.5: 200 +- 5 sigma
    assert 150 <= kept <= 250
    assert t.extra["handled"] == ["myapp.halved"] * kept


def test_the_pipeline_s_own_work_is_neither_counted_nor_handled(run: Runner) -> None:
    t = run(
        COUNT_HANDLER_CALLS
        + """
from opentelemetry.instrumentation.utils import suppress_instrumentation
with span("work"):
    with suppress_instrumentation():
        for i in range(50):
            sys.audit("myapp.exporting", i)
    sys.audit("myapp.app", 1)
dump(handled=handled)
""",
        kwargs={"events": "myapp.*"},
    )
    assert t.extra["handled"] == ["myapp.app"]
    assert t.count("myapp.exporting") == 0
    assert [e["python.audit.event"] for e in t.events("work")] == ["myapp.app"]


def test_standard_library_imports_are_left_out_by_the_hook(run: Runner) -> None:
    # @default selects import, but only of modules outside the standard library
    t = run(
        COUNT_HANDLER_CALLS
        + """
import pathlib
pathlib.Path("mylocalmod.py").write_text("VALUE = 1\\n")
sys.path.insert(0, ".")
with span("work"):
    import colorsys, mylocalmod
dump(handled=handled)
""",
        kwargs={"events": "@default"},
    )
    modules = [e["python.audit.arg.module"] for e in t.events("work", "import")]
    assert modules == ["mylocalmod"]
    assert t.extra["handled"].count("import") == 1
    assert t.count("import") == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_full_rate_limits_and_no_counts(run: Runner) -> None:
    t = run(
        """
import os, sys, json
for i in range(500):
    sys.audit("myapp.burst", i)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    from opentelemetry.instrumentation.audithook._hook import STATE
    for i in range(500):
        sys.audit("myapp.burst", i)
    selected, dropped = STATE.snapshot()
    os.write(w, json.dumps([selected.get("myapp.burst"),
                            dropped.get(("myapp.burst", "rate_limited"))]).encode())
    os._exit(0)
os.waitpid(pid, 0)
dump(child=json.loads(os.read(r, 1000)))
""",
        kwargs={"events": "myapp.*", "rate_limit": 10, "rate_limit_total": 0},
    )
    selected, rate_limited = t.extra["child"]
    assert selected == 500
    # the child's own bucket starts full: about 10 * BURST_SECONDS of its 500 go out
    assert 500 - 10 * BURST_SECONDS - 10 <= rate_limited <= 500 - 10 * BURST_SECONDS
