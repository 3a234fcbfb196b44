"""The plan for one event name: everything the hook decides once per name.

The hook implementation asks ``Planner.flags(event)`` the first time it sees
a name and caches the answer (its *flags*: selected, counted in the overflow
series, countable by the C hook alone); each selected event then runs the
name's ``Plan``.  A plan is the configuration's ``Rules`` for the name
(``Config.rules_for``) plus what lives as long as the name does: the series
it is counted under and its rate-limit bucket.
"""

from __future__ import annotations

import sys
import threading
import time

from opentelemetry.instrumentation.audithook import _selection
from opentelemetry.instrumentation.audithook._config import Config, Rules

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


class Plan:
    """What the hook does with one selected event name."""

    __slots__ = ("name", "key", "non_stdlib", "arguments", "ratio", "bucket")

    def __init__(self, name: str, rules: Rules, key: str | None, rate_limit: float) -> None:
        self.name = name
        # the name it is counted under; None: the overflow series
        self.key = key
        # imports of standard-library modules are left out (@default)
        self.non_stdlib = rules.selected == _selection.SELECTED_NON_STDLIB
        self.arguments = rules.arguments
        self.ratio = rules.sample_ratio
        self.bucket = TokenBucket(rate_limit) if rate_limit else None


class Planner:
    """The plans of one ``instrument()`` configuration, made on first sight."""

    def __init__(
        self, config: Config, counts: Counts, selected: int, fast: int, overflow: int
    ) -> None:
        """The hook's flags: ``selected``; ``fast``, which lets it count an
        event with no span by itself (0 where the emitter needs every event);
        ``overflow``, for the overflow series."""
        self.config = config
        self.counts = counts
        self._selected = selected
        self._fast = fast
        self._overflow = overflow
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
        plan = Plan(event, rules, self.counts.key(event), self.config.rate_limit)
        if len(self._plans) >= _PLAN_LIMIT:
            self._plans.clear()
        self._plans[event] = plan
        return plan

    def flags(self, event: str) -> int:
        """The hook's flags for a name (0: not selected)."""
        plan = self.plan(event)
        if plan is None:
            return 0
        flags = self._selected
        if plan.key is None:
            flags |= self._overflow
        # With no span current, the Python side would only count the event as
        # no_span: the C hook may do that by itself.
        if not plan.non_stdlib and plan.ratio >= 1.0:
            flags |= self._fast
        return flags

    def restart(self, counts: Counts) -> None:
        """After a fork: the child's counts, and rate limits that start full."""
        self.counts = counts
        self._plans.clear()
