"""What each distribution does: the local report and the baseline.

``python -m opentelemetry.instrumentation.audithook report -- python app.py``
runs the command with this package's ``sitecustomize`` first on
``PYTHONPATH``, so that every Python process it starts (children and their
children included) is instrumented; each writes what its distributions did
to a JSON file at exit, and the parent merges them, prints the report and
writes it with ``--json``.  ``--baseline previous.json`` prints only what is
new and exits with status 3 when something is.

``OTEL_PYTHON_AUDITHOOK_BASELINE=previous.json`` does the same comparison in
a running service: ``load_baseline`` returns the watcher ``_emit.Emitter``
calls for each exported event.

Imported only by the ``report`` command, its ``sitecustomize`` and a
configuration that names a baseline: a module not imported costs an
instrumented start-up nothing (issue 15).

A behaviour is (distribution, kind, item), with kinds ``files`` (the
directory of each file touched), ``hosts`` (``host:port``), ``commands``
(the program), ``native`` (the library), ``code`` (dynamically compiled
code) and ``import_time`` (what a module did while it was being imported,
as ``module: kind item``).  Versions are reported, not compared: an upgrade
that does the same things is not new behaviour.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import _logs

from opentelemetry.instrumentation.audithook import _config, _emit, _mapping
from opentelemetry.instrumentation.audithook.version import __version__

FORMAT = "opentelemetry-instrumentation-audithook/report/1"
KINDS = ("files", "hosts", "commands", "native", "code", "import_time")
_TITLES = {
    "files": "files (by directory)",
    "hosts": "hosts",
    "commands": "commands",
    "native": "native libraries",
    "code": "dynamic code",
    "import_time": "at import",
}
# Items kept per distribution and kind; a process that touches more files
# than this is summarised, not listed (memory stays bounded).
MAX_ITEMS = 1000
# Baseline alerts remembered, so that each new behaviour is logged once.
_MAX_ALERTS = 4096
# Series of python.audit.baseline.new; the rest share the overflow series.
_MAX_SERIES = 1999
# Where a child process writes its part (set by ``run`` for the children).
REPORT_DIR_VARIABLE = "_OTEL_PYTHON_AUDITHOOK_REPORT_DIR"
BASELINE_EVENT = "python.audit.baseline.new"
NEW_BEHAVIOUR_STATUS = 3

_ARGS = "python.audit.arg."
# Ports the kernel hands out for port 0 and outgoing sockets (Linux's
# default range starts here): a server the program starts for itself listens
# on a new one each run, and a baseline must not differ on every run.
_EPHEMERAL_PORTS = 32768
# Directories below the temporary directory have random names: grouped as
# one, the files' own names are kept in the list.
_TMP = os.path.join(os.environ.get("TMPDIR") or "/tmp", "")


def _directory(path: str) -> str:
    directory = os.path.dirname(path)
    if not directory:
        # relative to the working directory or a directory descriptor
        # (shutil.rmtree removes by name under dir_fd)
        return "."
    if path.startswith(_TMP) and len(directory) > len(_TMP) - 1:
        return _TMP + "*"
    return directory


def behaviour(event: str, category: str, attrs: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, item) of an exported event's attributes; None for what the
    report does not list (``import``: the modules themselves are not
    behaviour; their import-time actions are)."""
    if event == "import":
        return None
    path = attrs.get("file.path")
    if category == "network":
        host = attrs.get("server.address")
        if type(host) is not str:
            return None
        port = attrs.get("server.port")
        if type(port) is not int:
            return "hosts", host
        return "hosts", f"{host}:{port if port < _EPHEMERAL_PORTS else '(ephemeral)'}"
    if category == "process":
        program = attrs.get("process.executable.path")
        if type(program) is not str:
            args = attrs.get("process.command_args")
            program = args[0] if type(args) is tuple and args and type(args[0]) is str else None
        return "commands", program if program is not None else event
    if category == "native":
        library = path if type(path) is str else attrs.get(_ARGS + "name")
        # (dlopen(NULL), the process's own symbols: ctypes.pythonapi)
        return ("native", library) if type(library) is str else None
    if category == "code":
        if event == "exec":
            code = attrs.get(_ARGS + "code_object")
            # the import system's exec of a module body: an import, not dynamic code
            if type(code) is str and code.startswith("<module> (/"):
                return None
            return "code", code if type(code) is str else event
        filename = attrs.get(_ARGS + "filename")
        return "code", f"{event} {filename}" if type(filename) is str else event
    if type(path) is str:
        if event == "os.listdir" and path in sys.path_importer_cache:
            # the import system listing a directory it imports from
            return None
        if path.endswith(".pyc"):
            # the import system reading its bytecode cache: imports, not files
            return None
        return "files", _directory(path)
    return None


