"""The C accelerator and its pure-Python twin: choice, fallback, vetoes,
subinterpreters, memory, and an install that cannot compile."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT, Runner, clean_env, need_c, run_scenario


def test_the_c_accelerator_was_built_here() -> None:
    # CI has a compiler (AUDITHOOK_REQUIRE_C=1): the C path must be what the
    # suite exercises there.
    need_c()
    from opentelemetry.instrumentation.audithook import _purehook, _speedups

    for name in (
        "FLAG_SELECTED",
        "FLAG_NEED_SPAN",
        "FLAG_NON_STDLIB",
        "FLAG_OVERFLOW",
        "COUNTS",
        "PROBE_EVENT",
    ):
        assert getattr(_speedups, name) == getattr(_purehook, name), name
    assert (_speedups.WALK_IS_SILENT, _purehook.WALK_IS_SILENT) == (True, False)


def _pytest_without_c(*tests: str, required: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_env(AUDITHOOK_PRETEND_NO_C="1", AUDITHOOK_REQUIRE_C=required),
        timeout=300,
    )


def test_c_cases_skip_where_the_accelerator_was_not_built() -> None:
    built_here = "tests/test_implementations.py::test_the_c_accelerator_was_built_here"
    proc = _pytest_without_c(
        "tests/test_implementations.py::test_pure_python_can_be_forced", built_here, required="0"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 2 skipped" in proc.stdout, proc.stdout
    # where a compiler exists (.ci/run), the same case is a failure
    required = _pytest_without_c(built_here, required="1")
    assert required.returncode == 1, required.stdout
    assert "AUDITHOOK_REQUIRE_C=1 requires it" in required.stdout


def test_pure_python_can_be_forced(run: Runner, implementation: str) -> None:
    t = run(
        """
with span("work"):
    open("f.txt", "w").close()
dump()
""",
        kwargs={"events": "open"},
    )
    assert t.implementation == implementation
    assert t.event("work", "open")["file.path"] == "f.txt"


# Sandboxes refuse with RuntimeError (what CPython's C API treats as a veto)
# or with another exception (PermissionError): the same outcome either way.
@pytest.mark.parametrize("refusal", ["RuntimeError", "PermissionError"])
def test_a_hook_that_vetoes_every_new_hook(run: Runner, implementation: str, refusal: str) -> None:
    t = run(
        f"""
import sys
def veto(event, args):
    if event == "sys.addaudithook":
        raise {refusal}("no more hooks")
sys.addaudithook(veto)
instrumentor.instrument(meter_provider=meter_provider, events="open")
with span("work"):
    with open("f.txt", "w") as f:
        f.write("still works")
with open("f.txt") as f:
    dump(content=f.read())
""",
        env={"HARNESS_NO_INSTRUMENT": "1"},
        check=False,  # the C hook falls back to pure: not the implementation asked for
    )
    assert t.returncode == 0, t.stderr
    assert t.extra["content"] == "still works"
    assert t.events("work") == []
    assert t.stderr.count("vetoes new audit hooks: audit events cannot be recorded") == 1
    assert "Traceback" not in t.stderr
    if implementation == "c":
        assert t.stderr.count("vetoed the C audit hook; using the pure-Python one") == 1


def test_a_veto_of_the_c_hook_falls_back_to_pure_python(tmp_path: pathlib.Path) -> None:
    # only the C hook has something to fall back to
    t = run_scenario(
        """
import sys
seen = []
def veto_first(event, args):
    if event == "sys.addaudithook":
        seen.append(1)
        if len(seen) == 1:
            raise RuntimeError("not this one")
sys.addaudithook(veto_first)
instrumentor.instrument(meter_provider=meter_provider, events="open")
with span("work"):
    open("f.txt", "w").close()
from opentelemetry.instrumentation.audithook._hook import STATE
dump(implementation=STATE.implementation)
""",
        tmp_path,
        implementation="c",
        env={"HARNESS_NO_INSTRUMENT": "1"},
        check=False,
    )
    assert t.returncode == 0, t.stderr
    assert t.extra["implementation"] == "pure"
    assert t.event("work", "open")["file.path"] == "f.txt"
    assert t.stderr.count("vetoed the C audit hook; using the pure-Python one") == 1


def test_a_subinterpreter_opening_files(run: Runner, implementation: str) -> None:
    # Documented: events raised inside subinterpreters are not recorded (our
    # Python side lives in the main interpreter; the C hook returns at once).
    t = run(
        """
try:
    import _interpreters as interpreters  # 3.13
except ImportError:
    import _xxsubinterpreters as interpreters
interp = interpreters.create()
with span("work"):
    interpreters.run_string(interp, "open('sub.txt', 'w').close()")
    open("main.txt", "w").close()
interpreters.destroy(interp)
import os
dump(exists=os.path.exists("sub.txt"))
""",
        kwargs={"events": "open"},
    )
    assert t.extra["exists"] is True
    paths = [e["file.path"] for e in t.events("work", "open")]
    assert paths == ["main.txt"]
    if implementation == "c":
        # the C hook sees the other interpreter's events, and counts them (in
        # the overflow series: "open" was not resolved yet when it came)
        reason = {"python.audit.drop.reason": "other_interpreter"}
        assert sum(p["value"] for p in t.points("python.audit.events.dropped", **reason)) >= 1


def test_a_million_events_leave_memory_flat(run: Runner) -> None:
    t = run(
        """
import gc, sys
def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
import os
def burst(n):
    for i in range(n):
        id(i)                          # unselected
        sys.audit("myapp.outside", i)  # selected, no span: counted no_span
    with span("s"):
        for i in range(n // 10):
            sys.audit("myapp.inside", i)  # selected, span budget / rate limit
burst(100_000)
gc.collect()
objects, rss = len(gc.get_objects()), rss_kib()
burst(1_000_000)
gc.collect()
dump(objects=len(gc.get_objects()) - objects, rss=rss_kib() - rss)
""",
        kwargs={"events": "myapp.*", "no_span": "drop"},
        timeout=300,
    )
    assert t.count("myapp.outside") == 1_100_000
    assert t.dropped("myapp.outside", "no_span") == 1_100_000
    assert abs(t.extra["objects"]) < 500, t.extra
    assert t.extra["rss"] < 4096, t.extra  # KiB


@pytest.mark.slow
def test_a_compile_failure_still_installs_the_pure_package(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = clean_env(CC="false", LDSHARED="false")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(tmp_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("audithook/_purehook.py") for n in names)
    assert not any(n.endswith(".so") for n in names)
    # setuptools says that the optional extension was skipped
    output = (proc.stdout + proc.stderr).lower()
    assert 'building extension "opentelemetry.instrumentation.audithook._speedups" failed' in (
        output
    ), output[-2000:]
    assert os.path.getsize(wheel) > 10_000
