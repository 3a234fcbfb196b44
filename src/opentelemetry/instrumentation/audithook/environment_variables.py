"""Environment variables read by ``AuditHookInstrumentor.instrument()``.

They are read once, when ``instrument()`` runs; keyword arguments of
``instrument()`` win over them.  A malformed value never stops the
application: it is logged once, as a warning naming the variable, the value
and what is used instead.  A variable with the ``OTEL_PYTHON_AUDITHOOK_``
prefix that is none of these (a typo) is named in a warning and ignored.
"""

OTEL_PYTHON_AUDITHOOK_EVENTS = "OTEL_PYTHON_AUDITHOOK_EVENTS"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_EVENTS

Which audit events to record: comma-separated selectors applied left to right.
A selector is an exact event name (``open``), a glob (``socket.*``), a category
(``@file``, ``@network``, ``@process``, ``@code``, ``@native``, ``@os``,
``@sqlite``, ``@windows``, ``@runtime``, ``@other``) or a preset (``@default``,
``@all``, ``@none``); a leading ``-`` removes what the selector matches.

Default: ``@default``.
Example: ``@default,-@file,open,ctypes.*``
"""

OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO = "OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO

The share of selected events recorded as span events and log records: one
ratio in ``[0, 1]`` for all events, or comma-separated ``selector=ratio``
pairs where the first pair whose selector matches wins (events no pair
matches keep ratio 1).  Metrics count every selected event, sampled or not.

Default: ``1``.
Example: ``open=0.01,socket.*=1``
"""

OTEL_PYTHON_AUDITHOOK_RATE_LIMIT = "OTEL_PYTHON_AUDITHOOK_RATE_LIMIT"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_RATE_LIMIT

The most span events and log records per second for each event name, over
time: a token bucket that refills at this rate and holds twenty seconds of
it, so a burst (start-up, a cold cache) of up to twenty times the rate
passes whole while a steady load exports the rate.  ``0`` means no limit.  The
excess is counted in ``python.audit.events.dropped`` with reason
``rate_limited``; the counter ``python.audit.events`` still counts every
event.

Default: ``5`` (bursts of 100).
Example: ``1000``
"""

OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL = "OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL

The most span events and log records per second for the whole process, all
event names together (a token bucket like the per-name one: it holds twenty
seconds of the rate); ``0`` means no limit.  It bounds what the per-name
limit cannot: a program that raises many distinct event names.  Keep it
above the per-name rate times the number of names a busy process raises
all the time (the default allows 20 such names): when it binds, a rare
event competes with the frequent ones for its tokens.  With both
limits, what exporting costs a busy process is bounded by a rate, not a
share of its load.  The excess is counted in ``python.audit.events.dropped``
with reason ``rate_limited_total``.

Default: ``100`` (bursts of 2,000).
Example: ``5000``
"""

OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW = "OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW

Seconds for which an exported event makes its repeats drop: the same event
name with the same arguments (the values of strings, bytes, numbers, booleans
and ``None``, and of tuples and lists of them, strings and bytes longer
than 4,096 by their length and their first and last 2,048; the type of a
socket or connection, so a new socket connecting to the
same address is a repeat).  An argument whose value cannot be read without
running its code (an instance of an application's class, a code object:
``exec`` of dynamic code always goes out) makes the event never a repeat.  A service that opens
the same file and calls the same host at every request exports each of these
behaviours once per window, with the trace it happened in, and anything new
(another file, another host, another command) at once.  The metric
``python.audit.events`` still counts every selected event; the repeats are
counted in ``python.audit.events.dropped`` with reason ``repeated``.  ``0``
exports every repeat (within the rate limits).  From 0 to 86400.

Default: ``60``.
Example: ``0``
"""

OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH = "OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH

The longest string attribute value, in characters; longer strings are cut to
this length.  Sequences keep at most 64 items.

Default: ``1024``.
Example: ``256``
"""

OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET = "OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET

The most span events of one event name that one span receives; ``0`` means no
per-name budget.  Whatever the budget, the audit events on a span never take
more than three quarters of the span's event limit (``OTEL_SPAN_EVENT_COUNT_LIMIT``,
128 by default), so a burst of ``open`` cannot evict the one
``subprocess.Popen`` that mattered, nor the application's own events.  The
excess is counted with reason ``span_budget`` and summed on the span as the
attribute ``python.audit.span_budget.dropped``; the span's summary per event
name is the aligned arrays ``python.audit.span_budget.events`` (names) and
``python.audit.span_budget.counts`` (events left out).

