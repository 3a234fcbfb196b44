"""The plan for one event name: everything decided once per name.

The hook implementation asks ``Planner.resolve(event)`` the first time it
sees a name and caches the answer: its *flags* (selected, standard-library
imports left out, dropped without a span, counted in the overflow series)
and its sample ratio, with which the hook drops what it can by itself.  The
events it hands on run the name's ``Plan``: the configuration's ``Rules``
for the name (``Config.rules_for``) plus the series it is counted under.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from opentelemetry.instrumentation.audithook import _catalog, _selection, _treatments
from opentelemetry.instrumentation.audithook._config import Config, Rules

if TYPE_CHECKING:
    from opentelemetry.instrumentation.audithook._impl import Backend

# Plans held at once; past that the table starts over (a name whose plan was
# forgotten gets a new one on its next event).
_PLAN_LIMIT = 4096

# Distinct event names counted under their own name; the rest share one
# overflow series (attribute otel.metric.overflow=true), as the SDK's
# cardinality limit does: 1999 names and the overflow fit its default limit
# of 2000 series, so the SDK never folds names of its own accord.  The C
# hook's table holds a few more than this.
MAX_SERIES = 1999

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

    __slots__ = ("rules", "key", "_arguments")

    def __init__(self, rules: Rules, key: str | None) -> None:
        self.rules = rules
        # the name it is counted under; None: the overflow series
        self.key = key
        self._arguments: _treatments.ArgumentKeys | None = None

    @property
    def arguments(self) -> _treatments.ArgumentKeys:
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
    entry = _catalog.CATALOG.get(event)
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
        if plan.rules.selected == _selection.SELECTED_NON_STDLIB:
            flags |= self._non_stdlib
        if _first_is_handle(event):
            flags |= self._handle_first
        return flags, plan.rules.sample_ratio

    def restart(self, counts: Counts) -> None:
        """After a fork: the child's counts."""
        self.counts = counts
        self._plans.clear()
