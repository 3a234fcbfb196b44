"""The process-wide audit hook's Python side, and which implementation runs it.

Audit hooks cannot be removed, so one hook is installed for the life of the
process and armed or disarmed by instrument() and uninstrument().  The hook
itself (``_speedups`` in C, or ``_purehook``) asks ``State.resolve`` once per
distinct event name for its flags and sample ratio (``Planner``), drops and
counts what it can by itself (``_backend.Backend``), and hands the rest to
``State.handle``.

Before ``State``: which implementation runs (``choose``), telling the
application's exceptions from ours (signal handlers), then the per-name
plans.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FunctionType, MethodType, TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.audithook import _catalog, _config, _mapping
from opentelemetry.instrumentation.audithook._config import Config, Rules

if TYPE_CHECKING:
    from opentelemetry.instrumentation.audithook._backend import Backend
    from opentelemetry.instrumentation.audithook._emit import Emitter

    RaisedBy = Callable[[TracebackType | None, tuple[Any, ...]], bool]

# ----------------------------------------------------------------------
# Which implementation runs: the C accelerator (``_speedups``) or its
# pure-Python twin (``_purehook``), interchangeable modules that satisfy one
# contract (``_backend.Backend``; the tests run ``mypy.stubtest`` on both
# against ``_speedups.pyi``).  Here rather than in a module of its own: each
# module is a file to find, read and unmarshal at every instrumented
# start-up (issue 15).

# What ``situation`` answers: where an event happens.
SUPPRESSED = 0
"""The telemetry pipeline's own work (the SDK's exporters): not recorded."""
NO_SPAN = 1
"""No span, or one that does not record."""
IN_SPAN = 2
"""A span that records (the handler checks ``is_recording()`` again)."""


def load_c() -> tuple[Backend | None, str]:
    try:
        from opentelemetry.instrumentation.audithook import _speedups
    except ImportError as exc:
        return None, str(exc) or type(exc).__name__
    return _speedups, ""


def choose(pure_python: bool) -> Backend:
    """The C hook where it loads, unless the pure one is asked for."""
    if not pure_python:
        c, _ = load_c()
        if c is not None:
            return c
    # imported only where it runs (or is the fallback): start-up stays lean
    from opentelemetry.instrumentation.audithook import _purehook

    return _purehook


def implementation_name(module: Backend) -> str:
    return "pure" if module.__name__.endswith("._purehook") else "c"


# ----------------------------------------------------------------------
# Telling the application's exceptions from ours.
#
# Python runs signal handlers between any two bytecodes, ours included: an
# application's handler that raises (a timeout on SIGALRM) raises inside our
# code, and its exception belongs to the application.  Only exceptions that
# our own code caused may be dropped.

_MAIN_THREAD = threading.main_thread().ident


def _handlers() -> tuple[Any, ...]:
    """The Python functions installed as signal handlers."""
    found = []
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):  # pragma: no cover - platform-specific
            continue
        while type(handler) is functools.partial:
            handler = handler.func
        # type() is: a user's object runs no code of its own here
        if type(handler) is FunctionType or type(handler) is MethodType:
            found.append(handler)
    return tuple(found)


def is_ours(exc: Exception, raised_by: RaisedBy) -> bool:
    """Whether exc was raised by our code rather than by a signal handler
    that ran inside it.  ``raised_by`` is the hook implementation's."""
    if threading.get_ident() != _MAIN_THREAD:
        return True  # signal handlers run in the main thread only
    handlers = _handlers()
    return not (handlers and raised_by(exc.__traceback__, handlers))


# ----------------------------------------------------------------------
# The plan for one event name: everything decided once per name.
#
# The hook implementation asks ``Planner.resolve(event)`` the first time it
# sees a name and caches the answer: its *flags* (selected, standard-library
# imports left out, dropped without a span, counted in the overflow series)
# and its sample ratio, with which the hook drops what it can by itself.  The
# events it hands on run the name's ``Plan``: the configuration's ``Rules``
# for the name (``Config.rules_for``) plus the series it is counted under.

# Plans held at once; past that the table starts over (a name whose plan was
# forgotten gets a new one on its next event).
_PLAN_LIMIT = 4096

# Distinct event names counted under their own name; the rest share one
# overflow series (attribute otel.metric.overflow=true), as the SDK's
# cardinality limit does: 1999 names and the overflow fit its default limit
# of 2000 series, so the SDK never folds names of its own accord.  The C
# hook's table holds a few more than this.
MAX_SERIES = 1999
# Distinct distributions in python.audit.package.events; the rest share the
# overflow series.  An application has tens of distributions that act, not
# thousands, and each name multiplies the categories' series.
MAX_PACKAGES = 50

