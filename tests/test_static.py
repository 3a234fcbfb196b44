"""The code checks that a change must keep passing: ruff, mypy strict on src, and
stubtest holding both hook implementations to one contract."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from conftest import ROOT, need_c


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff_lint() -> None:
    proc = _run("ruff", "check", "src", "tests", "tools", "examples")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = _run("ruff", "format", "--check", "src", "tests", "tools", "examples")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict() -> None:
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


STUB = ROOT / "src" / "opentelemetry" / "instrumentation" / "audithook" / "_speedups.pyi"


def _stubtest(module: str, stub_root: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            f"opentelemetry.instrumentation.audithook.{module}",
        ],
        check=False,
        cwd=stub_root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MYPYPATH": str(stub_root)},
    )


def _pure_stub_tree(tmp_path: pathlib.Path, stub_text: str) -> pathlib.Path:
    """The C module's stub, as the pure twin's: one contract for both."""
    package = tmp_path / "opentelemetry" / "instrumentation" / "audithook"
    package.mkdir(parents=True)
    (package / "__init__.pyi").write_text("", encoding="utf-8")
    (package / "_purehook.pyi").write_text(stub_text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("implementation", ["c", "pure"])
def test_stubtest_holds_both_twins_to_the_stub(implementation: str, tmp_path: pathlib.Path) -> None:
    if implementation == "c":
        need_c()
        proc = _stubtest("_speedups", ROOT / "src")
    else:
        proc = _stubtest("_purehook", _pure_stub_tree(tmp_path, STUB.read_text(encoding="utf-8")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found in 1 module" in proc.stdout


def test_stubtest_would_catch_a_twin_that_drifts(tmp_path: pathlib.Path) -> None:
    original = "def set_enabled(flag: bool, /) -> None: ..."
    assert original in STUB.read_text(encoding="utf-8")
    drifted = STUB.read_text(encoding="utf-8").replace(
        original, "def set_enabled(flag: bool, now: int, /) -> None: ..."
    )
    proc = _stubtest("_purehook", _pure_stub_tree(tmp_path, drifted))
    assert proc.returncode == 1
    assert "set_enabled" in proc.stdout
