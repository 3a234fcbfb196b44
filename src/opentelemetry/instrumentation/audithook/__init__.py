"""OpenTelemetry instrumentation for CPython's audit hooks (PEP 578).

See what a Python service really does at run time (the files it opens, the
hosts it connects to, the commands it spawns, the native libraries and the
dynamically compiled code it loads) as span events on the traces you already
have, and as metrics, with no change to the code.

Usage
-----

With auto-instrumentation nothing needs to change in the application: the
``audithook`` entry point is picked up by ``opentelemetry-instrument``::

    pip install opentelemetry-instrumentation-audithook opentelemetry-distro
    opentelemetry-instrument --traces_exporter console python app.py

In code::

    from opentelemetry.instrumentation.audithook import AuditHookInstrumentor

    AuditHookInstrumentor().instrument()                      # the @default selection
    AuditHookInstrumentor().instrument(events="@network,open")  # or choose

Every selected audit event raised while a span is recording becomes a span
event on that span, named after the audit event (``socket.connect``), with
attributes ``python.audit.event``, ``python.audit.arg.<name>`` for each argument
(names from CPython's audit events table; ``python.audit.arg.<position>`` for
events the table does not list) and semantic-convention attributes where they
apply (``file.path``, ``server.address``, ``server.port``,
``process.executable.path``, ``process.command_args``, ``url.full``,
``db.system.name``).  A value goes out once: an argument whose value a
semantic-convention attribute carries is exported under that name only
(``open``'s ``file`` as ``file.path``; README's "Telemetry" lists the pairs).
Two counters report every selected event:
``python.audit.events`` (attributes ``python.audit.event`` and
``python.audit.category``) and ``python.audit.events.dropped`` (attributes
``python.audit.event`` and ``python.audit.drop.reason``).

With ``OTEL_PYTHON_AUDITHOOK_EMIT=log`` every event is a log record instead
(``event_name`` = the audit event's name, the same attributes, the trace and
span ids of the current span), the shape OpenTelemetry's log-based events
take (OTEP 4430); it needs a LoggerProvider that exports.

Selection
---------

``OTEL_PYTHON_AUDITHOOK_EVENTS`` (or ``events=``) takes comma-separated
selectors applied left to right: an exact name (``open``), a glob
(``socket.*``), a category (``@file``, ``@network``, ``@process``, ``@code``,
``@native``, ``@os``, ``@sqlite``, ``@windows``, ``@runtime``; ``@other`` for
events not in the table), or a preset (``@default``, ``@all``, ``@none``).  A
leading ``-`` removes what the selector matches.  ``@default`` is every event
in the table except the hot or meaningless ones listed in
``_config.DEFAULT_EXCLUDED`` (``builtins.id``, ``sys._getframe``,
``object.__getattr__``, ``marshal.loads``, ...), and it records ``import`` only
for modules outside the standard library.

Volume
------

Metrics count every selected event.  Span events and log records are
sampled (``OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO``), exported once per window
for a behaviour that repeats (``OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW``, 60 s:
the same name with the same arguments; a new file, host or command goes out
at once), rate-limited per event name
(``OTEL_PYTHON_AUDITHOOK_RATE_LIMIT``, 5/s in bursts of up to 100; the whole
process ``OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL``, 100/s in bursts of up to
2,000) and budgeted per span
(``OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET``, 16 per name, never more than 3/4
of the span's event limit, so the SDK never evicts an event).  Events with no
recording span become log records (``OTEL_PYTHON_AUDITHOOK_NO_SPAN=log``, the
default) when a LoggerProvider is configured.  Whatever is not exported is
counted in ``python.audit.events.dropped`` with its reason: ``sampled_out``,
``repeated``, ``rate_limited``, ``rate_limited_total``, ``span_budget``, ``no_span``,
``no_logs`` (``emit="log"`` with no LoggerProvider that exports) or
``hook_error``.

Values
------

Argument values are converted without running any user code: strings are cut
to ``OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH`` characters (default 1024) and made
valid UTF-8; ``bytes`` become their length, except in path and command
arguments, where they are decoded with the filesystem encoding; builtin path
objects become their path; sockets ``AF_INET/SOCK_STREAM/fd=3``; code objects
their qualified name and location; functions their qualified name; lists and
tuples arrays (at most 64 items); ``None`` is left out; anything else becomes
its type's name.  Values are redacted by default, whatever they look like:
environment blocks, request bodies and headers, protocol payloads, typed
input and source code are hidden whole; URLs keep scheme, host, port and
path (credentials, query values and fragment hidden); command lines keep the
program, subcommands, flag names, paths and URLs (option values, assignments,
interpreter code and other words hidden);
``OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW`` opts back in per event.  Each span event
and log record carries ``code.file.path``, ``code.line.number`` and
``code.function.name`` of the application's line behind the event
(``OTEL_PYTHON_AUDITHOOK_CODE_LOCATION``).

Attribution
-----------
With code location's frame walk (on by default with the C hook), each
exported event also carries the installed distribution whose code raised it
(``python.audit.package.name``/``.version``; ``(application)`` for code
outside every distribution) and, while a module body is being imported,
``python.audit.import.module``.  The interpreter's own work (events with no
frame outside the standard library and this package) is counted but not
exported (``OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING=show`` exports it).  The
counter ``python.audit.package.events`` counts exported events by
distribution and category.  ``python -m opentelemetry.instrumentation.audithook
report -- python app.py`` prints what each distribution did, with no
collector; ``--json`` writes it, and ``--baseline`` (or, in a service,
``OTEL_PYTHON_AUDITHOOK_BASELINE``) flags what is new.

Speed
-----

The hook is written in C (``_speedups``) with a pure-Python twin
(``_purehook``) of identical behaviour; ``OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true``
forces the pure one.  An unselected event costs within a few percent of a C
hook that does nothing; events raised in subinterpreters are not recorded.

Checking a configuration
------------------------

``python -m opentelemetry.instrumentation.audithook config`` prints which hook
runs and what the current environment selects, samples, limits and redacts;
``python -m opentelemetry.instrumentation.audithook events --category network``
lists the catalog.

API
---

``AuditHookInstrumentor().instrument(**kwargs)`` takes, beside the usual
``meter_provider`` and ``logger_provider``, keywords that win over the
environment variables of the same meaning (see ``environment_variables``):

* ``events``: a selector string or a list of selectors.
* ``sample_ratio``: a number in [0, 1], or ``"selector=ratio,..."``.
* ``rate_limit``: a number >= 0 (0: no limit), per event name.
* ``rate_limit_total``: a number >= 0 (0: no limit), for the whole process.
* ``span_event_budget``: an int >= 0 (0: no per-name budget).
* ``emit``: ``"span_event"`` or ``"log"``.
* ``no_span``: ``"log"`` or ``"drop"``.
* ``capture_raw``: selectors of events exported without redaction.
* ``code_location``: a bool (not given: on with the C hook, off with the
  pure-Python one).
* ``max_value_length``: an int greater than 0.
* ``housekeeping``: ``"hide"`` or ``"show"``.
* ``baseline``: the path of a ``report --json`` file.

Bad keyword arguments raise ``ValueError``; bad environment values are logged
once and replaced by the default.  ``uninstrument()`` makes the hook inert
(CPython cannot remove an audit hook); ``instrument()`` again re-arms it with
the new configuration.  Span events go on whatever span is current, so
``tracer_provider`` is accepted and not needed.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from opentelemetry.instrumentation.audithook import _config, _emit, _hook
from opentelemetry.instrumentation.audithook._config import parse_config
from opentelemetry.instrumentation.audithook.version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["AuditHookInstrumentor", "__version__"]

# Keyword arguments every instrumentor may be given; ours uses meter_provider
# and logger_provider.
_PROVIDER_KWARGS = ("tracer_provider", "meter_provider", "logger_provider", "event_logger_provider")


class AuditHookInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Records selected audit events as span events and metrics."""

    _meters: dict[int, Meter] = {}
    # the providers that have python.audit.baseline.new
    _baseline_meters: set[int] = set()

    def instrumentation_dependencies(self) -> Collection[str]:
        # Imported here, not at the top: opentelemetry-instrument checks the
        # distribution's metadata instead of calling this, and a module less
        # to import is a measurable part of every instrumented start-up.
        from opentelemetry.instrumentation.audithook.package import _instruments

        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        providers = {key: kwargs.pop(key, None) for key in _PROVIDER_KWARGS}
        config = parse_config(os.environ, **kwargs)
        state = _hook.STATE
        meter_provider = providers["meter_provider"]
        # The SDK keeps the first callback of an instrument name: create the
        # counters once per provider; they read the live counts.
        key = id(meter_provider)
        try:
            if key not in self._meters:
                self._meters[key] = _emit.create_counters(meter_provider, state)
            if config.baseline is not None and key not in self._baseline_meters:
                self._baseline_meters.add(key)
                from opentelemetry.instrumentation.audithook import _report

                _report.create_baseline_counter(self._meters[key], state)
            state.install(config.pure_python, _emit.SEAM.context_args)
            if state.impl is not None:
                state.arm(
                    _emit.Emitter(config, state.counts, state.impl, providers["logger_provider"])
                )
        except Exception:  # never BaseException: Ctrl-C must reach the app
            # Only a bad explicit argument (ValueError above) stops instrument();
            # anything else the environment does to us is a warning.
            _config.warning("audit events will not be recorded: instrument() failed", exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        _hook.STATE.disarm()