# On Python 3.11, CPython raises these two while it holds a guard that makes
# any other thread's sys.settrace() fail with RuntimeError ("Cannot install a
# trace function while another trace function is being installed"): Python
# code run by a hook then may hand the GIL to such a thread.  They are never
# recorded there, and pinned as unselected before the first one is raised
# (a cache that starts over keeps them).
UNRECORDABLE: frozenset[str] = (
    frozenset({"sys.settrace", "sys.setprofile"}) if sys.version_info < (3, 12) else frozenset()
)


class Counts:
    """The drops decided in Python (the hook counts the rest), read by the
    observable counters.

    Keyed by event name for the first ``limit`` names, by None (the overflow
    series) for the rest: the tables and the metric stay bounded."""

    def __init__(self, limit: int = MAX_SERIES) -> None:
        self.lock = threading.Lock()
        self.dropped: dict[tuple[str | None, str], int] = {}
        self._admitted: set[str] = set()
        self._limit = limit
        # exported events by (distribution, category); None: past MAX_PACKAGES
        self.packages: dict[tuple[str, str] | None, int] = {}
        self._packages: set[str] = set()

    def count_package(self, package: str, category: str) -> None:
        key: tuple[str, str] | None = (package, category)
        with self.lock:
            packages = self.packages
            n = packages.get(key)
            if n is not None:
                packages[key] = n + 1
                return
            known = self._packages
            if package not in known:
                if len(known) < MAX_PACKAGES:
                    known.add(package)
                else:
                    key = None
            packages[key] = packages.get(key, 0) + 1

    def package_snapshot(self) -> dict[tuple[str, str] | None, int]:
        with self.lock:
            return dict(self.packages)

    def key(self, name: str) -> str | None:
        """The name to count an event under: itself, or None past the limit."""
        with self.lock:
            if name in self._admitted:
                return name
            if len(self._admitted) < self._limit:
                self._admitted.add(name)
                return name
            return None

    def snapshot(self) -> dict[tuple[str | None, str], int]:
        with self.lock:
            return dict(self.dropped)


class Plan:
    """What the hook does with one selected event name."""

    __slots__ = ("rules", "key", "_arguments", "_category")

    def __init__(self, rules: Rules, key: str | None) -> None:
        self.rules = rules
        # the name it is counted under; None: the overflow series
        self.key = key
        self._arguments: _mapping.ArgumentKeys | None = None
        self._category: str | None = None

    @property
    def category(self) -> str:
        """The name's category, found on its first exported event (the
        catalog's packed entry is split at each lookup)."""
        category = self._category
        if category is None:
            category = self._category = _config.category_of(self.rules.event)
        return category

    @property
    def arguments(self) -> _mapping.ArgumentKeys:
        """The name's argument keys, made on its first exported event."""
        arguments = self._arguments
        if arguments is None:
            arguments = self._arguments = self.rules.argument_keys()
        return arguments


# A socket or connection object is new at every call: its type, with the
# other arguments (the address, the data), tells a repeat.  A path's ``self``
# (pathlib's events) is a value, and is not one of these.
_HANDLES = ("self", "connection_handle")


def _first_is_handle(event: str) -> bool:
    entry = _catalog.entry(event)
    return (
        entry is not None
        and bool(entry[0])
        and entry[0][0] in _HANDLES
        and not event.startswith("pathlib.")
    )


class Planner:
    """The plans of one ``instrument()`` configuration, made on first sight."""

    def __init__(self, config: Config, counts: Counts, backend: Backend, need_span: bool) -> None:
        """``need_span``: an event with no recording span is dropped (span
        events only); else it becomes a log record."""
        self.config = config
        self.counts = counts
        self._selected = backend.FLAG_SELECTED
        self._need_span = backend.FLAG_NEED_SPAN if need_span else 0
        self._non_stdlib = backend.FLAG_NON_STDLIB
        self._overflow = backend.FLAG_OVERFLOW
        self._handle_first = backend.FLAG_HANDLE_FIRST
        self._plans: dict[str, Plan] = {}

    def plan(self, event: str) -> Plan | None:
        """The plan for a name; None when it is not recorded."""
        plan = self._plans.get(event)
        if plan is not None:
            return plan
        if event in UNRECORDABLE:
            return None
        rules = self.config.rules_for(event)
        if rules is None:
            return None
        plan = Plan(rules, self.counts.key(event))
        if len(self._plans) >= _PLAN_LIMIT:
            self._plans.clear()
        self._plans[event] = plan
        return plan

    def resolve(self, event: str) -> tuple[int, float]:
        """The hook's (flags, sample ratio) for a name (flags 0: not selected)."""
        plan = self.plan(event)
        if plan is None:
            return 0, 1.0
        flags = self._selected | self._need_span
        if plan.key is None:
            flags |= self._overflow
        # imports of standard-library modules are left out (@default)
        if plan.rules.selected == _config.SELECTED_NON_STDLIB:
            flags |= self._non_stdlib
        if _first_is_handle(event):
            flags |= self._handle_first
        return flags, plan.rules.sample_ratio

    def restart(self, counts: Counts) -> None:
        """After a fork: the child's counts."""
        self.counts = counts
        self._plans.clear()


