"""From a selected audit event to telemetry: counters, span events, log records, drops.

Counting is aggregated here, in plain integers under a lock, and reported by
observable counters: the SDK's ``Counter.add`` costs microseconds per call,
far more than the event it would count.

The module starts with the SDK seam (every private name of the OpenTelemetry
API and SDK that we use), then code location: the application's line
behind an event.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable
from importlib.machinery import FileFinder
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, context, metrics, trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.semconv.attributes import code_attributes

from opentelemetry.instrumentation.audithook import _config, _hook, _mapping
from opentelemetry.instrumentation.audithook.version import __version__

if TYPE_CHECKING:
    from opentelemetry.instrumentation.audithook._backend import Backend

    class Seam:
        """What we reach through private names, or through the public
        fallbacks (at run time a SimpleNamespace: a class costs every
        instrumented start-up its definition, issue 15)."""

        # whether instrumentation is suppressed in the context (the SDK's exporters)
        suppressed: Callable[[Any], bool]
        # the span in the context, INVALID_SPAN if none
        current_span: Callable[[Any], Any]
        add_span_event: Callable[[Any, str, dict[str, Any]], None]
        # the span's event limit
        max_span_events: Callable[[Any], int]
        # whether log records given to the provider go anywhere
        logs_exported: Callable[[Any], bool]
        # (context variable, suppress keys, span key, the API's
        # NonRecordingSpan) for the hook; None first when it must ask Python
        context_args: tuple[Any, tuple[Any, ...], Any, type | None]
        # the private names found (for tests and the ``config`` command)
        private: frozenset[str]

    Lookup = Callable[[str, str], Any]
    Location = tuple[str, int, str, str | None]
    Walk = Callable[[dict[str, bool], Callable[[str], bool]], Location | None]
    # (distribution name, version)
    Owner = tuple[str, str | None]
    # One span's budget is a list, [cap, total, dropped, {name: exported},
    # {name: dropped}]: a class of five fields would cost every instrumented
    # start-up its definition (issue 15).
    SpanBudget = list[Any]
    # (event, category, distribution, attributes, context) of an exported event
    Watcher = Callable[[str, str, str, dict[str, Any], Any], None]

# ----------------------------------------------------------------------
# The SDK seam: every private name of the OpenTelemetry API and SDK that we
# use, in one place.
#
# Each one saves time on the hot path or answers a question the public API
# cannot, and each has a public fallback, used when a release renames or drops
# the private name (``build_seam`` takes the lookup, so tests build the
# fallbacks):
#
# * ``context._SUPPRESS_INSTRUMENTATION_KEY`` and
#   ``utils._SUPPRESS_INSTRUMENTATION_KEY_PLAIN``: else
#   ``utils.is_instrumentation_enabled()``;
# * ``trace.propagation._SPAN_KEY``: else ``trace.get_current_span(ctx)``;
# * ``context._RUNTIME_CONTEXT._current_context``: else the hook asks Python
#   where each selected event happens (``_backend.Backend.set_context``);
# * ``sdk.trace.Span._add_event`` and ``Span._limits``: else ``span.add_event``
#   and ``SpanLimits().max_events``;
# * ``_logs._internal.ProxyLoggerProvider`` and
#   ``LoggerProvider._multi_log_record_processor``: else a provider that is not
#   the API's no-op one is taken to export.
#
# The hook reads the same three context names (``context_args``) and repeats
# the first two checks itself, in C where it is the C hook, so that it can drop
# an event before any Python runs; when any of them is missing, it asks.
#
# (A section here, not a module of its own: each module is a file to find,
# read and unmarshal at every instrumented start-up, issue 15.)

_DEFAULT_MAX_EVENTS = 128


def _import_lookup(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _find(lookup: Lookup, module: str, name: str) -> Any:
    try:
        return lookup(module, name)
    except (ImportError, AttributeError):
        return None


def build_seam(lookup: Lookup = _import_lookup) -> Seam:
    found: set[str] = set()

    suppress_key = _find(lookup, "opentelemetry.context", "_SUPPRESS_INSTRUMENTATION_KEY")
    plain_key = _find(
        lookup, "opentelemetry.instrumentation.utils", "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN"
    )
    suppressed: Callable[[Any], bool]
    if suppress_key is not None and plain_key is not None:
        found.add("_SUPPRESS_INSTRUMENTATION_KEY")

        # One context fetch for both keys, where the public call fetches twice.
        def suppressed(ctx: Any) -> bool:
            return bool(ctx.get(suppress_key) or ctx.get(plain_key))
    else:

        def suppressed(ctx: Any) -> bool:
            return not is_instrumentation_enabled()

    span_key = _find(lookup, "opentelemetry.trace.propagation", "_SPAN_KEY")
    invalid = trace.INVALID_SPAN
    current_span: Callable[[Any], Any]
    if span_key is not None:
        found.add("_SPAN_KEY")

        # One dict lookup, where trace.get_current_span() costs several calls.
        def current_span(ctx: Any) -> Any:
            return ctx.get(span_key, invalid)
    else:
        current_span = trace.get_current_span

    add_span_event, max_span_events = _span_access(lookup, found)
    logs_exported = _logs_access(lookup, found)

    runtime = _find(lookup, "opentelemetry.context", "_RUNTIME_CONTEXT")
    var = getattr(runtime, "_current_context", None)
    fast: tuple[Any, tuple[Any, ...], Any, type | None] = (None, (), None, None)
    # Only contextvars' ContextVar can be read from C; another runtime
    # context (a user's) always goes through Python.
    if type(var).__name__ == "ContextVar" and span_key is not None and suppress_key is not None:
        found.add("_RUNTIME_CONTEXT")
        fast = (var, (suppress_key, plain_key), span_key, trace.NonRecordingSpan)

    seam: Seam = types.SimpleNamespace(  # type: ignore[assignment]
        suppressed=suppressed,
        current_span=current_span,
        add_span_event=add_span_event,
        max_span_events=max_span_events,
        logs_exported=logs_exported,
        context_args=fast,
        private=frozenset(found),
    )
    return seam


def _public_max_events(span: Any) -> int:
    try:
        from opentelemetry.sdk.trace import SpanLimits
    except ImportError:  # pragma: no cover - an API-only install
        return _DEFAULT_MAX_EVENTS
    return SpanLimits().max_events or _DEFAULT_MAX_EVENTS


def _public_add_event(span: Any, name: str, attrs: dict[str, Any]) -> None:
    span.add_event(name, attrs)


def _span_access(
    lookup: Lookup, found: set[str]
) -> tuple[Callable[[Any, str, dict[str, Any]], None], Callable[[Any], int]]:
    span_class = _find(lookup, "opentelemetry.sdk.trace", "Span")
    event_class = _find(lookup, "opentelemetry.sdk.trace", "Event")
    sdk_span = _find(lookup, "opentelemetry.sdk.trace", "_Span")
    # (_limits is an instance attribute: read with a default at each use)
    if span_class is None or event_class is None or not hasattr(span_class, "_add_event"):
        return _public_add_event, _public_max_events
    found.add("Span._add_event")
    # The SDK's tracer makes _Span, its own subclass of Span.
    span_types = tuple(t for t in (span_class, sdk_span) if t is not None)

    def add_span_event(span: Any, name: str, attrs: dict[str, Any]) -> None:
        """span.add_event, without re-validating what the mapping made valid.

        The SDK's add_event copies and checks every attribute again (two
        thirds of the cost of a span event); ours are valid OpenTelemetry
        values already, cut to our own length limit.  When the span's limits
        would cut nothing further, the event goes to the span's bounded event
        list through the ``_add_event`` that add_event ends in (which also
        refuses ended spans)."""
        limits = getattr(span, "_limits", None) if type(span) in span_types else None
        if limits is not None:
            max_attrs = getattr(limits, "max_event_attributes", 0)
            if (max_attrs is None or len(attrs) <= max_attrs) and (
                getattr(limits, "max_attribute_length", 0) is None
            ):
                span._add_event(event_class(name, types.MappingProxyType(attrs)))
                return
        span.add_event(name, attrs)

    def max_span_events(span: Any) -> int:
        limits = getattr(span, "_limits", None) if type(span) in span_types else None
        if limits is None:
            return _public_max_events(span)
        return getattr(limits, "max_events", None) or _DEFAULT_MAX_EVENTS

    return add_span_event, max_span_events


def _logs_access(lookup: Lookup, found: set[str]) -> Callable[[Any], bool]:
    proxy = _find(lookup, "opentelemetry._logs._internal", "ProxyLoggerProvider")
    sdk_provider = _find(lookup, "opentelemetry.sdk._logs", "LoggerProvider")
    no_op = _logs.NoOpLoggerProvider
    unset = (no_op, proxy) if proxy is not None else (no_op,)
    if proxy is not None:
        found.add("ProxyLoggerProvider")
    if sdk_provider is not None:
        found.add("LoggerProvider._multi_log_record_processor")

    def logs_exported(provider: Any) -> bool:
        if isinstance(provider, unset):
            return False
        if sdk_provider is not None and type(provider) is sdk_provider:
            # opentelemetry-instrument --logs_exporter none sets an SDK
            # provider with no processor: records given to it go nowhere.
            multi = getattr(provider, "_multi_log_record_processor", None)
            processors = getattr(multi, "_log_record_processors", None)
            if type(processors) is tuple:
                return len(processors) > 0
        return True

    return logs_exported


SEAM = build_seam()


# ----------------------------------------------------------------------
# The application's line behind an audit event.
#
# Walks the stack from the hook outwards to the first frame that is neither the
# standard library nor this package.  The walk itself is the hook
# implementation's ``caller_location``: in C it reads frames through the C API
# and raises no audit event; in pure Python it needs ``sys._getframe`` and
# ``frame.f_code``, which raise ``sys._getframe`` and ``object.__getattr__``
# events that other hooks see (so code location is off by default there).

FILE_KEY = code_attributes.CODE_FILE_PATH
LINE_KEY = code_attributes.CODE_LINE_NUMBER
FUNCTION_KEY = code_attributes.CODE_FUNCTION_NAME

_CACHE_LIMIT = 4096

# The standard library is the directory of ``os``; its ``site-packages`` (or
# Debian's ``dist-packages``), where a Python without a virtualenv installs
# third-party code, is not.  (``sysconfig.get_paths()`` says the same but
# costs a process a millisecond of start-up to import its build data.)
# Found at the first walk, not at import (realpath reads every directory on
# the way): (ours, the standard library, its site-packages directories).
_places: tuple[str, str, tuple[str, ...]] | None = None


def _find_places() -> tuple[str, str, tuple[str, ...]]:
    global _places
    stdlib = os.path.join(os.path.dirname(os.path.realpath(os.__file__)), "")
    site = tuple(os.path.join(stdlib, name, "") for name in ("site-packages", "dist-packages"))
    ours = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")
    _places = (ours, stdlib, site)
    return _places


_skip: dict[str, bool] = {}


def _should_skip(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    ours, stdlib, site = _places or _find_places()
    path = os.path.realpath(filename) if os.path.isabs(filename) else filename
    if path.startswith(ours):
        return True
    return path.startswith(stdlib) and not path.startswith(site)


def caller_location(walk: Walk) -> Location | None:
    """(file, line, qualified function name) of the application's frame, if
    any, and the module whose import is running it (or None)."""
    if len(_skip) >= _CACHE_LIMIT:
        # Generated code can mint file names without end; stay bounded.
        _skip.clear()
    return walk(_skip, _should_skip)


# ----------------------------------------------------------------------
# The installed distribution behind the application's frame, and the module
# being imported when the event happened.
#
# A distribution's RECORD says which files it owns, but the hook may not read
# files (they raise audit events).  The import system has already listed
# every directory it imported from: each FileFinder in
# ``sys.path_importer_cache`` keeps the directory's names, the
# ``*.dist-info`` directories among them, whose names give each
# distribution's name and version.  A frame's module was imported through its
# directory's finder, so that listing exists by the time its frame raises an
# event; reading it raises no audit event.  The owner of ``<root>/a/b/c.py``
# is the distribution named ``a_b_c``, ``a_b`` or ``a`` (normalized), the
# longest first: ``urllib3/connection.py`` is urllib3's,
# ``opentelemetry/instrumentation/flask/__init__.py`` is
# opentelemetry-instrumentation-flask's.  A distribution whose import name
# differs from its name (PyYAML's ``yaml``) is not found this way.

PACKAGE_NAME_KEY = "python.audit.package.name"
PACKAGE_VERSION_KEY = "python.audit.package.version"
IMPORT_MODULE_KEY = "python.audit.import.module"
# Code outside every directory that holds distributions: no distribution's;
# not a valid distribution name (PEP 508), so it cannot be mistaken for one.
APPLICATION = "(application)"
# No frame outside the standard library and this package: the interpreter's
# own work (shown only with OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING=show).
INTERPRETER = "(interpreter)"
# In a directory of distributions, but no distribution's name matches the
# file's path (an import name that differs from the distribution's: PyYAML's
# ``yaml``): counted in the metric under this name, no attribute on the event.
UNKNOWN_PACKAGE = "(unknown)"


def _normalized(name: str) -> str:
    # PEP 503's normalization with "_": dist-info directories escape "-"
    return name.replace("-", "_").replace(".", "_").lower()


def owner_lookup(finders: dict[str, Any] | None = None) -> Callable[[str], Owner | None]:
    """``owner(filename)``: (name, version) of the file's distribution,
    (APPLICATION, None) outside every directory that holds distributions,
    None when a distribution's directory holds it but no name matches.  From
    the import system's directory listings: no file read, no audit event.

    (Closures rather than a class: defining a class is a measurable part of
    every instrumented start-up, issue 15.)"""
    listings = sys.path_importer_cache if finders is None else finders
    # (root with a trailing separator, normalized name -> (name, version)),
    # longest root first
    roots: list[tuple[str, dict[str, tuple[str, str]]]] = []
    seen: set[str] = set()
    files: dict[str, Owner | None] = {}

    def refresh() -> None:
        for entry, finder in list(listings.items()):
            if entry in seen or type(entry) is not str:
                continue
            if type(finder) is not FileFinder:
                # zip files, None, a user's finder (whose attributes could run
                # its code): no listing to read
                seen.add(entry)
                continue
            names = finder._path_cache  # type: ignore[attr-defined]
            if type(names) is not set or not names:
                continue  # not listed yet: look again later
            seen.add(entry)
            dists: dict[str, tuple[str, str]] = {}
            for name in names:
                if type(name) is str and name.endswith(".dist-info"):
                    dist, _, version = name[: -len(".dist-info")].partition("-")
                    dists[_normalized(dist)] = (_normalized(dist).replace("_", "-"), version)
            if dists:
                roots.append((os.path.join(entry, ""), dists))
        roots.sort(key=lambda root: -len(root[0]))

    def find(filename: str) -> Owner | None:
        for root, dists in roots:
            if filename.startswith(root):
                parts = filename[len(root) :].split(os.sep)
                parts[-1] = parts[-1].partition(".")[0]
                for k in range(len(parts), 0, -1):
                    found = dists.get(_normalized("_".join(parts[:k])))
                    if found is not None:
                        return found
                return None
        return (APPLICATION, None)

    def owner(filename: str) -> Owner | None:
        if filename in files:
            return files[filename]
        if len(files) >= _CACHE_LIMIT:
            files.clear()
        found = find(filename)
        if found is not None and found[0] is APPLICATION and len(seen) < len(listings):
            # a directory imported from since the last look
            refresh()
            found = find(filename)
        files[filename] = found
        return found

    return owner


SCOPE = "opentelemetry.instrumentation.audithook"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
EVENTS_METRIC = "python.audit.events"
DROPPED_METRIC = "python.audit.events.dropped"
DROP_REASON_KEY = "python.audit.drop.reason"
PACKAGE_METRIC = "python.audit.package.events"
BASELINE_METRIC = "python.audit.baseline.new"
BASELINE_KIND_KEY = "python.audit.baseline.kind"

# The drops decided here; the hook counts its own (its COUNTS names them).
NO_SPAN = "no_span"
HOOK_ERROR = "hook_error"
SPAN_BUDGET = "span_budget"
NO_LOGS = "no_logs"
HOUSEKEEPING = "housekeeping"
SPAN_BUDGET_ATTRIBUTE = "python.audit.span_budget.dropped"
# The per-span summary of what the budget left out: aligned arrays, one item
# per event name.
SPAN_BUDGET_EVENTS = "python.audit.span_budget.events"
SPAN_BUDGET_COUNTS = "python.audit.span_budget.counts"

OVERFLOW_ATTRIBUTES = {"otel.metric.overflow": True}

# Spans whose budgets are tracked at once; past that the table starts over,
# and a span that receives events again simply starts a fresh budget.
_TRACKED_SPANS = 1024
# Event names in one span's summary, at most (the total counts them all).
_SUMMARY_NAMES = 32


class Emitter:
    """Turns selected events into telemetry for one instrument() configuration."""

    def __init__(
        self,
        config: _config.Config,
        counts: _hook.Counts,
        backend: Backend,
        logger_provider: Any = None,
        seam: Seam | None = None,
    ) -> None:
        self.config = config
        self.counts = counts
        self.seam = seam if seam is not None else SEAM
        # Code location: asked for, or by default where the walk raises no
        # audit event (the C hook's).
        wanted = config.code_location
        if wanted is None:
            wanted = backend.WALK_IS_SILENT
        self.walk = backend.caller_location if wanted else None
        self.hide_housekeeping = config.housekeeping == _config.HOUSEKEEPING_HIDE
        self.owner = owner_lookup()
        # OTEL_PYTHON_AUDITHOOK_BASELINE, or the report's collector: told of
        # every exported event (imported only when used: start-up, issue 15)
        self.watcher: Watcher | None = None
        if config.baseline is not None:
            from opentelemetry.instrumentation.audithook import _report

            self.watcher = _report.load_baseline(config.baseline, self)
        self.raised_by = backend.raised_by
        self._reported_errors: set[str] = set()
        provider = logger_provider if logger_provider is not None else _logs.get_logger_provider()
        self.logger = _logs.get_logger(SCOPE, __version__, provider, schema_url=SCHEMA_URL)
        exported = self.seam.logs_exported(provider)
        # every event a log record, or span events (and log records outside spans)
        self.to_logs = config.emit == _config.EMIT_LOG
        self.logs_exported = exported
        self.log_no_span = not self.to_logs and config.no_span == _config.NO_SPAN_LOG and exported
        if self.to_logs and not exported:
            _config.warning(
                "OTEL_PYTHON_AUDITHOOK_EMIT=log, but no LoggerProvider exports log records"
                " (set one up, e.g. opentelemetry-instrument --logs_exporter otlp): events"
                " are counted in python.audit.events.dropped with reason %r",
                NO_LOGS,
            )
        # The hook drops an event with no span by itself where it would
        # become neither a span event nor a log record.
        need_span = not self.to_logs and not self.log_no_span
        self.planner = _hook.Planner(config, counts, backend, need_span)
        self._unsee = backend.unsee
        self._budget_lock = threading.Lock()
        self._budgets: dict[int, SpanBudget] = {}

    def drop(self, event: str | None, reason: str) -> None:
        """An event the hook let through, dropped here: counted, and not a
        repeat of anything exported."""
        self._unsee()
        counts = self.counts
        with counts.lock:
            key = (event, reason)
            counts.dropped[key] = counts.dropped.get(key, 0) + 1

    def situation(self) -> int:
        """Where an event happens (``_hook.SUPPRESSED``, ``NO_SPAN`` or
        ``IN_SPAN``), for a hook that cannot read the context by itself."""
        seam = self.seam
        ctx = context.get_current()
        # The SDK sets this around every export: the telemetry pipeline's own
        # sockets and files are not the application's behaviour.
        if seam.suppressed(ctx):
            return _hook.SUPPRESSED
        return _hook.IN_SPAN if seam.current_span(ctx).is_recording() else _hook.NO_SPAN

    def handle(self, event: str, args: tuple[Any, ...]) -> None:
        """An event the hook let through: counted, sampled in, within the rate
        limits, and not suppressed."""
        plan = self.planner.plan(event)
        if plan is None:
            return
        key = plan.key
        ctx = context.get_current()
        if self.to_logs:
            recording = False
            if not self.logs_exported:
                self.drop(key, NO_LOGS)
                return
        else:
            span: Any = self.seam.current_span(ctx)
            recording = span.is_recording()
            # (a span the hook took for a recording one: ended, or not the SDK's)
            if not recording and not self.log_no_span:
                self.drop(key, NO_SPAN)
                return
        walk = self.walk
        location: Location | None | bool = False
        if walk is not None:
            location = self._locate(walk, event)
            if location is None and self.hide_housekeeping:
                self.drop(key, HOUSEKEEPING)
                return
        if recording and not self._within_budget(span, event):
            self.drop(key, SPAN_BUDGET)
            return
        config = self.config
        attrs = _mapping.map_arguments(event, plan.arguments, args, config.max_value_length)
        package = self._attribute(location, attrs) if location is not False else None
        if recording:
            self.seam.add_span_event(span, event, attrs)
        else:
            self.log(ctx, event, event, attrs)
        if package is not None:
            category = plan.category
            self.counts.count_package(package, category)
            if self.watcher is not None:
                self._watch(event, category, package, attrs, ctx)

    def _watch(
        self, event: str, category: str, package: str, attrs: dict[str, Any], ctx: Any
    ) -> None:
        watcher = self.watcher
        if watcher is None:
            return
        try:
            watcher(event, category, package, attrs, ctx)
        except Exception as exc:
            # the event went out: reported, not counted as a drop
            if not _hook.is_ours(exc, self.raised_by):
                raise
            self._report_once(
                event, exc, "the baseline (or report) failed on", "the event was exported"
            )

    def log(
        self,
        ctx: Any,
        event_name: str,
        body: str,
        attrs: dict[str, Any],
        warn: bool = False,
    ) -> None:
        self.logger.emit(
            _logs.LogRecord(
                timestamp=time.time_ns(),
                context=ctx,
                severity_number=_logs.SeverityNumber.WARN if warn else _logs.SeverityNumber.INFO,
                severity_text="WARN" if warn else "INFO",
                body=body,
                attributes=attrs,
                event_name=event_name,
            )
        )

    def _locate(self, walk: Walk, event: str) -> Location | None | bool:
        """The application's frame behind the event, None when there is none
        (the interpreter's own work), False when it could not be found."""
        try:
            return caller_location(walk)
        except Exception as exc:
            # A sandboxing hook may forbid sys._getframe (pure Python): the
            # event still goes out, without its location.
            if not _hook.is_ours(exc, self.raised_by):
                raise
            self._report_once(
                event,
                exc,
                "could not find the code location of",
                "the event was exported without it",
            )
            return False

    def _attribute(self, location: Location | None | bool, attrs: dict[str, Any]) -> str:
        """Adds the code location and the attribution; the distribution's name."""
        if type(location) is not tuple:
            attrs[PACKAGE_NAME_KEY] = INTERPRETER
            return INTERPRETER
        attrs[FILE_KEY] = _mapping.clean_text(location[0], self.config.max_value_length)
        attrs[LINE_KEY] = location[1]
        attrs[FUNCTION_KEY] = location[2]
        if location[3] is not None:
            attrs[IMPORT_MODULE_KEY] = location[3]
        owner = self.owner(location[0])
        if owner is None:
            return UNKNOWN_PACKAGE
        attrs[PACKAGE_NAME_KEY] = owner[0]
        if owner[1] is not None:
            attrs[PACKAGE_VERSION_KEY] = owner[1]
        return owner[0]

    def _within_budget(self, span: Any, name: str) -> bool:
        """Whether the span may take one more event of this name; keeps the count."""
        key = span.get_span_context().span_id
        with self._budget_lock:
            budgets = self._budgets
            spent = budgets.get(key)
            if spent is None:
                if len(budgets) >= _TRACKED_SPANS:
                    budgets.clear()
                cap = self.seam.max_span_events(span) * 3 // 4
                spent = budgets[key] = [cap, 0, 0, {}, {}]
            cap, total, dropped, exported, by_name = spent
            per_name = exported.get(name, 0)
            budget = self.config.span_event_budget
            if total >= cap or (budget > 0 and per_name >= budget):
                dropped = spent[2] = dropped + 1
                if name in by_name or len(by_name) < _SUMMARY_NAMES:
                    by_name[name] = by_name.get(name, 0) + 1
                names = tuple(by_name)
                counts = tuple(by_name.values())
            else:
                exported[name] = per_name + 1
                spent[1] = total + 1
                return True
        # one call: one lock and one check of the span's attribute limits
        span.set_attributes(
            {SPAN_BUDGET_ATTRIBUTE: dropped, SPAN_BUDGET_EVENTS: names, SPAN_BUDGET_COUNTS: counts}
        )
        return False

    def after_fork_in_child(self, counts: _hook.Counts) -> None:
        # (the hook's rate limits start full in the child: reset_after_fork)
        self.counts = counts
        self.planner.restart(counts)
        self._budget_lock = threading.Lock()
        self._budgets.clear()
        # the baseline's counts and the report's collection are the parent's
        after_fork = getattr(self.watcher, "after_fork", None)
        if after_fork is not None:
            after_fork()

    def report_error(self, event: str, exc: Exception) -> None:
        self.drop(self.counts.key(event), HOOK_ERROR)
        self._report_once(event, exc, "audit hook failed on event", "the event was dropped")

    def _report_once(self, event: str, exc: Exception, what: str, outcome: str) -> None:
        key = f"{what} {event!r}"
        if key not in self._reported_errors and len(self._reported_errors) < _hook.MAX_SERIES:
            self._reported_errors.add(key)
            try:
                _config.warning("%s; %s (reported once per event)", key, outcome, exc_info=exc)
            except Exception:  # noqa: S110 - logging itself may be refused (a sandbox
                # forbidding sys._getframe): the count above still tells
                pass


def _event_attributes(event: str | None) -> dict[str, Any]:
    if event is None:
        return OVERFLOW_ATTRIBUTES
    return {
        _mapping.EVENT_KEY: event,
        _mapping.CATEGORY_KEY: _config.category_of(event),
    }


def _dropped_attributes(event: str | None, reason: str) -> dict[str, Any]:
    if event is None:
        return {**OVERFLOW_ATTRIBUTES, DROP_REASON_KEY: reason}
    return {_mapping.EVENT_KEY: event, DROP_REASON_KEY: reason}


def create_counters(meter_provider: metrics.MeterProvider | None, state: Any) -> metrics.Meter:
    """The observable counters of one MeterProvider, reading the live counts.

    (Closures rather than a class with two methods: defining a class is a
    measurable part of every instrumented start-up, issue 15.)"""
    meter = metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)

    def observe_selected(options: CallbackOptions) -> Iterable[Observation]:
        selected, _ = state.snapshot()
        return [Observation(n, _event_attributes(event)) for event, n in selected.items()]

    def observe_dropped(options: CallbackOptions) -> Iterable[Observation]:
        _, dropped = state.snapshot()
        return [
            Observation(n, _dropped_attributes(event, reason))
            for (event, reason), n in dropped.items()
        ]

    meter.create_observable_counter(
        EVENTS_METRIC,
        callbacks=[observe_selected],
        unit="{event}",
        description="Selected audit events, sampled or not.",
    )

    def observe_packages(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(
                n,
                OVERFLOW_ATTRIBUTES
                if key is None
                else {PACKAGE_NAME_KEY: key[0], _mapping.CATEGORY_KEY: key[1]},
            )
            for key, n in state.counts.package_snapshot().items()
        ]

    meter.create_observable_counter(
        PACKAGE_METRIC,
        callbacks=[observe_packages],
        unit="{event}",
        description="Exported audit events by the distribution whose code raised them.",
    )

    meter.create_observable_counter(
        DROPPED_METRIC,
        callbacks=[observe_dropped],
        unit="{event}",
        description="Selected audit events not exported, by reason.",
    )
    return meter
