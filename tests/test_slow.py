"""The slow tier (AUDITHOOK_SLOW_TESTS=1, as .ci/run sets): a flood of ten
million events, and CPython's own test suite for the audited areas."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from conftest import IMPLEMENTATIONS, TESTS, Runner, clean_env, implementation_env

pytestmark = pytest.mark.slow

FLOOD = """
import os, resource, socket, sys, threading
from opentelemetry import _logs
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# The collector is unreachable: a port that nothing listens on.
probe = socket.socket(); probe.bind(("127.0.0.1", 0)); dead = probe.getsockname()[1]; probe.close()
endpoint = f"http://127.0.0.1:{dead}"
tracer_provider.add_span_processor(
    BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces", timeout=1)))
logger_provider.add_log_record_processor(
    BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint + "/v1/logs", timeout=1)))

THREADS, PER_THREAD = 4, PER_THREAD_COUNT
failures = []
import contextlib
def work(t):
    x = object()
    path = f"flood-{t}.txt"
    audit = sys.audit
    for block in range(PER_THREAD // 1000):
        # a quarter of the events on a span (one span per 1000 iterations)
        in_span = block % 4 == 0
        name = "myapp.in_span" if in_span else "myapp.outside"
        with span("request") if in_span else contextlib.nullcontext():
            for i in range(block * 1000, block * 1000 + 1000):
                id(x)            # unselected
                audit(name, i)   # selected: a span event, a log record, or a drop
                if i % 10_000 == 0:
                    with open(path, "w") as f:  # a real operation that must succeed
                        f.write(str(i))
                    if open(path).read() != str(i):
                        failures.append(i)
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
for th in threads: th.start()
for th in threads: th.join()
tracer_provider.force_flush()
rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
dump(failures=failures, rss_before=rss_before, rss_after=rss_after,
     events=THREADS * PER_THREAD * 2)
"""


def test_ten_million_events_with_the_collector_unreachable(run: Runner) -> None:
    per_thread = 1_250_000  # x 4 threads x 2 events (one unselected, one selected)
    body = FLOOD.replace("PER_THREAD_COUNT", str(per_thread))
    t = run(body, kwargs={"events": "myapp.*,open"}, timeout=1200)
    assert t.extra["events"] == 10_000_000
    assert t.extra["failures"] == []
    selected = sum(p["value"] for p in t.points("python.audit.events"))
    dropped = sum(p["value"] for p in t.points("python.audit.events.dropped"))
    # what was handed to the SDK, as the harness's in-memory exporters saw it
    span_events = sum(len(s["events"]) for s in t.spans)
    assert sum(s["dropped_events"] for s in t.spans) == 0  # the SDK evicted nothing
    exported = {"span_events": span_events, "logs": len(t.logs)}
    myapp = sum(
        p["value"]
        for p in t.points("python.audit.events")
        if p["attributes"]["python.audit.event"].startswith("myapp.")
    )
    assert myapp == 4 * per_thread
    # (the opens: the app's writes and reads, and the .pyc files its imports read)
    assert t.count("open") >= 4 * (per_thread // 10_000) * 2
    # every selected event is exported or counted as dropped, exactly
    assert exported["span_events"] + exported["logs"] + dropped == selected
    growth_mib = (t.extra["rss_after"] - t.extra["rss_before"]) / 1024
    print(f"flood: selected {selected}, exported {exported}, dropped {dropped}, "
          f"peak RSS growth {growth_mib:.1f} MiB")  # fmt: skip
    assert growth_mib < 64


STDLIB_TESTS = [
    # the audited areas
    "test_os", "test_shutil", "test_tempfile", "test_subprocess", "test_sqlite3",
    "test_pickle", "test_importlib", "test_urllib", "test_urllib2", "test_glob",
    # audit hooks, tracers, profilers and debuggers: what an invisible hook must not disturb
    "test_audit", "test_sys_settrace", "test_sys_setprofile", "test_trace", "test_bdb",
    "test_pdb", "test_profile", "test_cprofile", "test_import",
]  # fmt: skip

RUN_IN_SPAN = TESTS / "cpython" / "run_in_span.py"


def _regrtest(tmp: pathlib.Path, name: str, env: dict[str, str]) -> dict[str, str]:
    """Outcome of each test of STDLIB_TESTS, run under opentelemetry-instrument."""
    xml = tmp / f"{name}.xml"
    work = tmp / name
    work.mkdir()
    bindir = os.path.dirname(sys.executable)
    full = clean_env(
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        AUDITHOOK_CPYTHON_MARKER=str(tmp / f"{name}.marker"),
        **env,
    )
    full["PATH"] = bindir + os.pathsep + full.get("PATH", "")
    proc = subprocess.run(
        # Sequential: with -j, where regrtest's capture files land in a worker's
        # fd table decides whether test_os's test_closerange finds two free
        # consecutive fds (it skips itself otherwise), plain or instrumented.
        [
            os.path.join(bindir, "opentelemetry-instrument"),
            sys.executable,
            str(RUN_IN_SPAN),
            *STDLIB_TESTS,
            "--junit-xml",
            str(xml),
        ],
        check=False,
        cwd=work,
        env=full,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert xml.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes = {}
    for case in ET.parse(xml).iter("testcase"):
        key = f"{case.get('classname')}.{case.get('name')}"
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = child.tag
        outcomes[key] = status
    return outcomes


def _marker(tmp: pathlib.Path, name: str) -> list[tuple[str, int]]:
    lines = (tmp / f"{name}.marker").read_text(encoding="utf-8").split("\n")
    return [(impl, int(n)) for impl, n in (line.split() for line in lines if line)]


EVENTS = ("@default", "@all")


@pytest.fixture(scope="module")
def regrtest_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[pathlib.Path, dict[str, Future[dict[str, str]]]]:
    """The five runs (disabled; C and pure with @default and @all), two at a
    time: each is one sequential regrtest process, and CI has two cores."""
    tmp = tmp_path_factory.mktemp("cpython")
    jobs = {"disabled": {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "audithook"}}
    for implementation in IMPLEMENTATIONS:
        for events in EVENTS:
            jobs[f"{implementation}{events}"] = {
                "OTEL_PYTHON_AUDITHOOK_EVENTS": events,
                **implementation_env(implementation),
            }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_regrtest, tmp, name, env) for name, env in jobs.items()}
    return tmp, futures


@pytest.mark.parametrize("events", EVENTS)
def test_cpython_test_suite_behaves_the_same_instrumented(
    regrtest_runs: tuple[pathlib.Path, dict[str, Future[dict[str, str]]]],
    implementation: str,
    events: str,
) -> None:
    tmp, futures = regrtest_runs
    uninstrumented = futures["disabled"].result()
    assert _marker(tmp, "disabled") == [("none", 0)]
    assert len(uninstrumented) > 3000
    name = f"{implementation}{events}"
    audited = futures[name].result()
    # the instrumentation ran in the test runner, with the implementation asked for
    ((impl, selected),) = _marker(tmp, name)
    assert impl == implementation
    assert selected > 1000
    assert set(uninstrumented) == set(audited)
    differences = {
        k: (uninstrumented[k], audited[k]) for k in audited if uninstrumented[k] != audited[k]
    }
    assert differences == {}
