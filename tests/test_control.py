"""Volume control and what may leave the process: sampling, rate limits, the
per-span budget, events outside spans, redaction and code location."""

from __future__ import annotations

import math

from conftest import Runner
from opentelemetry.instrumentation.audithook._config import BURST_SECONDS


def _binomial_bounds(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    mean = n * p
    sd = math.sqrt(n * p * (1 - p))
    return mean - sigmas * sd, mean + sigmas * sd


def test_one_sample_ratio_is_honoured_statistically(run: Runner) -> None:
    n = 20_000
    t = run(
        f"""
import sys
for i in range({n}):
    sys.audit("myapp.evt", i)
dump()
""",
        kwargs={"events": "myapp.*", "sample_ratio": 0.25, "no_span": "drop"},
    )
    assert t.count("myapp.evt") == n  # metrics count every selected event
    kept = t.dropped("myapp.evt", "no_span")
    low, high = _binomial_bounds(n, 0.25)
    assert low <= kept <= high, (kept, low, high)
    assert t.dropped("myapp.evt", "sampled_out") + kept == n


def test_selector_ratio_pairs_first_match_wins(run: Runner) -> None:
    n = 10_000
    t = run(
        f"""
import sys
for i in range({n}):
    sys.audit("myapp.a", i)
    sys.audit("myapp.b", i)
    sys.audit("other.c", i)
dump()
""",
        kwargs={"events": "myapp.*,other.*", "no_span": "drop"},
        env={"OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO": "myapp.a=0.1,myapp.*=0.5"},
    )
    for event, ratio in (("myapp.a", 0.1), ("myapp.b", 0.5)):
        kept = t.dropped(event, "no_span")
        low, high = _binomial_bounds(n, ratio)
        assert low <= kept <= high, (event, kept)
        assert kept + t.dropped(event, "sampled_out") == n
    assert t.dropped("other.c", "sampled_out") == 0  # no pair matches: ratio 1


def test_rate_limit_is_a_token_bucket_per_event_name(run: Runner) -> None:
    t = run(
        """
import sys, time
start = time.monotonic()
for i in range(2000):
    sys.audit("myapp.burst", i)
for i in range(10):
    sys.audit("myapp.rare", i)
dump(elapsed=time.monotonic() - start)
""",
        kwargs={"events": "myapp.*", "rate_limit": 50},
    )
    burst = [r for r in t.logs if r["event_name"] == "myapp.burst"]
    # the bucket holds BURST_SECONDS of the rate, then refills at the rate
    allowed = 50 * BURST_SECONDS + 50 * t.extra["elapsed"] + 1
    assert 50 * BURST_SECONDS <= len(burst) <= allowed
    assert t.dropped("myapp.burst", "rate_limited") == 2000 - len(burst)
    # another event name has its own bucket
    assert len([r for r in t.logs if r["event_name"] == "myapp.rare"]) == 10


def test_a_burst_of_open_cannot_evict_the_popen_that_mattered(run: Runner) -> None:
    t = run(
        """
import subprocess, sys
with span("request"):
    for i in range(300):
        open("burst.txt", "w").close()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    for i in range(300):
        open("burst.txt", "w").close()
dump()
""",
        # 600 identical opens: every one a candidate for the span
        kwargs={"events": "open,subprocess.Popen", "rate_limit": 0, "repeat_window": 0},
    )
    span = t.span("request")
    names = [e["name"] for e in span["events"]]
    assert "subprocess.Popen" in names
    assert names.count("open") == 16
    assert span["dropped_events"] == 0  # the SDK never had to evict
    assert t.dropped("open", "span_budget") == 600 - 16
    assert t.count("open") == 600


def test_audit_events_take_at_most_three_quarters_of_a_span(run: Runner) -> None:
    t = run(
        """
import sys
with span("request"):
    for i in range(200):
        sys.audit(f"myapp.e{i}", i)
dump()
""",
        kwargs={"events": "myapp.*", "rate_limit": 0},
    )
    span = t.span("request")
    assert len(span["events"]) == 96  # 3/4 of the SDK's 128
    assert span["dropped_events"] == 0
    dropped = sum(p["value"] for p in t.points("python.audit.events.dropped"))
    assert dropped == 200 - 96


def test_span_budget_attribute_sums_what_was_left_out(run: Runner) -> None:
    t = run(
        """
import sys
from opentelemetry import trace
with span("request"):
    for i in range(10):
        sys.audit("myapp.x", i)
    for i in range(5):
        sys.audit("myapp.y", i)
    sys.audit("myapp.z", 0)
    attrs = dict(trace.get_current_span().attributes)
dump(attrs=attrs)
""",
        kwargs={"events": "myapp.*", "rate_limit": 0, "span_event_budget": 4},
    )
    assert len(t.span("request")["events"]) == 4 + 4 + 1
    assert t.extra["attrs"]["python.audit.span_budget.dropped"] == 6 + 1
    # the summary per event name, as exported: aligned arrays
    exported = t.span("request")["attributes"]
    summary = dict(
        zip(
            exported["python.audit.span_budget.events"],
            exported["python.audit.span_budget.counts"],
            strict=True,
        )
    )
    assert summary == {"myapp.x": 6, "myapp.y": 1}


def test_events_outside_spans_become_log_records_with_trace_context(run: Runner) -> None:
    t = run(
        """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
sys.audit("myapp.startup", "boot")
unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("off")
with unsampled.start_as_current_span("unsampled") as s:
    ctx = s.get_span_context()
    sys.audit("myapp.in_unsampled", 7)
dump(trace_id=ctx.trace_id, span_id=ctx.span_id)
""",
        kwargs={"events": "myapp.*"},
    )
    startup, inside = t.logs
    assert startup["event_name"] == "myapp.startup"
    assert startup["attributes"]["python.audit.event"] == "myapp.startup"
    assert startup["attributes"]["python.audit.arg.0"] == "boot"
    assert startup["trace_id"] == 0
    assert inside["event_name"] == "myapp.in_unsampled"
    assert inside["trace_id"] == t.extra["trace_id"]
    assert inside["span_id"] == t.extra["span_id"]
    assert t.dropped("myapp.startup", "no_span") == 0


def test_without_a_logger_provider_events_outside_spans_are_counted_no_span(
    run: Runner,
) -> None:
    t = run(
        """
import sys
sys.audit("myapp.startup", "boot")
dump()
""",
        kwargs={"events": "myapp.*"},
        env={"HARNESS_NO_LOGS": "1"},
    )
    assert t.logs == []
    assert t.dropped("myapp.startup", "no_span") == 1


def test_code_location_can_be_turned_off(run: Runner) -> None:
    t = run(
        """
with span("work"):
    open("f.txt", "w").close()
dump()
""",
        kwargs={"events": "open"},
        env={"OTEL_PYTHON_AUDITHOOK_CODE_LOCATION": "false"},
    )
    (event,) = t.events("work", "open")
    assert not [k for k in event if k.startswith("code.")]


def test_the_sdks_attribute_limits_still_apply(run: Runner) -> None:
    t = run(
        """
with span("work"):
    open("a-long-file-name.txt", "w").close()
dump()
""",
        kwargs={"events": "open", "code_location": False},
        env={"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4", "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "3"},
    )
    (event,) = t.events("work", "open")
    assert len(event) == 3
    assert all(len(v) <= 4 for v in event.values() if isinstance(v, str))
