"""Signal, not noise (issue 12): the interpreter's own work hidden by default,
exported events counted by distribution, the local report, and the baseline
(in the report and at run time)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from conftest import ROOT, Runner, Telemetry, clean_env, implementation_env
from opentelemetry.instrumentation.audithook import _hook, _report

HOUSEKEEPING_SCENARIO = """
import os, threading
# a thread running only the standard library: no frame of the application
t = threading.Thread(target=os.listdir, args=("/",))
t.start(); t.join()
os.listdir({app_dir!r})  # the application's own
dump()
"""


def _listed(t: Telemetry) -> list[dict[str, Any]]:
    return [r["attributes"] for r in t.logs if r["event_name"] == "os.listdir"]


def test_the_interpreters_own_work_is_hidden_by_default(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    t = run(
        HOUSEKEEPING_SCENARIO.format(app_dir=str(tmp_path)),
        kwargs={"events": "os.listdir", "code_location": True},
    )
    (only,) = _listed(t)
    assert only["file.path"] == str(tmp_path)
    assert only["python.audit.package.name"] == "(application)"
    # counted, and its drop named
    assert t.count("os.listdir") == 2
    assert t.dropped("os.listdir", "housekeeping") == 1


def test_housekeeping_show_exports_it_as_the_interpreters(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    t = run(
        HOUSEKEEPING_SCENARIO.format(app_dir=str(tmp_path)),
        kwargs={"events": "os.listdir", "code_location": True},
        env={"OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING": "show"},
    )
    by_path = {a["file.path"]: a for a in _listed(t)}
    assert by_path["/"]["python.audit.package.name"] == "(interpreter)"
    assert "code.file.path" not in by_path["/"]
    assert by_path[str(tmp_path)]["python.audit.package.name"] == "(application)"
    points = {
        p["attributes"]["python.audit.package.name"]: p["value"]
        for p in t.points("python.audit.package.events")
    }
    assert points == {"(interpreter)": 1, "(application)": 1}


def test_without_the_frame_walk_nothing_is_hidden(run: Runner, tmp_path: pathlib.Path) -> None:
    t = run(
        HOUSEKEEPING_SCENARIO.format(app_dir=str(tmp_path)),
        kwargs={"events": "os.listdir", "code_location": False},
    )
    assert sorted(a["file.path"] for a in _listed(t)) == sorted(["/", str(tmp_path)])
    assert all("python.audit.package.name" not in a for a in _listed(t))
    assert t.points("python.audit.package.events") == []


def test_distributions_past_the_cap_share_the_overflow_series() -> None:
    counts = _hook.Counts()
    for i in range(_hook.MAX_PACKAGES + 10):
        counts.count_package(f"dist{i}", "file")
    counts.count_package("dist0", "network")  # a known one keeps its name
    table = counts.package_snapshot()
    assert len(table) == _hook.MAX_PACKAGES + 2
    assert table[None] == 10
    assert table[("dist0", "network")] == 1


def _baseline(path: pathlib.Path, files: dict[str, list[str]]) -> pathlib.Path:
    entry: dict[str, Any] = {kind: {} for kind in _report.KINDS}
    entry |= {"version": None, "files": files}
    path.write_text(json.dumps({"format": _report.FORMAT, "packages": {"(application)": entry}}))
    return path


def test_the_baseline_at_run_time_alerts_once_and_counts(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    # the temporary directory is known (directories below it count as one)
    baseline = _baseline(tmp_path / "baseline.json", {_report._TMP + "*": []})
    (tmp_path / "known.txt").write_text("x")
    t = run(
        f"""
with span("work"):
    open({str(tmp_path / "known.txt")!r}).close()
    open("/etc/hostname").close()
    open("/etc/passwd").close()
dump()
""",
        kwargs={"events": "open", "code_location": True},
        env={"OTEL_PYTHON_AUDITHOOK_BASELINE": str(baseline)},
    )
    assert len(t.events("work", "open")) == 3  # nothing is blocked or dropped
    (alert,) = [r for r in t.logs if r["event_name"] == "python.audit.baseline.new"]
    assert alert["severity_text"] == "WARN"
    assert alert["attributes"]["python.audit.baseline.kind"] == "files"
    assert alert["attributes"]["python.audit.baseline.item"] == "/etc"
    assert alert["attributes"]["file.path"] == "/etc/hostname"
    assert alert["attributes"]["python.audit.package.name"] == "(application)"
    assert alert["span_id"] != 0  # in the span that was current
    (point,) = t.points("python.audit.baseline.new")
    assert point["value"] == 2
    assert point["attributes"] == {
        "python.audit.package.name": "(application)",
        "python.audit.category": "file",
        "python.audit.baseline.kind": "files",
    }


def test_a_baseline_that_does_not_read_is_a_warning(run: Runner, tmp_path: pathlib.Path) -> None:
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    for path in (tmp_path / "missing.json", tmp_path / "bad.json"):
        t = run(
            """
with span("work"):
    open("/etc/hostname").close()