def behaviours_of(event: str, category: str, attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The event's (kind, item), and its import-time one when a module was
    being imported."""
    found = behaviour(event, category, attrs)
    if found is None:
        return []
    kind, item = found
    module = attrs.get(_emit.IMPORT_MODULE_KEY)
    if type(module) is not str:
        return [found]
    return [found, ("import_time", f"{module}: {kind} {item}")]


def _new_package(version: str | None) -> dict[str, Any]:
    return {"version": version, **{kind: {} for kind in KINDS}}


class Collector:
    """What each distribution did in this process: the report's watcher."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.packages: dict[str, dict[str, Any]] = {}
        # (unknown): by the file whose code raised the event, placed at exit
        self.unplaced: dict[str, dict[str, Any]] = {}

    def __call__(
        self, event: str, category: str, package: str, attrs: dict[str, Any], ctx: Any
    ) -> None:
        found = behaviours_of(event, category, attrs)
        if not found:
            return
        table, key = self.packages, package
        code_file = attrs.get(_emit.FILE_KEY)
        if package == _emit.UNKNOWN_PACKAGE and type(code_file) is str:
            table, key = self.unplaced, code_file
        with self.lock:
            entry = table.get(key)
            if entry is None:
                if table is self.unplaced and len(table) >= MAX_ITEMS:
                    table, key = self.packages, package
                    entry = table.get(key)
            if entry is None:
                entry = table[key] = _new_package(attrs.get(_emit.PACKAGE_VERSION_KEY))
            for kind, item in found:
                self._add(entry[kind], item, attrs.get("file.path") if kind == "files" else None)

    @staticmethod
    def _add(items: dict[str, Any], item: str, file: Any) -> None:
        if item not in items and len(items) >= MAX_ITEMS:
            return
        # files: the distinct names seen in the directory; else a count
        if type(file) is str:
            names = items.setdefault(item, [])
            if file not in names and len(names) < MAX_ITEMS:
                names.append(file)
        else:
            items[item] = items.get(item, 0) + 1

    def after_fork(self) -> None:
        # a forked child reports what it does itself, not its parent's part
        self.lock = threading.Lock()
        self.packages = {}
        self.unplaced = {}

    def place_the_unknown(self) -> None:
        """At exit, with the hook disarmed (its file reads are not the
        program's): the distributions whose import name is not their name
        (PyYAML's ``yaml``), found in their metadata."""
        with self.lock:
            unplaced, self.unplaced = self.unplaced, {}
        if not unplaced:
            return
        owners = _owners_from_metadata(list(unplaced))
        parts = []
        for code_file, entry in unplaced.items():
            name, version = owners.get(code_file, (_emit.UNKNOWN_PACKAGE, None))
            entry["version"] = version
            parts.append({"packages": {name: entry}})
        with self.lock:
            parts.append({"packages": self.packages})
            self.packages = merge(parts)


def _owners_from_metadata(files: list[str]) -> dict[str, tuple[str, str | None]]:
    """(name, version) of each file's distribution, from the RECORD files of
    the distributions that provide its top-level name."""
    import importlib.metadata

    try:
        by_top = importlib.metadata.packages_distributions()
    except Exception:  # a broken installation: the report says (unknown)
        return {}
    roots = sorted((os.path.join(p, "") for p in sys.path if p), key=len, reverse=True)
    found: dict[str, tuple[str, str | None]] = {}
    for code_file in files:
        root = next((r for r in roots if code_file.startswith(r)), None)
        if root is None:
            continue
        relative = code_file[len(root) :]
        top = relative.split(os.sep, 1)[0].partition(".")[0]
        for name in dict.fromkeys(by_top.get(top, ())):
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            # several distributions may share a top-level name (google/)
            owned = {str(f) for f in dist.files or ()}
            if relative in owned or len(by_top.get(top, ())) == 1:
                normalized = _emit._normalized(dist.metadata["Name"] or name)
                found[code_file] = (normalized.replace("_", "-"), dist.version)
                break
    return found


def start_child() -> None:
    """Instrument this process for ``report`` (its ``sitecustomize``)."""
    directory = os.environ.get(REPORT_DIR_VARIABLE)
    if not directory:
        return
    from opentelemetry.instrumentation.audithook import AuditHookInstrumentor

    collector = Collector()
    instrumentor = AuditHookInstrumentor()
    instrumentor.instrument(
        emit="log",
        logger_provider=_DiscardingLoggerProvider(),
        sample_ratio=1.0,
        rate_limit=0,
        rate_limit_total=0,
        code_location=True,
    )
    emitter = _hook_emitter()
    if emitter is None:
        return
    emitter.watcher = collector

    def write() -> None:
        instrumentor.uninstrument()
        try:
            collector.place_the_unknown()
        except Exception as exc:  # what is placed is a bonus; the report goes out
            _config.warning("report: could not place every file's distribution: %s", exc)
        path = os.path.join(directory, f"{os.getpid()}-{time.monotonic_ns()}.json")
        with collector.lock:
            text = json.dumps(
                {"pid": os.getpid(), "argv": sys.argv, "packages": collector.packages}
            )
        try:
            with open(path, "w", encoding="utf-8") as file:
                file.write(text)
        except OSError as exc:
            _config.warning("report: could not write %s: %s", path, exc)

    atexit.register(write)


def _hook_emitter() -> Any:
    from opentelemetry.instrumentation.audithook import _hook

    return _hook.STATE.emitter


class _DiscardingLoggerProvider(_logs.LoggerProvider):
    """Log records go nowhere: the report reads the events through its watcher."""

    def get_logger(self, name: str, *args: Any, **kwargs: Any) -> _logs.Logger:
        return _logs.NoOpLogger(name)


# ----------------------------------------------------------------------
# Reports: merging, rendering, comparing.


def merge(parts: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for package, entry in part.get("packages", {}).items():
            into = merged.setdefault(package, _new_package(entry.get("version")))
            for kind in KINDS:
                for item, value in entry.get(kind, {}).items():
                    if kind == "files":
                        names = into[kind].setdefault(item, [])
                        names.extend(n for n in value if n not in names)
                    else:
                        into[kind][item] = into[kind].get(item, 0) + value
    return merged


def behaviours(packages: Mapping[str, Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (package, kind, item)
        for package, entry in packages.items()
        for kind in KINDS
        for item in entry.get(kind, {})
    }


def new_since(
    packages: Mapping[str, Mapping[str, Any]], baseline: set[tuple[str, str, str]]
) -> dict[str, dict[str, Any]]:
    """The part of a report that the baseline does not have."""
    new: dict[str, dict[str, Any]] = {}
    for package, entry in packages.items():
        for kind in KINDS:
            for item, value in entry.get(kind, {}).items():
                if (package, kind, item) not in baseline:
                    into = new.setdefault(package, _new_package(entry.get("version")))
                    into[kind][item] = value
    return new


def render(packages: Mapping[str, Mapping[str, Any]]) -> str:
    lines = []
    # the application first, then distributions by name
    for package in sorted(packages, key=lambda p: (not p.startswith("("), p)):
        entry = packages[package]
        version = entry.get("version")
        lines.append(package + (f" {version}" if version else ""))
        for kind in KINDS:
            items = entry.get(kind, {})
            if not items:
                continue
            lines.append(f"  {_TITLES[kind]}:")
            for item in sorted(items):
                value = items[item]
                if kind == "files":
                    files = "file" if len(value) == 1 else "files"
                    lines.append(f"    {item}/ ({len(value)} {files})")
                else:
                    lines.append(f"    {item}" + (f" (x{value})" if value > 1 else ""))
    return "\n".join(lines)


def read_report(path: str) -> dict[str, dict[str, Any]]:
    """A report written by ``--json``; ValueError when it is not one."""
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    if type(data) is not dict or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a report of this package (format {FORMAT!r})")
    packages = data.get("packages")
    if type(packages) is not dict or not all(type(e) is dict for e in packages.values()):
        raise ValueError(f"{path}: 'packages' is not a mapping of distributions")
    return packages


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m opentelemetry.instrumentation.audithook report",
        description="Run a command instrumented (its Python child processes too) and print,"
        " per installed distribution, what it did: files, hosts, commands, native libraries,"
        " dynamic code, and what it did at import.",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument(
        "--baseline",
        metavar="PATH",
        help="a report written by --json: print only what is new, and exit with status"
        f" {NEW_BEHAVIOUR_STATUS} when something is",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    return parser


def _sitecustomize(directory: str) -> None:
    """A sitecustomize that instruments, then runs the one it shadows."""
    with open(os.path.join(directory, "sitecustomize.py"), "w", encoding="utf-8") as file:
        file.write(
            "import importlib, os, sys\n"
            "from opentelemetry.instrumentation.audithook import _report\n"
            "_report.start_child()\n"
            "_here = os.path.dirname(os.path.abspath(__file__))\n"
            "_me = sys.modules.pop('sitecustomize', None)\n"
            "_path = sys.path[:]\n"
            "sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != _here]\n"
            "try:\n"
            "    importlib.import_module('sitecustomize')\n"
            "except ImportError:\n"
            "    sys.modules['sitecustomize'] = _me\n"
            "finally:\n"
            "    sys.path[:] = _path\n"
        )


def run(argv: Sequence[str], out: Any = None) -> int:
    """The ``report`` command; its exit status."""
    out = out if out is not None else sys.stdout
    args = _parser().parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        _parser().error("no command given (report [--json PATH] [--baseline PATH] -- command ...)")
    baseline: set[tuple[str, str, str]] | None = None
    if args.baseline is not None:
        try:
            baseline = behaviours(read_report(args.baseline))
        except (OSError, ValueError) as exc:
            print(f"report: cannot use the baseline: {exc}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="audithook-report-") as scratch:
        parts_dir = os.path.join(scratch, "parts")
        os.mkdir(parts_dir)
        _sitecustomize(scratch)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (scratch, env.get("PYTHONPATH")) if p)
        env[REPORT_DIR_VARIABLE] = parts_dir
        try:
            status = subprocess.call(command, env=env)
        except OSError as exc:
            print(f"report: cannot run {command[0]!r}: {exc}", file=sys.stderr)
            return 127
        parts = []
        for name in sorted(os.listdir(parts_dir)):
            try:
                with open(os.path.join(parts_dir, name), encoding="utf-8") as file:
                    parts.append(json.load(file))
            except (OSError, ValueError) as exc:
                print(f"report: skipped a process's part {name}: {exc}", file=sys.stderr)
    packages = merge(parts)
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(
                {
                    "format": FORMAT,
                    "version": __version__,
                    "command": command,
                    "processes": len(parts),
                    "packages": packages,
                },
                file,
                indent=1,
                sort_keys=True,
            )
    if baseline is None:
        print(f"== what each distribution did ({len(parts)} Python processes)", file=out)
        print(render(packages), file=out)
        return status
    new = new_since(packages, baseline)
    if not new:
        print("== nothing new since the baseline", file=out)
        return status
    print("== new since the baseline", file=out)
    print(render(new), file=out)
    return NEW_BEHAVIOUR_STATUS


# ----------------------------------------------------------------------
# The baseline at run time (OTEL_PYTHON_AUDITHOOK_BASELINE).


class Baseline:
    """The watcher that alerts on exported events outside a baseline."""

    def __init__(self, known: set[tuple[str, str, str]], emitter: Any) -> None:
        self.known = known
        self.emitter = emitter
        self.alerted: set[tuple[str, str, str]] = set()
        self.lock = threading.Lock()
        # new behaviour by (distribution, category, kind); None: the overflow series
        self.counts: dict[tuple[str, str, str] | None, int] = {}

    def after_fork(self) -> None:
        # the child is a new process: its counts start at zero
        self.lock = threading.Lock()
        self.counts = {}

    def count(self, package: str, category: str, kind: str) -> None:
        with self.lock:
            table = self.counts
            key: tuple[str, str, str] | None = (package, category, kind)
            if key not in table and len(table) >= _MAX_SERIES:
                key = None
            table[key] = table.get(key, 0) + 1

    def snapshot(self) -> dict[tuple[str, str, str] | None, int]:
        with self.lock:
            return dict(self.counts)

    def __call__(
        self, event: str, category: str, package: str, attrs: dict[str, Any], ctx: Any
    ) -> None:
        for kind, item in behaviours_of(event, category, attrs):
            key = (package, kind, item)
            if key in self.known:
                continue
            self.count(package, category, key[1])
            with self.lock:
                if key in self.alerted or len(self.alerted) >= _MAX_ALERTS:
                    continue
                self.alerted.add(key)
            self._alert(event, key, attrs, ctx)

    def _alert(
        self, event: str, key: tuple[str, str, str], attrs: dict[str, Any], ctx: Any
    ) -> None:
        emitter = self.emitter
        if not emitter.logs_exported:
            return
        package, kind, item = key
        emitter.log(
            ctx,
            BASELINE_EVENT,
            f"new behaviour outside the baseline: {package} {kind} {item}",
            {**attrs, _emit.BASELINE_KIND_KEY: kind, "python.audit.baseline.item": item},
            warn=True,
        )


def load_baseline(path: str, emitter: Any) -> Baseline | None:
    try:
        known = behaviours(read_report(path))
    except (OSError, ValueError) as exc:
        _config.warning(
            "OTEL_PYTHON_AUDITHOOK_BASELINE=%r cannot be used (%s): no alert is raised", path, exc
        )
        return None
    return Baseline(known, emitter)


def create_baseline_counter(meter: Any, state: Any) -> None:
    """``python.audit.baseline.new``, made where a baseline is configured; it
    reads the baseline of whichever configuration is armed."""
    from opentelemetry.metrics import CallbackOptions, Observation

    def observe(options: CallbackOptions) -> list[Observation]:
        watcher = getattr(state.emitter, "watcher", None)
        if type(watcher) is not Baseline:
            return []
        return [
            Observation(
                n,
                _emit.OVERFLOW_ATTRIBUTES
                if key is None
                else {
                    _emit.PACKAGE_NAME_KEY: key[0],
                    _mapping.CATEGORY_KEY: key[1],
                    _emit.BASELINE_KIND_KEY: key[2],
                },
            )
            for key, n in watcher.snapshot().items()
        ]

    meter.create_observable_counter(
        _emit.BASELINE_METRIC,
        callbacks=[observe],
        unit="{event}",
        description="Exported audit events outside OTEL_PYTHON_AUDITHOOK_BASELINE.",
    )
