"""The benchmark scripts run and print their ratios (figures are not asserted:
speed is read from the benchmarks' output, not from timed tests)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, clean_env


def _quick(script: str, *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, script, "--quick", "--rounds", "1", *extra],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_benchmark_script_runs_and_prints_every_ratio() -> None:
    out = _quick("benchmarks/bench.py")
    if hasattr(os, "sched_getaffinity"):
        assert f"workers pinned to CPU {min(os.sched_getaffinity(0))}," in out, out
    for label in (
        "(a) unselected id: c / bare C hook",
        "(a) unselected getframe: c / bare C hook",
        "(a) unselected deepcopy: c / bare C hook",
        "unselected id: bare C hook / no hook",
        "(b) dropped event, ns over the floor, c: opentelemetry-instrument defaults",
        "(b) dropped event, ns over the floor, c: tuned",
        "(b) dropped event, distinct arguments, past the rate limit, c: defaults",
        "(c) span event / hand-written add_event, c: defaults (code location on)",
        "(c) span event / hand-written add_event, c: tuned",
        "(d) mixed workload, CPU, c / none",
        "(e) start-up under opentelemetry-instrument, c / disabled",
        "(e) start-up, instructions (callgrind), c / disabled",
        "(f) pickle round trip, instructions (callgrind), c / no hook",
    ):
        assert label in out, label
    # every row carries its spread: median [min..max]
    assert out.count("..") >= 10, out


def test_service_benchmark_runs_a_flask_app_under_opentelemetry_instrument() -> None:
    # every arm's server runs at once; requests go to each in turn
    out = _quick("benchmarks/bench_service.py", "--arms", "none,c,pure")
    for label in ("throughput", "p50 latency", "p99 latency", "CPU per request"):
        assert out.count(label) == 2, (label, out)  # c and pure
    # every arm exported traces through the sink: the framework's spans at least
    lines = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line[:5].strip() in ("none", "c", "pure")
    }
    for arm in ("none", "c", "pure"):
        assert float(lines[arm][5]) > 0, out  # trace bytes per request


def test_redaction_benchmark_runs_and_prints_its_figures() -> None:
    out = _quick("benchmarks/bench_redaction.py")
    labels = ("  1 KB: argv", " 10 KB: argv", "100 KB: argv", "(2) subprocess.run with 20 x 1 KB")
    for label in labels:
        assert label in out, label
