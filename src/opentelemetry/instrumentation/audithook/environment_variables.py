"""Environment variables read by ``AuditHookInstrumentor.instrument()``.

They are read once, when ``instrument()`` runs; keyword arguments of
``instrument()`` win over them.  A malformed value never stops the
application: it is logged once, as a warning naming the variable, the value
and what is used instead.
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

The most span events and log records per second for each event name (a
token bucket whose burst equals the rate); ``0`` means no limit.  The excess is
counted in ``python.audit.events.dropped`` with reason ``rate_limited``.

Default: ``100``.
Example: ``1000``
"""

OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH = "OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH"
"""
.. envvar:: OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH

The longest string attribute value, in characters; longer strings are cut to
this length.  Sequences keep at most 64 items.

Default: ``1024``.
Example: ``256``
"""