class State:
    """The hook's view of the world; one per process."""

    def __init__(self) -> None:
        self.emitter: Emitter | None = None
        self.counts = Counts()
        self.impl: Backend | None = None

    @property
    def implementation(self) -> str:
        return implementation_name(self.impl) if self.impl is not None else "none"

    def _is_ours(self, exc: Exception) -> bool:
        """Whether our own code raised exc, so that we may drop it."""
        return self.impl is None or is_ours(exc, self.impl.raised_by)

    def resolve(self, event: str) -> tuple[int, float]:
        """The hook's (flags, sample ratio) for a name, asked once per name."""
        emitter = self.emitter
        if emitter is None:
            return 0, 1.0
        try:
            return emitter.planner.resolve(event)
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            # Counted and reported once; the name is then treated as unselected.
            emitter.report_error(event, exc)
            return 0, 1.0

    def situation(self, event: str) -> int:
        """Where an event happens, for a hook that cannot read the context."""
        emitter = self.emitter
        if emitter is None:
            return SUPPRESSED
        try:
            return emitter.situation()
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            # Counted as hook_error and reported once; SUPPRESSED counts nothing more.
            emitter.report_error(event, exc)
            return SUPPRESSED

    def handle(self, event: str, args: tuple[Any, ...]) -> None:
        emitter = self.emitter
        if emitter is None:
            return
        try:
            emitter.handle(event, args)
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            emitter.report_error(event, exc)

    def report(self, event: str, exc: Exception) -> None:
        """An error in the hook's own decisions: counted, reported once."""
        if not self._is_ours(exc):
            raise exc
        if self.emitter is not None:
            self.emitter.report_error(event, exc)

    def snapshot(
        self,
    ) -> tuple[dict[str | None, int], dict[tuple[str | None, str], int]]:
        """Selected events and drops: the hook's counts, and the drops
        decided in Python."""
        selected: dict[str | None, int] = {}
        dropped = self.counts.snapshot()
        if self.impl is not None:
            names = self.impl.COUNTS
            for event, row in self.impl.counts().items():
                for kind, n in zip(names, row, strict=True):
                    if not n:
                        continue
                    if kind == "selected":
                        selected[event] = n
                    else:
                        key = (event, kind)
                        dropped[key] = dropped.get(key, 0) + n
        return selected, dropped

    def arm(self, emitter: Emitter) -> None:
        self.emitter = emitter
        if self.impl is not None:
            config = emitter.config
            self.impl.configure(
                config.rate_limit,
                config.rate_limit_total,
                sys.stdlib_module_names,
                _config.BURST_SECONDS,
                config.repeat_window,
            )
            self.impl.clear_cache()
            self.impl.set_enabled(True)

    def disarm(self) -> None:
        if self.impl is not None:
            self.impl.set_enabled(False)
            self.impl.clear_cache()
        self.emitter = None

    def after_fork_in_child(self) -> None:
        # Another thread may have held a lock or been inside the hook when the
        # process forked; and the child is a new process: it starts fresh.
        self.counts = Counts()
        if self.emitter is not None:
            self.emitter.after_fork_in_child(self.counts)
        if self.impl is not None:
            # the child's counts start at zero and its rate limits full
            self.impl.reset_after_fork()

    def install(
        self, pure_python: bool, context_args: tuple[Any, tuple[Any, ...], Any, type | None]
    ) -> None:
        """Install the hook once per process; later calls do nothing.  Never
        raises for what other audit hooks do: it falls back, or warns.
        ``context_args``: where the hook reads the context from C
        (``_emit.Seam.context_args``)."""
        if self.impl is not None:
            return
        impl = choose(pure_python)
        impl.set_context(*context_args, self.situation)
        outcome = impl.install(self.resolve, self.handle, self.report)
        if outcome is False and implementation_name(impl) == "c":
            _config.warning(
                "an existing audit hook vetoed the C audit hook; using the pure-Python one"
            )
            impl = choose(pure_python=True)
            impl.set_context(*context_args, self.situation)
            outcome = impl.install(self.resolve, self.handle, self.report)
        if outcome is None:
            _config.warning(
                "an existing audit hook refused the probe event %r: assuming the audit hook"
                " is installed; events that hook refuses are not recorded",
                impl.PROBE_EVENT,
            )
        elif not impl.installed():
            _config.warning(
                "an existing audit hook vetoes new audit hooks: audit events cannot be recorded"
            )
        for name in UNRECORDABLE:
            impl.pin(name, 0)
        self.impl = impl
        os.register_at_fork(after_in_child=self.after_fork_in_child)
        # At exit the SDK flushes and shuts down; events raised after that could
        # not be exported, and recording them would only print warnings.
        atexit.register(self.disarm)


STATE = State()
