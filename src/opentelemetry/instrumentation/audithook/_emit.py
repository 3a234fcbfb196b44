"""From a selected audit event to telemetry: counters, span events, drops.

Counting is aggregated here, in plain integers under a lock, and reported by
observable counters: the SDK's ``Counter.add`` costs microseconds per call,
far more than the event it would count.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry import context, metrics, trace
from opentelemetry.instrumentation import utils as _instrumentation_utils
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.semconv.schemas import Schemas

from opentelemetry.instrumentation.audithook import _mapping, _selection
from opentelemetry.instrumentation.audithook._config import Config
from opentelemetry.instrumentation.audithook.version import __version__

_logger = logging.getLogger("opentelemetry.instrumentation.audithook")

SCOPE = "opentelemetry.instrumentation.audithook"
SCHEMA_URL = Schemas.V1_44_0.value
EVENTS_METRIC = "python.audit.events"
DROPPED_METRIC = "python.audit.events.dropped"
DROP_REASON_KEY = "python.audit.drop.reason"

NO_SPAN = "no_span"
HOOK_ERROR = "hook_error"

_STDLIB = sys.stdlib_module_names

# The keys is_instrumentation_enabled() reads; read here from one context
# fetch instead of two (each fetch costs a few hundred ns on the hot path).
_SUPPRESS_KEY = context._SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESS_KEY_PLAIN = getattr(
    _instrumentation_utils, "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN", "suppress_instrumentation"
)


class Plan:
    """What the hook does with one selected event name; built once per name."""

    __slots__ = ("name", "category", "mode", "keys")

    def __init__(self, name: str, mode: int) -> None:
        self.name = name
        self.category = _selection.category_of(name)
        self.mode = mode
        self.keys = _mapping.argument_keys(name)


class Counts:
    """Cumulative per-process counts, read by the observable counters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.selected: dict[str, int] = {}
        self.dropped: dict[tuple[str, str], int] = {}

    def add_dropped(self, event: str, reason: str) -> None:
        with self.lock:
            key = (event, reason)
            self.dropped[key] = self.dropped.get(key, 0) + 1

    def snapshot(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        with self.lock:
            return dict(self.selected), dict(self.dropped)


def _is_stdlib_import(args: tuple[Any, ...]) -> bool:
    module = args[0] if args else None
    if type(module) is not str:
        return False
    return module.partition(".")[0] in _STDLIB


class Emitter:
    """Turns selected events into telemetry for one instrument() configuration."""

    def __init__(self, config: Config, counts: Counts) -> None:
        self.config = config
        self.counts = counts
        self._reported_errors: set[str] = set()

    def handle(self, plan: Plan, args: tuple[Any, ...]) -> None:
        if plan.mode == _selection.SELECTED_NON_STDLIB and _is_stdlib_import(args):
            return
        ctx = context.get_current()
        # The SDK sets this around every export: the telemetry pipeline's own
        # sockets and files are not the application's behaviour.
        if ctx.get(_SUPPRESS_KEY) or ctx.get(_SUPPRESS_KEY_PLAIN):
            return
        name = plan.name
        counts = self.counts
        with counts.lock:
            counts.selected[name] = counts.selected.get(name, 0) + 1
        span = trace.get_current_span(ctx)
        if not span.is_recording():
            self.counts.add_dropped(name, NO_SPAN)
            return
        attrs = _mapping.map_arguments(name, plan.keys, args, self.config.max_value_length)
        span.add_event(name, attrs)

    def report_error(self, event: str, exc: Exception) -> None:
        self.counts.add_dropped(event, HOOK_ERROR)
        if event not in self._reported_errors:
            self._reported_errors.add(event)
            _logger.warning(
                "audit hook failed on event %r; the event was dropped (reported once per event)",
                event,
                exc_info=exc,
            )


def _event_attributes(event: str) -> dict[str, str]:
    return {
        _mapping.EVENT_KEY: event,
        _mapping.CATEGORY_KEY: _selection.category_of(event),
    }


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
        selected, _ = self._state.counts.snapshot()
        return [Observation(n, _event_attributes(event)) for event, n in selected.items()]

    def _observe_dropped(self, options: CallbackOptions) -> Iterable[Observation]:
        _, dropped = self._state.counts.snapshot()
        return [
            Observation(n, {_mapping.EVENT_KEY: event, DROP_REASON_KEY: reason})
            for (event, reason), n in dropped.items()
        ]
