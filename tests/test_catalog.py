from __future__ import annotations

import hashlib
import pathlib
import subprocess
import sys

from conftest import ROOT, Runner
from opentelemetry.instrumentation.audithook import _catalog
from opentelemetry.instrumentation.audithook._catalog import CATALOG, OLDEST_PYTHON, SINCE
from opentelemetry.instrumentation.audithook._config import CATEGORIES

VENDORED = ROOT / "tools" / "seeds"


def _entry(name: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    found = _catalog.entry(name)
    assert found is not None, name
    return found


def check_catalog(seeds: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/generate_catalog.py", str(seeds), "--check"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_committed_catalog_matches_the_seed_tables() -> None:
    proc = check_catalog(VENDORED)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vendored_seeds_are_the_source_documents_unchanged() -> None:
    # SHA256SUMS was taken from the source documents (the CPython audit events
    # tables) when they were vendored: an edit by hand shows here.
    sums = (VENDORED / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    recorded = dict(reversed(line.split("  ", 1)) for line in sums)
    assert sorted(recorded) == sorted(p.name for p in VENDORED.glob("*.txt"))
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name


def test_check_fails_when_catalog_and_seeds_disagree(tmp_path: pathlib.Path) -> None:
    # A seed table that gains an event must make --check fail.
    for path in VENDORED.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.name.startswith("003"):
            text = text.replace(
                "webbrowser.open\n", "webbrowser.open\n\nurl\n\n[1]\n\nzz.new_event\n", 1
            )
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    proc = check_catalog(tmp_path)
    assert proc.returncode == 1
    assert "out of date" in proc.stdout


def test_union_of_both_tables_with_sources() -> None:
    assert len(CATALOG) == 196
    assert _entry("open") == (("file", "mode", "flags"), "file", ("current", "2021"))
    # only in the current table
    assert _entry("sqlite3.load_extension")[2] == ("current",)
    assert _entry("_thread.start_new_thread")[0] == ("function", "args", "kwargs")
    # only in the 2021 table
    assert _entry("ctypes.seh_exception")[2] == ("2021",)
    # wrapped cells of the grid table are joined
    assert _entry("cpython.PyInterpreterState_Clear") == ((), "runtime", ("current", "2021"))
    assert _entry("_winapi.CreateFile")[0][-1] == "flags_and_attributes"
    # where the tables disagree, the current one wins
    assert _entry("shutil.rmtree")[0] == ("path", "dir_fd")
    # internal events, listed after the main table
    assert _entry("ctypes.PyObj_FromPtr") == (("obj",), "native", ("current", "2021"))


# The categories SPEC.md promises, and events whose category anyone would
# name without looking: written here, not derived from the catalog.
PROMISED = ("file", "network", "process", "code", "native", "os", "sqlite", "windows")
EXPECTED_CATEGORY = {
    "open": "file",
    "shutil.rmtree": "file",
    "os.chdir": "file",
    "socket.connect": "network",
    "urllib.Request": "network",
    "subprocess.Popen": "process",
    "os.system": "process",
    "os.kill": "process",
    "compile": "code",
    "exec": "code",
    "import": "code",
    "marshal.loads": "code",
    "pickle.find_class": "code",
    "ctypes.dlopen": "native",
    "mmap.__new__": "native",
    "os.putenv": "os",
    "sqlite3.connect": "sqlite",
    "winreg.OpenKey": "windows",
    "_winapi.CreateFile": "windows",
    "sys.addaudithook": "runtime",
    "sys.settrace": "runtime",
}


def test_every_event_has_a_documented_category() -> None:
    used = {_catalog.category(name) for name in CATALOG}
    assert used <= CATEGORIES - {"other"}  # "other" is for names the table lacks
    assert set(PROMISED) <= used
    for name, category in EXPECTED_CATEGORY.items():
        assert _catalog.category(name) == category, name
    # and each category is in the documentation of the selector grammar
    doc = (ROOT / "src/opentelemetry/instrumentation/audithook/environment_variables.py").read_text(
        encoding="utf-8"
    )
    for category in CATEGORIES:
        assert f"``@{category}``" in doc, category


# One real call for each event that neither table lists or that 3.11 does not
# raise; a call whose API is missing on this Python raises nothing.
CALLS = {
    "sys.set_asyncgen_hook_firstiter": "sys.set_asyncgen_hooks(firstiter=None, finalizer=None)",
    "sys.set_asyncgen_hook_finalizer": "sys.set_asyncgen_hooks(firstiter=None, finalizer=None)",
    "pathlib.Path.walk": "hasattr(pathlib.Path, 'walk') and list(pathlib.Path('.').walk())",
    "sys.monitoring.register_callback": (
        "hasattr(sys, 'monitoring') and (sys.monitoring.use_tool_id(4, 'probe'),"
        " sys.monitoring.register_callback(4, sys.monitoring.events.PY_START, print),"
        " sys.monitoring.free_tool_id(4))"
    ),
    "_thread.start_joinable_thread": "t = threading.Thread(target=int); t.start(); t.join()",
    "_thread.start_new_thread": "lock = _thread.allocate_lock(); lock.acquire();"
    " _thread.start_new_thread(lock.release, ()); lock.acquire()",
    "time.sleep": "time.sleep(0)",
    "sys._getframemodulename": "hasattr(sys, '_getframemodulename') and sys._getframemodulename()",
}


def test_the_events_no_table_lists_are_catalogued_with_their_version() -> None:
    observed = {name for name in CATALOG if _entry(name)[2] == ("observed",)}
    assert set(CALLS) == observed | set(SINCE)
    assert all(v in ("3.12", "3.13") for v in SINCE.values())
    # the tables' spelling is kept beside the one CPython raises
    assert "sys.set_asyncgen_hooks_firstiter" in CATALOG


def test_each_uncatalogued_event_is_raised_from_its_version_on(run: Runner) -> None:
    """Real calls on the Python running the tests (.ci/run runs 3.11, 3.12 and
    3.13): each event is raised exactly from the version the catalog gives,
    with the arguments it names, and exported with those names."""
    body = "\n".join(
        [
            "import _thread, json, pathlib, sys, threading, time",
            "raised = {}",
            f"names = {sorted(CALLS)!r}",
            "sys.addaudithook(lambda e, a: raised.setdefault(e, len(a)) if e in names else None)",
            'with span("work"):',
            *(f"    {call}" for call in dict.fromkeys(CALLS.values())),
            "dump(raised=raised)",
        ]
    )
    t = run(body, kwargs={"events": ",".join(CALLS), "rate_limit": 0})
    raised = t.extra["raised"]
    exported = {e["python.audit.event"]: e for e in t.events("work")}
    for name in CALLS:
        since = tuple(int(x) for x in SINCE.get(name, OLDEST_PYTHON).split("."))
        if sys.version_info[:2] < since:
            assert name not in raised, name
            continue
        args = _entry(name)[0]
        assert raised.get(name) == len(args), (name, raised.get(name), args)
        assert name in exported, (name, sorted(exported))
        # named as the catalog names them (a None argument is left out, as
        # OpenTelemetry attributes cannot hold it), never by position
        keys = {k for k in exported[name] if k.startswith("python.audit.arg.")}
        assert keys <= {f"python.audit.arg.{arg}" for arg in args}, (name, keys)
        assert bool(keys) == bool(args), (name, keys)
