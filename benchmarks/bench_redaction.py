"""What redaction costs: linear in the value, and invisible next to the call.

    python benchmarks/bench_mapping.py [--rounds 5] [--quick]

(1) Masking one value of 1 KB, 10 KB and 100 KB (an argument vector, a shell
    string, a URL), in microseconds and microseconds per KB: the per-KB figure
    stays flat when the cost is linear.
(2) ``subprocess.run(["true"] + 20 arguments of 1 KB)`` inside a span, with
    the instrumentation (default configuration, C hook) over without it; each
    variant in its own worker process, rounds interleaved, median reported.
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

ARGUMENT = "Zm9vYmFy-_" * 100  # 1 KB, one long word: the old patterns' worst case


def _masking(kb: int) -> dict[str, float]:
    from opentelemetry.instrumentation.audithook import _mapping

    size = kb * 1024
    word = (ARGUMENT * (size // len(ARGUMENT) + 1))[:size]
    argv = ("prog", "--password", word[: size // 2], "--", word[size // 2 :])
    shell = f"prog --token '{word[: size // 2]}' | other {word[size // 2 :]}"
    url = f"https://user:pw@example.invalid/p?sig={word}#frag"
    out = {}
    for name, fn in (
        ("argv", lambda: _mapping.mask_argv(argv)),
        ("shell", lambda: _mapping.mask_shell(shell)),
        ("url", lambda: _mapping.redact_url(url)),
    ):
        n = max(3, 200 // kb)
        best = min(_time(fn, n) for _ in range(3))
        out[name] = best * 1e6
    return out


def _time(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def worker(variant: str, n: int) -> float:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    if variant == "c":
        os.environ["OTEL_PYTHON_AUDITHOOK_PURE_PYTHON"] = "false"
        from opentelemetry.instrumentation.audithook import AuditHookInstrumentor

        # one exported event per call: no rate limit, no per-span budget
        AuditHookInstrumentor().instrument(rate_limit=0, span_event_budget=0)
    tracer = trace.get_tracer("bench")
    argv = ["true"] + [ARGUMENT] * 20
    times = []
    for _ in range(n):
        with tracer.start_as_current_span("request"):
            start = time.perf_counter()
            subprocess.run(argv, check=True)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _run_worker(variant: str, n: int) -> float:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", variant, str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return

    print("(1) masking one value: microseconds (microseconds per KB)")
    for kb in (1, 10, 100):
        costs = _masking(kb)
        cells = ", ".join(f"{k} {v:,.0f} us ({v / kb:,.1f}/KB)" for k, v in costs.items())
        print(f"    {kb:>3} KB: {cells}")

    n = 5 if args.quick else 100
    results: dict[str, list[float]] = {"none": [], "c": []}
    for _ in range(args.rounds):
        for variant, times in results.items():
            times.append(_run_worker(variant, n))
    ratios = [c / none for c, none in zip(results["c"], results["none"], strict=True)]
    print(
        "(2) subprocess.run with 20 x 1 KB arguments in a span: ours(C) / uninstrumented "
        f"{statistics.median(ratios):.2f}x  [{min(ratios):.2f}..{max(ratios):.2f}] "
        f"({statistics.median(results['c']) * 1e3:.2f} ms vs "
        f"{statistics.median(results['none']) * 1e3:.2f} ms; {args.rounds} rounds of {n})"
    )


if __name__ == "__main__":
    main()
