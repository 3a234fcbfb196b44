"""From a selected audit event to telemetry: counters, span events, drops.

Counting is aggregated here, in plain integers under a lock, and reported by
observable counters: the SDK's ``Counter.add`` costs microseconds per call,
far more than the event it would count.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
import types
from collections.abc import Iterable
from typing import Any

from opentelemetry import _logs, context, metrics, trace
from opentelemetry.instrumentation import utils as _instrumentation_utils
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import propagation as _trace_propagation

from opentelemetry.instrumentation.audithook import _location, _mapping, _selection, _signals
from opentelemetry.instrumentation.audithook._config import Config
from opentelemetry.instrumentation.audithook.version import __version__

_logger = logging.getLogger("opentelemetry.instrumentation.audithook")

SCOPE = "opentelemetry.instrumentation.audithook"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
EVENTS_METRIC = "python.audit.events"
DROPPED_METRIC = "python.audit.events.dropped"
DROP_REASON_KEY = "python.audit.drop.reason"

NO_SPAN = "no_span"
HOOK_ERROR = "hook_error"
SAMPLED_OUT = "sampled_out"
RATE_LIMITED = "rate_limited"
RATE_LIMITED_TOTAL = "rate_limited_total"
OTHER_INTERPRETER = "other_interpreter"
SPAN_BUDGET = "span_budget"
SPAN_BUDGET_ATTRIBUTE = "python.audit.span_budget.dropped"

# Distinct event names counted under their own name; the rest share one
# overflow series (attribute otel.metric.overflow=true), as the SDK's
# cardinality limit does: 1999 names and the overflow fit its default limit
# of 2000 series, so the SDK never folds names of its own accord.  The C
# hook's table holds a few more than this.
MAX_SERIES = 1999
OVERFLOW_ATTRIBUTES = {"otel.metric.overflow": True}

# Spans whose budgets are tracked at once; past that the table starts over,
# and a span that receives events again simply starts a fresh budget.
_TRACKED_SPANS = 1024
_DEFAULT_MAX_EVENTS = 128

try:  # the SDK is not a dependency: only used when it is the one recording
    from opentelemetry.sdk import trace as _sdk_trace

    _SdkEvent: Any = _sdk_trace.Event
    # The SDK's tracer makes _Span, its own subclass of Span.
    _SDK_SPAN_TYPES: tuple[type, ...] = tuple(
        t for t in (_sdk_trace.Span, getattr(_sdk_trace, "_Span", None)) if t is not None
    )
except ImportError:  # pragma: no cover - an API-only install
    _SdkEvent = None
    _SDK_SPAN_TYPES = ()

# The key under which the API keeps the current span in a Context: one dict
# lookup, where trace.get_current_span() costs several calls.
_SPAN_KEY = _trace_propagation._SPAN_KEY
_INVALID_SPAN = trace.INVALID_SPAN


def _add_span_event(span: Any, name: str, attrs: dict[str, Any]) -> None:
    """span.add_event, without re-validating what the mapping made valid.

    The SDK's add_event copies and checks every attribute again (about two
    thirds of the cost of a span event here); our attributes are already valid
    OpenTelemetry values, cut to our own length limit.  When the span is the
    SDK's own class, and its limits would not cut anything further, the event
    goes straight to the span's bounded event list through the same
    ``_add_event`` that add_event ends in (which also refuses ended spans).
    Otherwise, the public add_event."""
    if type(span) in _SDK_SPAN_TYPES:
        limits = span._limits
        max_attrs = limits.max_event_attributes
        max_len = limits.max_attribute_length
        if (max_attrs is None or len(attrs) <= max_attrs) and max_len is None:
            span._add_event(_SdkEvent(name, types.MappingProxyType(attrs)))
            return
    span.add_event(name, attrs)


_STDLIB = sys.stdlib_module_names

# The keys is_instrumentation_enabled() reads; read here from one context
# fetch instead of two (each fetch costs a few hundred ns on the hot path).
_SUPPRESS_KEY = context._SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESS_KEY_PLAIN = getattr(
    _instrumentation_utils, "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN", "suppress_instrumentation"
)
SUPPRESS_KEYS = (_SUPPRESS_KEY, _SUPPRESS_KEY_PLAIN)


class TokenBucket:
    """A rate limit whose burst equals its rate.

    Unlocked: threads racing here may let a token or two too many through;
    every event is still either exported or counted as dropped."""

    __slots__ = ("rate", "tokens", "last")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class Plan:
    """What the hook does with one selected event name; built once per name."""

    __slots__ = ("name", "key", "mode", "keys", "ratio", "bucket")

    def __init__(self, name: str, mode: int, config: Config, key: str | None) -> None:
        self.name = name
        # the name it is counted under; None: the overflow series
        self.key = key
        self.mode = mode
        self.keys = _mapping.argument_keys(name, raw=config.raw(name))
        self.ratio = config.sample_ratio(name)
        self.bucket = TokenBucket(config.rate_limit) if config.rate_limit else None


class Counts:
    """Cumulative per-process counts, read by the observable counters.

    Keyed by event name for the first ``limit`` names, by None (the overflow
    series) for the rest: the tables and the metric stay bounded."""

    def __init__(self, limit: int = MAX_SERIES) -> None:
        self.lock = threading.Lock()
        self.selected: dict[str | None, int] = {}
        self.dropped: dict[tuple[str | None, str], int] = {}
        self._admitted: set[str] = set()
        self._limit = limit

    def key(self, name: str) -> str | None:
        """The name to count an event under: itself, or None past the limit."""
        with self.lock:
            if name in self._admitted:
                return name
            if len(self._admitted) < self._limit:
                self._admitted.add(name)
                return name
            return None

    def snapshot(self) -> tuple[dict[str | None, int], dict[tuple[str | None, str], int]]:
        with self.lock:
            return dict(self.selected), dict(self.dropped)


def _is_stdlib_import(args: tuple[Any, ...]) -> bool:
    module = args[0] if args else None
    if type(module) is not str:
        return False
    return module.partition(".")[0] in _STDLIB


class _SpanBudget:
    __slots__ = ("cap", "total", "dropped", "by_name")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self.dropped = 0
        self.by_name: dict[str, int] = {}


def _logs_configured(provider: Any) -> bool:
    """Whether log records would go anywhere: an SDK (or other real) provider is set."""
    return not isinstance(provider, (_logs.NoOpLoggerProvider, _logs._internal.ProxyLoggerProvider))


class Emitter:
    """Turns selected events into telemetry for one instrument() configuration."""

    def __init__(
        self,
        config: Config,
        counts: Counts,
        logger_provider: Any = None,
        walk: _location.Walk | None = None,
        walk_is_silent: bool = True,
        raised_by: _signals.RaisedBy | None = None,
    ) -> None:
        self.config = config
        self.counts = counts
        # Code location: asked for, or by default where the walk raises no
        # audit event (the C hook's).
        wanted = config.code_location if config.code_location is not None else walk_is_silent
        self.walk = walk if wanted else None
        self.raised_by = raised_by
        self.total = TokenBucket(config.rate_limit_total) if config.rate_limit_total else None
        self._reported_errors: set[str] = set()
        provider = logger_provider if logger_provider is not None else _logs.get_logger_provider()
        self.logger = _logs.get_logger(SCOPE, __version__, provider, schema_url=SCHEMA_URL)
        self.log_no_span = config.no_span == "log" and _logs_configured(provider)
        self._budget_lock = threading.Lock()
        self._budgets: dict[int, _SpanBudget] = {}

    def plan(self, name: str, mode: int) -> Plan:
        return Plan(name, mode, self.config, self.counts.key(name))

    def drop(self, event: str | None, reason: str) -> None:
        counts = self.counts
        with counts.lock:
            key = (event, reason)
            counts.dropped[key] = counts.dropped.get(key, 0) + 1

    def handle(self, plan: Plan, args: tuple[Any, ...]) -> None:
        if plan.mode == _selection.SELECTED_NON_STDLIB and _is_stdlib_import(args):
            return
        ctx = context.get_current()
        # The SDK sets this around every export: the telemetry pipeline's own
        # sockets and files are not the application's behaviour.
        if ctx.get(_SUPPRESS_KEY) or ctx.get(_SUPPRESS_KEY_PLAIN):
            return
        name = plan.name
        key = plan.key
        counts = self.counts
        with counts.lock:
            counts.selected[key] = counts.selected.get(key, 0) + 1
        if plan.ratio < 1.0 and random.random() >= plan.ratio:
            self.drop(key, SAMPLED_OUT)
            return
        span: Any = ctx.get(_SPAN_KEY, _INVALID_SPAN)
        recording = span.is_recording()
        if not recording and not self.log_no_span:
            self.drop(key, NO_SPAN)
            return
        if plan.bucket is not None and not plan.bucket.take():
            self.drop(key, RATE_LIMITED)
            return
        if self.total is not None and not self.total.take():
            self.drop(key, RATE_LIMITED_TOTAL)
            return
        if recording and not self._within_budget(span, name):
            self.drop(key, SPAN_BUDGET)
            return
        config = self.config
        attrs = _mapping.map_arguments(name, plan.keys, args, config.max_value_length)
        if self.walk is not None:
            try:
                location = _location.caller_location(self.walk)
            except Exception as exc:
                # A sandboxing hook may forbid sys._getframe (pure Python):
                # the event still goes out, without its location.
                if self.raised_by is not None and not _signals.is_ours(exc, self.raised_by):
                    raise
                self._report_once(
                    name,
                    exc,
                    "could not find the code location of",
                    "the event was exported without it",
                )
                location = None
            if location is not None:
                attrs[_location.FILE_KEY] = _mapping.clean_text(
                    location[0], config.max_value_length
                )
                attrs[_location.LINE_KEY] = location[1]
                attrs[_location.FUNCTION_KEY] = location[2]
        if recording:
            _add_span_event(span, name, attrs)
        else:
            self.logger.emit(
                _logs.LogRecord(
                    timestamp=time.time_ns(),
                    context=ctx,
                    severity_number=_logs.SeverityNumber.INFO,
                    severity_text="INFO",
                    body=name,
                    attributes=attrs,
                    event_name=name,
                )
            )

    def _within_budget(self, span: Any, name: str) -> bool:
        """Whether the span may take one more event of this name; keeps the count."""
        key = span.get_span_context().span_id
        with self._budget_lock:
            budgets = self._budgets
            spent = budgets.get(key)
            if spent is None:
                if len(budgets) >= _TRACKED_SPANS:
                    budgets.clear()
                limits = getattr(span, "_limits", None)
                max_events = getattr(limits, "max_events", None) or _DEFAULT_MAX_EVENTS
                spent = budgets[key] = _SpanBudget(max_events * 3 // 4)
            per_name = spent.by_name.get(name, 0)
            budget = self.config.span_event_budget
            if spent.total >= spent.cap or (budget > 0 and per_name >= budget):
                spent.dropped += 1
                dropped = spent.dropped
            else:
                spent.by_name[name] = per_name + 1
                spent.total += 1
                return True
        span.set_attribute(SPAN_BUDGET_ATTRIBUTE, dropped)
        return False

    def after_fork_in_child(self, counts: Counts) -> None:
        self.counts = counts
        self._budget_lock = threading.Lock()
        self._budgets.clear()

    def report_error(self, event: str, exc: Exception) -> None:
        self.drop(self.counts.key(event), HOOK_ERROR)
        self._report_once(event, exc, "audit hook failed on event", "the event was dropped")

    def _report_once(self, event: str, exc: Exception, what: str, outcome: str) -> None:
        key = f"{what} {event!r}"
        if key not in self._reported_errors and len(self._reported_errors) < MAX_SERIES:
            self._reported_errors.add(key)
            try:
                _logger.warning("%s; %s (reported once per event)", key, outcome, exc_info=exc)
            except Exception:  # noqa: S110 - logging itself may be refused (a sandbox
                # forbidding sys._getframe): the count above still tells
                pass


def _event_attributes(event: str | None) -> dict[str, Any]:
    if event is None:
        return OVERFLOW_ATTRIBUTES
    return {
        _mapping.EVENT_KEY: event,
        _mapping.CATEGORY_KEY: _selection.category_of(event),
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
