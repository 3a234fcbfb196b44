"""The stress tier (slow): the C accelerator built with AddressSanitizer, run
through the thread, GC, fork, signal and subinterpreter scenarios under
``-X dev`` with faulthandler on.

The scenarios are the ordinary tests of test_harmless, test_safety and
test_implementations, run by a nested pytest against a copy of the source
tree whose ``_speedups`` is the sanitized build.  ``PYTHONMALLOC=malloc``
sends the interpreter's own allocations through ASan too, so a use after
free of a Python object that the hook mishandles is caught, not only
errors in the C tables.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, SRC, TESTS, clean_env

pytestmark = pytest.mark.slow

PACKAGE = pathlib.Path("opentelemetry", "instrumentation", "audithook")

# Thread/GC, fork, signals, tracers, other hooks, subinterpreters.  Left out:
# the tests that bound memory (ASan's quarantine and shadow memory are the
# growth they would measure) and the pure-Python runs (no C to sanitize).
SCENARIOS = [
    "tests/test_harmless.py",
    "tests/test_safety.py",
    "tests/test_implementations.py",
    "tests/test_reliability.py",
    "tests/test_repeats.py",
]
DESELECT = "pure or stay_bounded or memory_flat or compile_failure"


def _sanitized_tree(tmp: pathlib.Path) -> pathlib.Path:
    """A copy of src/ and tests/ whose _speedups is built with ASan."""
    shutil.copytree(SRC, tmp / "src", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copytree(TESTS, tmp / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    package = tmp / "src" / PACKAGE
    target = package / ("_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(
        [
            "gcc", "-shared", "-fPIC", "-g", "-O1", "-fno-omit-frame-pointer",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-Wall", "-Werror",
            "-I", sysconfig.get_paths()["include"],
            str(package / "_speedups.c"), "-o", str(target),
        ],
        check=True,
    )  # fmt: skip
    return tmp


def _libasan() -> str:
    path = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert os.path.isabs(path), f"gcc has no libasan here ({path!r}); the stress tier needs it"
    return path


def test_the_c_accelerator_under_address_sanitizer(tmp_path: pathlib.Path) -> None:
    assert shutil.which("gcc"), "the stress tier builds the C accelerator with gcc"
    tree = _sanitized_tree(tmp_path)
    env = clean_env(
        LD_PRELOAD=_libasan(),
        # CPython's allocations are never freed at exit by design: leaks are noise.
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:print_summary=1",
        UBSAN_OPTIONS="print_stacktrace=1",
        PYTHONMALLOC="malloc",
        PYTHONDEVMODE="1",
        PYTHONFAULTHANDLER="1",
        AUDITHOOK_SLOW_TESTS="0",
    )
    # not this checkout's src: the nested run imports the copy's
    del env["PYTHONPATH"]

    # The sanitized build is the one the scenarios load.
    probe = subprocess.run(
        [sys.executable, "-c", "from opentelemetry.instrumentation.audithook import _speedups; "
         "print(_speedups.__file__)"],
        check=True, capture_output=True, text=True, cwd=tree,
        env={**env, "PYTHONPATH": str(tree / "src")},
    )  # fmt: skip
    loaded = pathlib.Path(probe.stdout.strip())
    assert loaded.parent == tree / "src" / PACKAGE
    assert b"__asan_init" in loaded.read_bytes()

    xml = tmp_path / "stress.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x",
         "--junit-xml", str(xml), "-k", f"not ({DESELECT})", *SCENARIOS],
        check=False, capture_output=True, text=True, cwd=tree, env=env, timeout=1200,
    )  # fmt: skip
    report = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, report
    assert "AddressSanitizer" not in report and "runtime error:" not in report, report
    cases = list(ET.parse(xml).iter("testcase"))
    ran = [c.get("name") for c in cases if not any(x.tag == "skipped" for x in c)]
    names = " ".join(n or "" for n in ran)
    # the scenarios the issue names ran (subinterpreters with their own GIL: 3.12+)
    for scenario in ("threads_while_gc", "forks", "signal_handler", "subinterpreter"):
        assert scenario in names, (scenario, ran)
    assert len(ran) >= 20, ran