Default: ``16``.
Example: ``4``
"""

OTEL_PYTHON_AUDITHOOK_NO_SPAN = "OTEL_PYTHON_AUDITHOOK_NO_SPAN"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_NO_SPAN

What to do with a selected event raised when no span is recording (start-up,
background threads): ``log`` emits it as a log record through the Logs API
(``event_name`` = the audit event's name, the same attributes, the trace
context of the current span if there is one); ``drop`` counts it with reason
``no_span``.  With no LoggerProvider that exports, ``log`` costs nothing and
drops with reason ``no_span``.  Only with ``OTEL_PYTHON_AUDITHOOK_EMIT=span_event``:
with ``log``, every event is a log record already.

Default: ``log``.
Example: ``drop``
"""

OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW = "OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW

Events whose arguments are exported without redaction, in the selector
grammar of ``OTEL_PYTHON_AUDITHOOK_EVENTS``.  Use with care: environment
blocks, request bodies, typed input and source code leave the process as is.

Default: empty (everything redacted).
Example: ``subprocess.Popen,compile``
"""

OTEL_PYTHON_AUDITHOOK_CODE_LOCATION = "OTEL_PYTHON_AUDITHOOK_CODE_LOCATION"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_CODE_LOCATION

``true`` adds ``code.file.path``, ``code.line.number`` and
``code.function.name`` of the first frame outside the standard library and
this package, the application's line that caused the event; ``false`` leaves
them out; ``auto`` turns it on with the C hook and off with the pure-Python
one, which can only walk frames through ``sys._getframe`` and
``frame.f_code``: those raise audit events that other audit hooks see.

Default: ``auto``.
Example: ``false``
"""

OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING = "OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING

What to do with the interpreter's own work: events raised with no frame
outside the standard library and this package on the stack (the ``exec`` of
each standard-library module imported, the ``open`` of the script that
``python app.py`` runs, a temporary directory's clean-up at exit).  ``hide``
drops them from span events and log records, counted in
``python.audit.events.dropped`` with reason ``housekeeping`` (metrics still
count them in ``python.audit.events``); ``show`` exports them, with
``python.audit.package.name`` set to ``(interpreter)``.  It needs the frame
walk of code location (``OTEL_PYTHON_AUDITHOOK_CODE_LOCATION``, on by
default with the C hook): where that is off, nothing is hidden.  A program
made only of the standard library (``python -m http.server``) has no frame
of its own: use ``show`` for it.

Default: ``hide``.
Example: ``show``
"""

OTEL_PYTHON_AUDITHOOK_BASELINE = "OTEL_PYTHON_AUDITHOOK_BASELINE"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_BASELINE

The path of a JSON report written by ``python -m
opentelemetry.instrumentation.audithook report --json PATH -- ...``: the
behaviour this service is known to have (per distribution: the directories of
the files it touches, the hosts and ports it connects to, the commands it
runs, the native libraries and dynamic code it loads, what it does at
import).  An exported event outside it is new behaviour: it also becomes a
WARN log record with ``event_name`` ``python.audit.baseline.new`` (once per
new behaviour) and is counted in the counter ``python.audit.baseline.new``
(attributes ``python.audit.package.name``, ``python.audit.category`` and
``python.audit.baseline.kind``).  Nothing is blocked.  A file that cannot be
read or parsed is reported in a warning, and no alert is raised.  It needs the
attribution that the frame walk gives (on by default with the C hook).

Default: none.
Example: ``/etc/myservice/audit-baseline.json``
"""

OTEL_PYTHON_AUDITHOOK_PURE_PYTHON = "OTEL_PYTHON_AUDITHOOK_PURE_PYTHON"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_PURE_PYTHON

``true`` uses the pure-Python hook even where the C accelerator was built
(both behave the same; the C one is faster).  The C hook also falls back to
the pure one, with a warning, when an existing audit hook vetoes it.  Read
once, by the first ``instrument()`` of the process (the hook is installed
then, for good); ``python -m opentelemetry.instrumentation.audithook config``
says which hook will run.

Default: ``false``.
Example: ``true``
"""

OTEL_PYTHON_AUDITHOOK_EMIT = "OTEL_PYTHON_AUDITHOOK_EMIT"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_EMIT

How a selected event leaves the process: ``span_event`` adds it to the span
that is recording (and, outside spans, follows
``OTEL_PYTHON_AUDITHOOK_NO_SPAN``); ``log`` makes every event a log record
through the Logs API, with ``event_name`` = the audit event's name, the same
attributes, and the trace and span ids of the current span, if any.
OpenTelemetry is moving from span events to log-based events (OTEP 4430);
``log`` is that shape, for pipelines that already collect logs.  It needs a
LoggerProvider that exports (``opentelemetry-instrument --logs_exporter
otlp``); without one, events are counted as dropped with reason ``no_logs``.
Sampling and the rate limits apply the same way; the per-span budget does
not (log records take nothing from a span's event limit).

Default: ``span_event``.
Example: ``log``
"""
