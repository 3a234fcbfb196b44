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
``db.system.name``).  Two counters report every selected event:
``python.audit.events`` (attributes ``python.audit.event`` and
``python.audit.category``) and ``python.audit.events.dropped`` (attributes
``python.audit.event`` and ``python.audit.drop.reason``).

Selection
---------

``OTEL_PYTHON_AUDITHOOK_EVENTS`` (or ``events=``) takes comma-separated
selectors applied left to right: an exact name (``open``), a glob
(``socket.*``), a category (``@file``, ``@network``, ``@process``, ``@code``,
``@native``, ``@os``, ``@sqlite``, ``@windows``, ``@runtime``; ``@other`` for
events not in the table), or a preset (``@default``, ``@all``, ``@none``).  A
leading ``-`` removes what the selector matches.  ``@default`` is every event
in the table except the hot or meaningless ones listed in
``_selection.DEFAULT_EXCLUDED`` (``builtins.id``, ``sys._getframe``,
``object.__getattr__``, ``marshal.loads``, ...), and it records ``import`` only
for modules outside the standard library.

Values
------

Argument values are converted without running any user code: strings are cut
to ``OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH`` characters (default 1024) and made
valid UTF-8; ``bytes`` become their length, except in path and command
arguments, where they are decoded with the filesystem encoding; builtin path
objects become their path; sockets ``AF_INET/SOCK_STREAM/fd=3``; code objects
their qualified name and location; functions their qualified name; lists and
tuples arrays (at most 64 items); ``None`` is left out; anything else becomes
its type's name.

API
---

``AuditHookInstrumentor().instrument(**kwargs)`` takes, beside the usual
``meter_provider``:

* ``events``: a selector string or a list of selectors.
* ``max_value_length``: an int greater than 0.

Bad keyword arguments raise ``ValueError``; bad environment values are logged
once and replaced by the default.  ``uninstrument()`` makes the hook inert
(CPython cannot remove an audit hook); ``instrument()`` again re-arms it with
the new configuration.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from opentelemetry.instrumentation.audithook import _emit, _hook
from opentelemetry.instrumentation.audithook._config import parse_config
from opentelemetry.instrumentation.audithook.package import _instruments
from opentelemetry.instrumentation.audithook.version import __version__

__all__ = ["AuditHookInstrumentor", "__version__"]

# Keyword arguments every instrumentor may be given; ours uses meter_provider.
_PROVIDER_KWARGS = ("tracer_provider", "meter_provider", "logger_provider", "event_logger_provider")


class AuditHookInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Records selected audit events as span events and metrics."""

    _meters: dict[int, _emit.Instruments] = {}

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        providers = {key: kwargs.pop(key, None) for key in _PROVIDER_KWARGS}
        config = parse_config(os.environ, **kwargs)
        state = _hook.STATE
        meter_provider = providers["meter_provider"]
        # The SDK keeps the first callback of an instrument name: create the
        # counters once per provider; they read the live counts.
        key = id(meter_provider)
        if key not in self._meters:
            self._meters[key] = _emit.Instruments(meter_provider, state)
        state.arm(_emit.Emitter(config, state.counts, providers["logger_provider"]))
        _hook.install(state)

    def _uninstrument(self, **kwargs: Any) -> None:
        _hook.STATE.disarm()
