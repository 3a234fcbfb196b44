"""Benchmarks for the audit hook: ratios measured in one run, variants interleaved.

    python benchmarks/bench.py [--rounds 10] [--quick]

A hook can never be removed from a process, so every variant runs in a fresh
worker process; the rounds alternate the variants (none, bare C hook, ours
in C, ours in pure Python) so that drift of the machine hits all of them
alike.  Each ratio is taken within a round; the median of the rounds and
their [min..max] are printed.  Every worker is pinned to one CPU (``--cpu``,
by default the first this process may use; ``--cpu -1`` leaves them free),
like pyperf's ``--affinity``: unpinned, one process of the same loop ran up
to 1.6x slower than the next on a 2-core VM, in either arm.  The SDK's export
threads then share that CPU with the measured loop, which charges their work
to the loop rather than hiding it on another core.

The headline rows use what ``opentelemetry-instrument`` gives a user: a
LoggerProvider that exports (so ``no_span=log``), code location on, the
default rate limits.  The tuned rows beside them turn those off.

(a) unselected hot events (id(), sys._getframe(), copy.deepcopy) with the
    default selection, against the bare C hook that returns 0 (the floor
    CPython imposes once any hook is installed) and against no hook at all;
(b) a selected event that is dropped outside spans, ns over the floor: the
    same argument each time (a repeat of the one exported); distinct
    arguments (never a repeat: fingerprinted, looked up, then past the rate
    limit); tuned: ``no_span=drop`` and no LoggerProvider;
(c) a selected event exported as a span event, against a hand-written
    ``span.add_event`` with the same attributes (code location included);
    tuned: code location off;
(d) a mixed workload (files, loopback sockets, subprocesses, imports) with
    the default configuration, CPU time against no instrumentation;
(e) start-up: ``python -c pass`` under ``opentelemetry-instrument``, the
    audit hook enabled against disabled (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``):
    CPU time, the import time ``-X importtime`` reports, peak RSS, and the
    instructions it executes (valgrind's callgrind, when installed: a count
    that repeats exactly, where CPU time scatters);
(f) a pickle round trip of objects whose class the pickle names (the
    defaults, outside spans: ``pickle.find_class`` is selected), against no
    hook; in time, and in instructions per round trip (callgrind);
(g) attribution (``python.audit.package.name``/``.version``, the import-time
    module, the per-distribution count): ns per exported span event, (c)'s
    defaults against the same run with the distribution lookup replaced by
    a constant.  Unselected events never reach it: (a) is their cost.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


# --- worker side --------------------------------------------------------------------------------


def _setup(variant: str, logs: bool = True, **instrument: Any) -> Any:
    """Install what the variant needs; return a tracer for the workloads that use one.
    ``logs``: a LoggerProvider that exports, as opentelemetry-instrument sets."""
    from opentelemetry import _logs, trace
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        LogExporter,
        LogExportResult,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DiscardLogs(LogExporter):
        def export(self, batch: Any) -> LogExportResult:
            return LogExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)
    if logs:
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(DiscardLogs()))
        _logs.set_logger_provider(logger_provider)
    if variant == "bare":
        from opentelemetry.instrumentation.audithook import _speedups

        _speedups._install_bare_hook()
    elif variant in ("c", "pure"):
        os.environ["OTEL_PYTHON_AUDITHOOK_PURE_PYTHON"] = "true" if variant == "pure" else "false"
        from opentelemetry.instrumentation.audithook import AuditHookInstrumentor
        from opentelemetry.instrumentation.audithook._hook import STATE

        AuditHookInstrumentor().instrument(**instrument)
        assert STATE.implementation == variant, STATE.implementation
    return trace.get_tracer("bench")


def _time_per_op(fn: Any, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e9


def _id_loop(n: int) -> None:
    x = object()
    for _ in range(n):
        id(x)


# Distinct arguments: never a repeat, so each event is fingerprinted, looked up
# among the repeats and dropped by the rate limit (the dearest drop).
_OBJECTS = [object() for _ in range(4096)]


def _id_distinct_loop(n: int) -> None:
    objects = _OBJECTS
    for i in range(n):
        id(objects[i & 4095])


def _getframe_loop(n: int) -> None:
    getframe = sys._getframe
    for _ in range(n):
        getframe()


_DEEP = {"users": [{"id": i, "tags": ["a", "b"], "meta": {"k": (i, i + 1)}} for i in range(50)]}


def _deepcopy_loop(n: int) -> None:
    import copy

    for _ in range(n):
        copy.deepcopy(_DEEP)


class Point:
    """A class a pickle names: unpickling it raises ``pickle.find_class``,
    which ``@default`` selects."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


