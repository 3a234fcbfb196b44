"""The benchmark script runs and prints its ratios (figures are not asserted:
speed is read from the benchmark's output, not from timed tests)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, clean_env


def test_benchmark_script_runs_and_prints_every_ratio() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--quick", "--rounds", "1"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for label in (
        "(a) unselected id: ours(C) / bare C hook",
        "(a) unselected getframe",
        "(a) unselected deepcopy",
        "(b) metrics only: ns per event over the floor (C)",
        "(c) span event: ours(C) / hand-written add_event",
        "(d) mixed workload: overhead, default config (C)",
    ):
        assert label in proc.stdout, label
