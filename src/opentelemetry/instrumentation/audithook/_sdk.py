"""Every private name of the OpenTelemetry API and SDK that we use, in one place.

Each one saves time on the hot path or answers a question the public API
cannot, and each has a public fallback, used when a release renames or drops
the private name (``build`` takes the lookup, so tests build the fallbacks):

* ``context._SUPPRESS_INSTRUMENTATION_KEY`` and
  ``utils._SUPPRESS_INSTRUMENTATION_KEY_PLAIN``: else
  ``utils.is_instrumentation_enabled()``;
* ``trace.propagation._SPAN_KEY``: else ``trace.get_current_span(ctx)``;
* ``context._RUNTIME_CONTEXT._current_context``: else the hook asks Python
  where each selected event happens (``_backend.Backend.set_context``);
* ``sdk.trace.Span._add_event`` and ``Span._limits``: else ``span.add_event``
  and ``SpanLimits().max_events``;
* ``_logs._internal.ProxyLoggerProvider`` and
  ``LoggerProvider._multi_log_record_processor``: else a provider that is not
  the API's no-op one is taken to export.

The hook reads the same three context names (``context_args``) and repeats
the first two checks itself, in C where it is the C hook, so that it can drop
an event before any Python runs; when any of them is missing, it asks.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

if TYPE_CHECKING:
    Lookup = Callable[[str, str], Any]

_DEFAULT_MAX_EVENTS = 128


def _import_lookup(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _find(lookup: Lookup, module: str, name: str) -> Any:
    try:
        return lookup(module, name)
    except (ImportError, AttributeError):
        return None


class Seam:
    """What we reach through private names, or through the public fallbacks."""

    # a plain class: a NamedTuple costs as much to define as a module to import
    __slots__ = (
        "suppressed",
        "current_span",
        "add_span_event",
        "max_span_events",
        "logs_exported",
        "context_args",
        "private",
    )

    def __init__(
        self,
        suppressed: Callable[[Any], bool],
        current_span: Callable[[Any], Any],
        add_span_event: Callable[[Any, str, dict[str, Any]], None],
        max_span_events: Callable[[Any], int],
        logs_exported: Callable[[Any], bool],
        context_args: tuple[Any, tuple[Any, ...], Any, type | None],
        private: frozenset[str],
    ) -> None:
        # whether instrumentation is suppressed in the context (the SDK's exporters)
        self.suppressed = suppressed
        # the span in the context, INVALID_SPAN if none
        self.current_span = current_span
        self.add_span_event = add_span_event
        # the span's event limit
        self.max_span_events = max_span_events
        # whether log records given to the provider go anywhere
        self.logs_exported = logs_exported
        # (context variable, suppress keys, span key, the API's NonRecordingSpan)
        # for the hook; None first when it must ask Python instead
        self.context_args = context_args
        # the private names found (for tests and the ``config`` command)
        self.private = private


def build(lookup: Lookup = _import_lookup) -> Seam:
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

    return Seam(
        suppressed=suppressed,
        current_span=current_span,
        add_span_event=add_span_event,
        max_span_events=max_span_events,
        logs_exported=logs_exported,
        context_args=fast,
        private=frozenset(found),
    )


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


SEAM = build()