_PICKLED = {"points": [Point(i, -i) for i in range(5)], "tags": ["a", "b"], "n": 3}


def _pickle_loop(n: int) -> None:
    import pickle

    for _ in range(n):
        pickle.loads(pickle.dumps(_PICKLED))


def _mixed(n: int, tracer: Any, workdir: str) -> None:
    import importlib
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(conn.recv(64))

    threading.Thread(target=serve, daemon=True).start()
    sys.path.insert(0, workdir)
    for i in range(n):
        with tracer.start_as_current_span("request"):
            path = os.path.join(workdir, f"f{i % 8}.txt")
            with open(path, "w") as f:
                f.write("payload" * 100)
            with open(path) as f:
                f.read()
            os.listdir(workdir)
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"ping")
                s.recv(64)
            if i % 10 == 0:
                subprocess.run(["true"], check=True)
            if i % 5 == 0:
                name = f"mod_{os.getpid()}_{i}"
                with open(os.path.join(workdir, name + ".py"), "w") as f:
                    f.write("VALUE = 1\n")
                importlib.invalidate_caches()
                importlib.import_module(name)
    listener.close()


def worker(variant: str, case: str, n: int) -> dict[str, float]:
    import tempfile

    if case == "unselected":
        _setup(variant)  # the default selection: id() and _getframe() are not selected
        return {
            "id": _time_per_op(_id_loop, n),
            "getframe": _time_per_op(_getframe_loop, n),
            "deepcopy": _time_per_op(_deepcopy_loop, max(1, n // 1000)),
        }
    if case == "pickle":
        # the defaults, outside spans: each round trip's find_class is selected,
        # and past the rate limit's burst it is dropped by the hook
        _setup(variant)
        _pickle_loop(1000)
        return {"round_trip": _time_per_op(_pickle_loop, n)}
    if case == "dropped_distinct":
        _setup(variant, events="@default,builtins.id")
        _id_distinct_loop(1000)  # spends the rate limit's burst
        return {"id": _time_per_op(_id_distinct_loop, n)}
    if case in ("dropped", "dropped_tuned"):
        # outside spans, the same argument each time: a repeat of the first
        # one exported (or, with repeats exported, past the rate limit),
        # dropped by the hook
        if case == "dropped":
            _setup(variant, events="@default,builtins.id")
        else:
            _setup(variant, logs=False, events="@default,builtins.id", no_span="drop")
        _id_loop(1000)  # spends the rate limit's burst
        return {"id": _time_per_op(_id_loop, n)}
    if case in ("spans", "spans_tuned", "spans_unattributed"):
        os.environ["OTEL_SPAN_EVENT_COUNT_LIMIT"] = str(10 * n)
        located = case != "spans_tuned"
        if case == "spans_unattributed":
            from opentelemetry.instrumentation.audithook import _emit

            # the walk stays (code location); only the distribution lookup goes
            _emit.owner_lookup = lambda finders=None: lambda filename: None
        tracer = _setup(
            variant,
            events="builtins.id",
            # every event exported: no rate limit, no per-span budget, repeats too
            rate_limit=0,
            rate_limit_total=0,
            repeat_window=0,
            span_event_budget=0,
            code_location=located,
        )
        x = object()
        here = {
            "code.file.path": os.path.abspath(__file__),
            "code.line.number": 1,
            "code.function.name": "worker.<locals>.handwritten",
        }

        def handwritten(count: int) -> None:
            with tracer.start_as_current_span("s") as span:
                for _ in range(count):
                    attrs = {"python.audit.event": "builtins.id", "python.audit.arg.id": id(x)}
                    if located:
                        attrs.update(here)
                    span.add_event("builtins.id", attrs)

        def audited(count: int) -> None:
            with tracer.start_as_current_span("s"):
                for _ in range(count):
                    id(x)

        if variant == "none":
            return {"handwritten": _time_per_op(handwritten, n)}
        return {"id_span_event": _time_per_op(audited, n)}
    if case == "mixed":
        tracer = _setup(variant)
        with tempfile.TemporaryDirectory() as workdir:
            # CPU time of this process and its children (the subprocesses)
            before = os.times()
            _mixed(n, tracer, workdir)
            after = os.times()
            cpu = sum(after[:4]) - sum(before[:4])
            return {"mixed_cpu_s": cpu}
    raise SystemExit(f"unknown case {case}")


# --- driver side --------------------------------------------------------------------------------

PLAN: dict[str, tuple[list[str], int]] = {
    "unselected": (["none", "bare", "c", "pure"], 300_000),
    "dropped": (["bare", "c", "pure"], 300_000),
    "dropped_tuned": (["c", "pure"], 300_000),
    "dropped_distinct": (["bare", "c", "pure"], 300_000),
    "spans": (["none", "bare", "c", "pure"], 20_000),
    "spans_tuned": (["none", "c", "pure"], 20_000),
    "spans_unattributed": (["c", "pure"], 20_000),
    "pickle": (["none", "c", "pure"], 20_000),
    "mixed": (["none", "c", "pure"], 300),
    "startup": (["none", "c", "pure"], 10),
}


def _allowed_cpus() -> set[int]:
    getaffinity = getattr(os, "sched_getaffinity", None)
    return set(getaffinity(0)) if getaffinity is not None else set()


def _default_cpu() -> int:
    allowed = _allowed_cpus()
    return min(allowed) if allowed else -1


def _pin(cpu: int) -> None:
    setaffinity = getattr(os, "sched_setaffinity", None)
    if cpu >= 0 and setaffinity is not None:
        setaffinity(0, {cpu})


def _run_worker(variant: str, case: str, n: int, cpu: int) -> dict[str, float]:
    if case == "startup":
        # the runs inherit the driver's affinity, given back afterwards
        allowed = _allowed_cpus()
        _pin(cpu)
        try:
            return _startup(variant, n)
        finally:
            if allowed:
                os.sched_setaffinity(0, allowed)
    proc = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            variant,
            case,
            str(n),
            "--cpu",
            str(cpu),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _startup_env(variant: str) -> dict[str, str]:
    # As installed: with bytecode caches (PYTHONDONTWRITEBYTECODE would make
    # every run compile our modules from source, which no pip install does).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OTEL_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
    # other instrumentations installed here (the service benchmark's Flask
    # one) would add the same import time to both sides
    env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "flask"
    if variant == "none":
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "flask,audithook"
    elif variant == "pure":
        env["OTEL_PYTHON_AUDITHOOK_PURE_PYTHON"] = "true"
    # (for "c", no variable at all: the defaults, which parse nothing; any
    # OTEL_PYTHON_AUDITHOOK_* variable imports the option parsers, 2 M
    # instructions more)
    return env


_INSTRUMENT = [os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")]


def _startup(variant: str, n: int) -> dict[str, float]:
    """``python -c pass`` under opentelemetry-instrument: CPU seconds per run
    (the audit hook disabled for ``none``); exporters off in every variant."""
    env = _startup_env(variant)
    command = _INSTRUMENT
    subprocess.run([*command, sys.executable, "-c", "pass"], check=True, env=env)  # caches
    cpu = rss = 0.0
    for _ in range(n):
        # opentelemetry-instrument execs python: the child's own rusage is the run's
        child = subprocess.Popen([*command, sys.executable, "-c", "pass"], env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"start-up run failed: {child.returncode}")
        cpu += usage.ru_utime + usage.ru_stime
        rss += usage.ru_maxrss
    # the time every import took, by its own code (-X importtime's "self")
    profile = subprocess.run(
        [*command, sys.executable, "-X", "importtime", "-c", "pass"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stderr
    imports = sum(
        int(line.split("|")[0].split(":")[1])
        for line in profile.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    )
    return {"cpu_s": cpu / n, "rss_kib": rss / n, "import_ms": imports / 1000}


def _instructions(command: list[str], env: dict[str, str]) -> int | None:
    """The instructions a command executes (its children too), counted by
    valgrind's callgrind: the same number at every run, where CPU time
    scatters by 10% on a shared VM.  None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    env = {**env, "PYTHONHASHSEED": "0"}  # set iteration orders: the count repeats
    with tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--trace-children=yes",
                f"--callgrind-out-file={scratch}/callgrind.%p",
                *command,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    counts = re.findall(r"Collected : (\d+)", proc.stderr)
    return sum(int(c) for c in counts) if counts else None


def _startup_instructions(variant: str) -> int | None:
    """One start-up (launcher and interpreter)."""
    env = _startup_env(variant)
    command = [*_INSTRUMENT, sys.executable, "-c", "pass"]
    subprocess.run(command, check=True, env=env)  # bytecode caches
    return _instructions(command, env)


def _pickle_instructions(variant: str, n: int) -> float | None:
    """Instructions per pickle round trip (``_per_op_instructions``)."""
    return _per_op_instructions(variant, "pickle", n, 100)


def _per_op_instructions(variant: str, case: str, n: int, base: int) -> float | None:
    """Instructions per operation of a worker case: two worker runs that
    differ by ``n`` operations (times the worker's three repeats), subtracted."""
    counts = [
        _instructions(
            [sys.executable, os.path.abspath(__file__), "--worker", variant, case, str(size)],
            dict(os.environ),
        )
        for size in (base, base + n)
    ]
    if counts[0] is None or counts[1] is None:
        return None
    return (counts[1] - counts[0]) / (3 * n)


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} [{fmt.format(low)}..{fmt.format(high)}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument(
        "--cpu",
        type=int,
        default=_default_cpu(),
        help="the CPU every worker is pinned to (-1: not pinned)",
    )
    parser.add_argument(
        "--worker", nargs=3, metavar=("VARIANT", "CASE", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        variant, case, n = args.worker
        _pin(args.cpu)
        print(json.dumps(worker(variant, case, int(n))))
        return

    rounds: list[dict[tuple[str, str], float]] = []
    for round_ in range(args.rounds):
        got: dict[tuple[str, str], float] = {}
        for case, (variants, n) in PLAN.items():
            size = max(1, n // 1000) if args.quick else n
            # Alternate the order each round as well as interleaving.
            order = variants if round_ % 2 == 0 else list(reversed(variants))
            for variant in order:
                for metric, value in _run_worker(variant, case, size, args.cpu).items():
                    got[(f"{case}.{metric}", variant)] = value
        rounds.append(got)

    def per_round(f: Any) -> list[float]:
        # (a timer can read 0 at --quick sizes: no division by zero)
        return [f(lambda metric, variant, r=r: r[(metric, variant)] or 1e-9) for r in rounds]

    keys = sorted({k for r in rounds for k in r})
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores,"
        f" workers pinned to CPU {args.cpu if args.cpu >= 0 else '(none)'}, {args.rounds} rounds,"
        " medians of the rounds (ns per op; CPU seconds for mixed and startup)"
    )
    metrics = sorted({k[0] for k in keys})
    print(f"{'metric':<28}" + "".join(f"{v:>12}" for v in ("none", "bare", "c", "pure")))
    for metric in metrics:
        cells = "".join(
            f"{statistics.median(r[(metric, v)] for r in rounds):>12.4g}"
            if (metric, v) in rounds[0]
            else f"{'':>12}"
            for v in ("none", "bare", "c", "pure")
        )
        print(f"{metric:<28}{cells}")
    print("\nwithin-round ratios and differences: median [min..max]")
    rows: list[tuple[str, str, str]] = []
    for w in ("id", "getframe", "deepcopy"):
        m = f"unselected.{w}"
        for impl in ("c", "pure"):
            rows.append(
                (
                    f"(a) unselected {w}: {impl} / bare C hook",
                    _spread(per_round(lambda g, m=m, i=impl: g(m, i) / g(m, "bare"))),
                    "<= 1.15" if impl == "c" else "",
                )
            )
        rows.append(
            (
                f"    unselected {w}: bare C hook / no hook",
                _spread(per_round(lambda g, m=m: g(m, "bare") / g(m, "none"))),
                "floor",
            )
        )
    for case, label in (
        ("dropped", "opentelemetry-instrument defaults"),
        ("dropped_tuned", "tuned: no_span=drop, no LoggerProvider"),
    ):
        for impl in ("c", "pure"):
            rows.append(
                (
                    f"(b) dropped event, ns over the floor, {impl}: {label}",
                    _spread(
                        per_round(
                            lambda g, c=case, i=impl: g(f"{c}.id", i) - g("dropped.id", "bare")
                        ),
                        "{:.0f}",
                    ),
                    "<= 150" if impl == "c" else "",
                )
            )
    for impl in ("c", "pure"):
        rows.append(
            (
                f"(b) dropped event, distinct arguments, past the rate limit, {impl}: defaults",
                _spread(
                    per_round(
                        lambda g, i=impl: (
                            g("dropped_distinct.id", i) - g("dropped_distinct.id", "bare")
                        )
                    ),
                    "{:.0f}",
                ),
                "<= 150" if impl == "c" else "",
            )
        )
    for case, label in (
        ("spans", "defaults (code location on)"),
        ("spans_tuned", "tuned: code location off"),
    ):
        for impl in ("c", "pure"):
            rows.append(
                (
                    f"(c) span event / hand-written add_event, {impl}: {label}",
                    _spread(
                        per_round(
                            lambda g, c=case, i=impl: (
                                (g(f"{c}.id_span_event", i) - g("unselected.id", "bare"))
                                / g(f"{c}.handwritten", "none")
                            )
                        )
                    ),
                    "<= 1.0" if impl == "c" and case == "spans" else "",
                )
            )
    for impl in ("c", "pure"):
        rows.append(
            (
                f"(g) attribution, ns per exported span event, {impl}",
                _spread(
                    per_round(
                        lambda g, i=impl: (
                            g("spans.id_span_event", i) - g("spans_unattributed.id_span_event", i)
                        )
                    ),
                    "{:.0f}",
                ),
                "",
            )
        )
    for impl in ("c", "pure"):
        rows.append(
            (
                f"(d) mixed workload, CPU, {impl} / none (defaults)",
                _spread(
                    per_round(
                        lambda g, i=impl: g("mixed.mixed_cpu_s", i) / g("mixed.mixed_cpu_s", "none")
                    ),
                    "{:.3f}",
                ),
                "<= 1.03" if impl == "c" else "",
            )
        )
        rows.append(
            (
                f"(e) start-up under opentelemetry-instrument, {impl} / disabled",
                _spread(
                    per_round(lambda g, i=impl: g("startup.cpu_s", i) / g("startup.cpu_s", "none")),
                    "{:.3f}",
                ),
                "<= 1.02" if impl == "c" else "",
            )
        )
        rows.append(
            (
                f"(e) start-up: import time (-X importtime, self), {impl} - disabled, ms",
                _spread(
                    per_round(
                        lambda g, i=impl: g("startup.import_ms", i) - g("startup.import_ms", "none")
                    ),
                    "{:.1f}",
                ),
                "",
            )
        )
        rows.append(
            (
                f"(e) start-up: peak RSS, {impl} - disabled, KiB",
                _spread(
                    per_round(
                        lambda g, i=impl: g("startup.rss_kib", i) - g("startup.rss_kib", "none")
                    ),
                    "{:.0f}",
                ),
                "",
            )
        )
    for impl in ("c", "pure"):
        rows.append(
            (
                f"(f) pickle round trip (find_class selected, outside spans), {impl} / no hook",
                _spread(
                    per_round(
                        lambda g, i=impl: g("pickle.round_trip", i) / g("pickle.round_trip", "none")
                    )
                ),
                "<= 1.05" if impl == "c" else "",
            )
        )
    # The count of one start-up moves by about 0.02% from run to run (the
    # SDK's threads, memory layout): pairs, interleaved, the median printed.
    pairs = []
    for _ in range(1 if args.quick else 3):
        none_count, c_count = (_startup_instructions(v) for v in ("none", "c"))
        if none_count and c_count:
            pairs.append((c_count, none_count))
    if pairs:
        c_count = statistics.median(c for c, _ in pairs)
        none_count = statistics.median(n for _, n in pairs)
        startup_row = (
            _spread([c / n for c, n in pairs], "{:.4f}")
            + f" ({c_count / 1e6:.1f}M / {none_count / 1e6:.1f}M, {len(pairs)} pairs)"
        )
    else:
        startup_row = "valgrind not found"
    rows.append(
        (
            "(e) start-up, instructions (callgrind), c / disabled",
            startup_row,
            "<= 1.02",
        )
    )
    # four runs under valgrind take minutes: not with --quick
    per_trip = {v: None if args.quick else _pickle_instructions(v, 1000) for v in ("none", "c")}
    c_trip, none_trip = per_trip["c"], per_trip["none"]
    rows.append(
        (
            "(f) pickle round trip, instructions (callgrind), c / no hook",
            f"{c_trip / none_trip:.4f} ({c_trip / 1e3:.1f}k / {none_trip / 1e3:.1f}k)"
            if c_trip and none_trip
            else "not counted (--quick, or no valgrind)",
            "<= 1.05",
        )
    )
    # the time rows of (g) are the difference of two noisy timings: counted too
    per_event = {
        case: None if args.quick else _per_op_instructions("c", case, 1000, 200)
        for case in ("spans", "spans_unattributed")
    }
    attributed, unattributed = per_event["spans"], per_event["spans_unattributed"]
    rows.append(
        (
            "(g) attribution, instructions per exported span event (callgrind), c",
            f"+{attributed - unattributed:.0f}"
            f" ({attributed / 1e3:.1f}k / {unattributed / 1e3:.1f}k)"
            if attributed and unattributed
            else "not counted (--quick, or no valgrind)",
            "",
        )
    )
    for label, value, target in rows:
        print(f"{label:<78}{value:>24}  {target}")


if __name__ == "__main__":
    main()
