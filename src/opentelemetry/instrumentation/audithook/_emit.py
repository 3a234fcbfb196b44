"""From a selected audit event to telemetry: counters, span events, log records, drops.

Counting is aggregated here, in plain integers under a lock, and reported by
observable counters: the SDK's ``Counter.add`` costs microseconds per call,
far more than the event it would count.

The module starts with code location: the application's line behind an event.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, context, metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.semconv.attributes import code_attributes

from opentelemetry.instrumentation.audithook import _config, _hook, _mapping, _sdk
from opentelemetry.instrumentation.audithook.version import __version__

if TYPE_CHECKING:
    from opentelemetry.instrumentation.audithook._backend import Backend

    Walk = Callable[[dict[str, bool], Callable[[str], bool]], tuple[str, int, str] | None]

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


def caller_location(walk: Walk) -> tuple[str, int, str] | None:
    """(file, line, qualified function name) of the application's frame, if any."""
    if len(_skip) >= _CACHE_LIMIT:
        # Generated code can mint file names without end; stay bounded.
        _skip.clear()
    return walk(_skip, _should_skip)


SCOPE = "opentelemetry.instrumentation.audithook"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
EVENTS_METRIC = "python.audit.events"
DROPPED_METRIC = "python.audit.events.dropped"
DROP_REASON_KEY = "python.audit.drop.reason"

# The drops decided here; the hook counts its own (its COUNTS names them).
NO_SPAN = "no_span"
HOOK_ERROR = "hook_error"
SPAN_BUDGET = "span_budget"
NO_LOGS = "no_logs"
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


class _SpanBudget:
    __slots__ = ("cap", "total", "dropped", "by_name", "dropped_by_name")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self.dropped = 0
        self.by_name: dict[str, int] = {}
        self.dropped_by_name: dict[str, int] = {}


class Emitter:
    """Turns selected events into telemetry for one instrument() configuration."""

    def __init__(
        self,
        config: _config.Config,
        counts: _hook.Counts,
        backend: Backend,
        logger_provider: Any = None,
        seam: _sdk.Seam | None = None,
    ) -> None:
        self.config = config
        self.counts = counts
        self.seam = seam if seam is not None else _sdk.SEAM
        # Code location: asked for, or by default where the walk raises no
        # audit event (the C hook's).
        wanted = config.code_location
        if wanted is None:
            wanted = backend.WALK_IS_SILENT
        self.walk = backend.caller_location if wanted else None
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
        self._budgets: dict[int, _SpanBudget] = {}

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
        if recording and not self._within_budget(span, event):
            self.drop(key, SPAN_BUDGET)
            return
        config = self.config
        attrs = _mapping.map_arguments(event, plan.arguments, args, config.max_value_length)
        if self.walk is not None:
            self._add_location(self.walk, event, attrs)
        if recording:
            self.seam.add_span_event(span, event, attrs)
        else:
            self.logger.emit(
                _logs.LogRecord(
                    timestamp=time.time_ns(),
                    context=ctx,
                    severity_number=_logs.SeverityNumber.INFO,
                    severity_text="INFO",
                    body=event,
                    attributes=attrs,
                    event_name=event,
                )
            )

    def _add_location(self, walk: Walk, event: str, attrs: dict[str, Any]) -> None:
        try:
            location = caller_location(walk)
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
            return
        if location is not None:
            attrs[FILE_KEY] = _mapping.clean_text(location[0], self.config.max_value_length)
            attrs[LINE_KEY] = location[1]
            attrs[FUNCTION_KEY] = location[2]

    def _within_budget(self, span: Any, name: str) -> bool:
        """Whether the span may take one more event of this name; keeps the count."""
        key = span.get_span_context().span_id
        with self._budget_lock:
            budgets = self._budgets
            spent = budgets.get(key)
            if spent is None:
                if len(budgets) >= _TRACKED_SPANS:
                    budgets.clear()
                spent = budgets[key] = _SpanBudget(self.seam.max_span_events(span) * 3 // 4)
            per_name = spent.by_name.get(name, 0)
            budget = self.config.span_event_budget
            if spent.total >= spent.cap or (budget > 0 and per_name >= budget):
                spent.dropped += 1
                dropped = spent.dropped
                by_name = spent.dropped_by_name
                if name in by_name or len(by_name) < _SUMMARY_NAMES:
                    by_name[name] = by_name.get(name, 0) + 1
                names = tuple(by_name)
                counts = tuple(by_name.values())
            else:
                spent.by_name[name] = per_name + 1
                spent.total += 1
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


class Instruments:
    """The observable counters of one MeterProvider, reading the live counts."""

    def __init__(self, meter_provider: metrics.MeterProvider | None, state: Any) -> None:
        self._state = state
        meter = metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
        meter.create_observable_counter(
            EVENTS_METRIC,
            callbacks=[self._observe_selected],
            unit="{event}",
            description="Selected audit events, sampled or not.",
        )
        meter.create_observable_counter(
            DROPPED_METRIC,
            callbacks=[self._observe_dropped],
            unit="{event}",
            description="Selected audit events not exported, by reason.",
        )

    def _observe_selected(self, options: CallbackOptions) -> Iterable[Observation]:
        selected, _ = self._state.snapshot()
        return [Observation(n, _event_attributes(event)) for event, n in selected.items()]

    def _observe_dropped(self, options: CallbackOptions) -> Iterable[Observation]:
        _, dropped = self._state.snapshot()
        return [
            Observation(n, _dropped_attributes(event, reason))
            for (event, reason), n in dropped.items()
        ]