dump()
""",
            kwargs={"events": "open", "code_location": True},
            env={"OTEL_PYTHON_AUDITHOOK_BASELINE": str(path)},
        )
        assert f"OTEL_PYTHON_AUDITHOOK_BASELINE={str(path)!r} cannot be used" in t.stderr
        assert len(t.events("work", "open")) == 1
        assert t.points("python.audit.baseline.new") == []


# ----------------------------------------------------------------------
# The report command


def _report_cmd(
    tmp_path: pathlib.Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opentelemetry.instrumentation.audithook", "report", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(**(env or {})),
        timeout=180,
    )


@pytest.mark.parametrize("implementation", ["c", "pure"])
def test_the_report_on_the_demo(tmp_path: pathlib.Path, implementation: str) -> None:
    if implementation == "c":
        from conftest import need_c

        need_c()
    out = tmp_path / "demo.json"
    demo = str(ROOT / "examples" / "demo_app.py")
    proc = _report_cmd(
        tmp_path, "--json", str(out), "--", sys.executable, demo,
        env=implementation_env(implementation),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    # the demo and the child it runs
    assert "== what each distribution did (2 Python processes)\n(application)\n" in text
    assert "  hosts:\n    127.0.0.1:(ephemeral)" in text
    # (x2 from 3.13 on: subprocess raises os.posix_spawn beside subprocess.Popen)
    assert f"  commands:\n    {sys.executable}" in text
    assert f"    {_report._TMP}*/ (5" in text  # the order, the database and the 50 pages
    # the JSON round-trips: read back, it renders the same report
    packages = _report.read_report(str(out))
    assert _report.render(packages) in text
    data = json.loads(out.read_text())
    assert data["processes"] == 2
    assert data["command"] == [sys.executable, demo]
    # the demo again, against itself: nothing new (ports and temporary names vary)
    again = _report_cmd(tmp_path, "--baseline", str(out), "--", sys.executable, demo)
    assert again.returncode == 0, again.stderr
    assert "== nothing new since the baseline" in again.stdout


def test_a_baseline_diff_catches_new_behaviour(tmp_path: pathlib.Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import os, subprocess\n"
        "open('/etc/hostname').close()\n"
        "if os.environ.get('INJECT') == '1':\n"
        "    subprocess.run(['/bin/echo', 'phoned home'], check=True)\n"
        "    open('/etc/passwd').close()\n"
    )
    first = _report_cmd(tmp_path, "--json", "before.json", "--", sys.executable, str(app))
    assert first.returncode == 0, first.stderr
    same = _report_cmd(tmp_path, "--baseline", "before.json", "--", sys.executable, str(app))
    assert (same.returncode, same.stdout) == (0, "== nothing new since the baseline\n")
    new = _report_cmd(
        tmp_path, "--baseline", "before.json", "--", sys.executable, str(app), env={"INJECT": "1"}
    )
    assert new.returncode == _report.NEW_BEHAVIOUR_STATUS, new.stderr
    # /etc/passwd is in /etc, a directory the baseline knows; (x2) from 3.13
    # on, where subprocess raises os.posix_spawn beside subprocess.Popen
    assert new.stdout.replace(" (x2)", "") == (
        "phoned home\n== new since the baseline\n(application)\n  commands:\n    /bin/echo\n"
    )


def test_the_report_passes_on_the_commands_status_and_says_what_is_wrong(
    tmp_path: pathlib.Path,
) -> None:
    failing = _report_cmd(tmp_path, "--", sys.executable, "-c", "raise SystemExit(7)")
    assert failing.returncode == 7
    (tmp_path / "not-a-report.json").write_text("[]")
    bad = _report_cmd(tmp_path, "--baseline", "not-a-report.json", "--", "true")
    assert bad.returncode == 2
    assert "cannot use the baseline" in bad.stderr
    missing = _report_cmd(tmp_path, "--", "/no/such/program")
    assert missing.returncode == 127
    empty = _report_cmd(tmp_path)
    assert empty.returncode == 2
    assert "no command given" in empty.stderr


def test_the_report_leaves_an_existing_sitecustomize_working(tmp_path: pathlib.Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nos.environ['THEIRS_RAN'] = '1'\n")
    proc = _report_cmd(
        tmp_path,
        "--",
        sys.executable,
        "-c",
        "import os, sitecustomize; print(os.environ.get('THEIRS_RAN'), sitecustomize.__file__)",
        env={"PYTHONPATH": os.pathsep.join([str(theirs), clean_env()["PYTHONPATH"]])},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"1 {theirs / 'sitecustomize.py'}\n")


def test_a_forked_child_counts_new_behaviour_from_zero(run: Runner, tmp_path: pathlib.Path) -> None:
    baseline = _baseline(tmp_path / "baseline.json", {})
    t = run(
        """
import os
from opentelemetry.instrumentation.audithook._hook import STATE
with span("work"):
    open("/etc/hostname").close()
    pid = os.fork()
    if pid == 0:
        open("/etc/hosts").close()
        print("CHILD", sorted(STATE.emitter.watcher.snapshot().values()), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
dump()
""",
        kwargs={"events": "open", "code_location": True},
        env={"OTEL_PYTHON_AUDITHOOK_BASELINE": str(baseline)},
    )
    assert "CHILD [1]\n" in t.stdout  # not the parent's 1 carried over, plus its own
    (point,) = t.points("python.audit.baseline.new")
    assert point["value"] == 1


def test_a_failing_watcher_never_costs_the_event(run: Runner, tmp_path: pathlib.Path) -> None:
    baseline = _baseline(tmp_path / "baseline.json", {})
    t = run(
        """
from opentelemetry.instrumentation.audithook import _report
def broken(*args):
    raise RuntimeError("broken watcher")
_report.behaviours_of = broken
with span("work"):
    open("/etc/hostname").close()
dump()
""",
        kwargs={"events": "open", "code_location": True},
        env={"OTEL_PYTHON_AUDITHOOK_BASELINE": str(baseline)},
    )
    assert len(t.events("work", "open")) == 1
    assert t.dropped("open", "hook_error") == 0
    assert "the baseline (or report) failed on 'open'" in t.stderr
    assert "RuntimeError: broken watcher" in t.stderr
