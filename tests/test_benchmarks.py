"""The benchmark scripts run and print their ratios (figures are not asserted:
speed is read from the benchmarks' output, not from timed tests)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, clean_env


def _quick(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, script, "--quick", "--rounds", "1"],
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
    for label in (
        "(a) unselected id: ours(C) / bare C hook",
        "(a) unselected getframe",
        "(a) unselected deepcopy",
        "(b) metrics only: ns per event over the floor (C)",
        "(c) span event: ours(C) / hand-written add_event",
        "(d) mixed workload: overhead, default config (C)",
    ):
        assert label in out, label


def test_redaction_benchmark_runs_and_prints_its_figures() -> None:
    out = _quick("benchmarks/bench_redaction.py")
    labels = ("  1 KB: argv", " 10 KB: argv", "100 KB: argv", "(2) subprocess.run with 20 x 1 KB")
    for label in labels:
        assert label in out, label
