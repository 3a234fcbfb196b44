"""Benchmarks for the audit hook: ratios measured in one run, variants interleaved.

    python benchmarks/bench.py [--rounds 5] [--quick]

A hook can never be removed from a process, so every variant runs in a fresh
worker process; the rounds alternate the variants (none, bare C hook, ours
in C, ours in pure Python) so that drift of the machine hits all of them
alike, and the median of the rounds is reported.

(a) unselected hot events (id(), sys._getframe(), copy.deepcopy) with the
    default selection, against no hook and a bare C hook that returns 0;
(b) selected events, metrics only (no span current), over the bare C hook;
(c) selected events as span events, against a hand-written span.add_event
    with the same attributes;
(d) a mixed workload (files, loopback sockets, subprocesses, imports) with
    the default configuration, against no instrumentation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


# --- worker side --------------------------------------------------------------------------------


def _setup(variant: str, **instrument: Any) -> Any:
    """Install what the variant needs; return a tracer for the workloads that use one."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)
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


def _getframe_loop(n: int) -> None:
    getframe = sys._getframe
    for _ in range(n):
        getframe()


_DEEP = {"users": [{"id": i, "tags": ["a", "b"], "meta": {"k": (i, i + 1)}} for i in range(50)]}


def _deepcopy_loop(n: int) -> None:
    import copy

    for _ in range(n):
        copy.deepcopy(_DEEP)


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
    if case == "metrics":
        _setup(variant, events="@default,builtins.id", no_span="drop")
        return {"id": _time_per_op(_id_loop, n)}
    if case == "spans":
        os.environ["OTEL_SPAN_EVENT_COUNT_LIMIT"] = str(10 * n)
        tracer = _setup(
            variant,
            events="builtins.id",
            rate_limit=0,
            span_event_budget=0,
            code_location=False,
        )
        x = object()

        def handwritten(count: int) -> None:
            with tracer.start_as_current_span("s") as span:
                for _ in range(count):
                    span.add_event(
                        "builtins.id",
                        {"python.audit.event": "builtins.id", "python.audit.arg.id": id(x)},
                    )

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
            start = time.perf_counter()
            _mixed(n, tracer, workdir)
            return {"mixed_s": time.perf_counter() - start}
    raise SystemExit(f"unknown case {case}")


# --- driver side --------------------------------------------------------------------------------

PLAN: dict[str, tuple[list[str], int]] = {
    "unselected": (["none", "bare", "c", "pure"], 1_000_000),
    "metrics": (["bare", "c", "pure"], 1_000_000),
    "spans": (["none", "bare", "c", "pure"], 20_000),
    "mixed": (["none", "c", "pure"], 1000),
}


def _run_worker(variant: str, case: str, n: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", variant, case, str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument(
        "--worker", nargs=3, metavar=("VARIANT", "CASE", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        variant, case, n = args.worker
        print(json.dumps(worker(variant, case, int(n))))
        return

    results: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for case, (variants, n) in PLAN.items():
            size = max(1, n // 1000) if args.quick else n
            # Alternate the order each round as well as interleaving.
            order = variants if round_ % 2 == 0 else list(reversed(variants))
            for variant in order:
                for metric, value in _run_worker(variant, case, size).items():
                    results.setdefault((f"{case}.{metric}", variant), []).append(value)
    med = {key: statistics.median(values) for key, values in results.items()}

    def m(metric: str, variant: str) -> float:
        return med[(metric, variant)]

    print(f"python {sys.version.split()[0]}, {args.rounds} rounds, median of rounds (ns per op)")
    print(f"{'metric':<26}" + "".join(f"{v:>12}" for v in ("none", "bare", "c", "pure")))
    for metric in sorted({k[0] for k in med}):
        cells = "".join(
            f"{med[(metric, v)]:>12.1f}" if (metric, v) in med else f"{'':>12}"
            for v in ("none", "bare", "c", "pure")
        )
        print(f"{metric:<26}{cells}")
    print()
    lines = []
    for w in ("id", "getframe", "deepcopy"):
        metric = f"unselected.{w}"
        ratio = m(metric, "c") / m(metric, "bare")
        lines.append(
            (f"(a) unselected {w}: ours(C) / bare C hook", ratio, "<= 1.15", ratio <= 1.15)
        )
        lines.append(
            (
                f"    unselected {w}: pure / bare C hook",
                m(metric, "pure") / m(metric, "bare"),
                "",
                None,
            )
        )
    over = m("metrics.id", "c") - m("metrics.id", "bare")
    lines.append(("(b) metrics only: ns per event over the floor (C)", over, "<= 150", over <= 150))
    lines.append(
        (
            "    metrics only: ns over the floor (pure)",
            m("metrics.id", "pure") - m("metrics.id", "bare"),
            "",
            None,
        )
    )
    hand = m("spans.handwritten", "none")
    ours = m("spans.id_span_event", "c") - m("unselected.id", "bare")
    lines.append(
        (
            "(c) span event: ours(C) / hand-written add_event",
            ours / hand,
            "<= 1.3",
            ours / hand <= 1.3,
        )
    )
    pure = m("spans.id_span_event", "pure") - m("unselected.id", "bare")
    lines.append(("    span event: pure / hand-written add_event", pure / hand, "", None))
    mixed = m("mixed.mixed_s", "c") / m("mixed.mixed_s", "none") - 1
    lines.append(
        ("(d) mixed workload: overhead, default config (C)", mixed * 100, "<= 3 %", mixed <= 0.03)
    )
    mixed_pure = m("mixed.mixed_s", "pure") / m("mixed.mixed_s", "none") - 1
    lines.append(("    mixed workload: overhead (pure)", mixed_pure * 100, "", None))
    for label, value, target, ok in lines:
        verdict = "" if ok is None else ("met" if ok else "MISSED")
        print(f"{label:<52}{value:>10.2f}  {target:<8} {verdict}")


if __name__ == "__main__":
    main()
