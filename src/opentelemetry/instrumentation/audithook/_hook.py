"""The process-wide audit hook's Python side, whichever implementation runs it.

Audit hooks cannot be removed, so one hook is installed for the life of the
process and armed or disarmed by instrument() and uninstrument().  The hook
itself (``_speedups`` in C, or ``_purehook``) asks ``State.resolve`` once per
distinct event name what to do with it, and hands selected events to
``State.handle``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context

from opentelemetry.instrumentation.audithook import _impl, _purehook, _selection, _signals
from opentelemetry.instrumentation.audithook._emit import (
    NO_SPAN,
    OTHER_INTERPRETER,
    SUPPRESS_KEYS,
    Counts,
    Emitter,
    Plan,
)

_logger = logging.getLogger("opentelemetry.instrumentation.audithook")

MODE_SELECTED = 1

# Plans held at once; past that the table starts over (a name whose plan was
# forgotten gets a new one on its next event).
_PLAN_LIMIT = 4096

# On Python 3.11, CPython raises these two while it holds a guard that makes
# any other thread's sys.settrace() fail with RuntimeError ("Cannot install a
# trace function while another trace function is being installed"): Python
# code run by a hook then may hand the GIL to such a thread.  They are never
# recorded there, and pinned as unselected before the first one is raised
# (a cache that starts over keeps them).
UNRECORDABLE: frozenset[str] = (
    frozenset({"sys.settrace", "sys.setprofile"}) if sys.version_info < (3, 12) else frozenset()
)


def _fast_path_args() -> tuple[Any, tuple[Any, ...], Any]:
    """Where the C hook finds the current span, when the runtime context is
    the SDK's default (contextvars); else None and it always asks Python."""
    from opentelemetry.trace.propagation import _SPAN_KEY

    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if type(var).__name__ != "ContextVar":
        return None, (), None
    return var, SUPPRESS_KEYS, _SPAN_KEY


class State:
    """The hook's view of the world; one per process."""

    def __init__(self) -> None:
        self.emitter: Emitter | None = None
        self.plans: dict[str, Plan] = {}
        self.counts = Counts()
        self.impl: ModuleType | None = None

    @property
    def implementation(self) -> str:
        return _impl.name(self.impl) if self.impl is not None else "none"

    def _is_ours(self, exc: Exception) -> bool:
        """Whether our own code raised exc, so that we may drop it."""
        return self.impl is None or _signals.is_ours(exc, self.impl.raised_by)

    def resolve(self, event: str) -> int:
        """Work out, once per event name, what the hook does with it."""
        emitter = self.emitter
        if emitter is None:
            return 0
        try:
            return self._resolve(emitter, event)
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            # Counted and reported once; the name is then treated as unselected.
            emitter.report_error(event, exc)
            return 0

    def _plan(self, emitter: Emitter, event: str) -> tuple[int, Plan | None]:
        if event in UNRECORDABLE:
            return 0, None
        mode = emitter.config.selection.mode(event)
        if not mode:
            return 0, None
        plan = emitter.plan(event, mode)
        if len(self.plans) >= _PLAN_LIMIT:
            self.plans.clear()
        self.plans[event] = plan
        return mode, plan

    def _resolve(self, emitter: Emitter, event: str) -> int:
        mode, plan = self._plan(emitter, event)
        if plan is None:
            return 0
        flags = MODE_SELECTED
        if plan.key is None and self.impl is not None:
            flags |= self.impl.MODE_OVERFLOW
        # Events the C hook may count by itself when no span is current: the
        # Python path would do nothing but count them as no_span.
        if (
            mode == _selection.SELECTED
            and plan.ratio >= 1.0
            and not emitter.log_no_span
            and self.impl is not None
        ):
            flags |= self.impl.MODE_FAST
        return flags

    def handle(self, event: str, args: tuple[Any, ...]) -> None:
        emitter = self.emitter
        if emitter is None:
            return
        try:
            plan = self.plans.get(event)
            if plan is None:
                plan = self._plan(emitter, event)[1]
                if plan is None:
                    return
            emitter.handle(plan, args)
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            emitter.report_error(event, exc)

    def snapshot(
        self,
    ) -> tuple[dict[str | None, int], dict[tuple[str | None, str], int]]:
        """Counts from Python and, for the C fast path and other
        interpreters, from C."""
        selected, dropped = self.counts.snapshot()
        if self.impl is not None:
            for event, (n_selected, n_no_span, n_elsewhere) in self.impl.counts().items():
                if n_selected:
                    selected[event] = selected.get(event, 0) + n_selected
                for reason, n in ((NO_SPAN, n_no_span), (OTHER_INTERPRETER, n_elsewhere)):
                    if n:
                        key = (event, reason)
                        dropped[key] = dropped.get(key, 0) + n
        return selected, dropped

    def arm(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.plans.clear()
        if self.impl is not None:
            self.impl.clear_cache()
            self.impl.set_enabled(True)

    def disarm(self) -> None:
        if self.impl is not None:
            self.impl.set_enabled(False)
            self.impl.clear_cache()
        self.emitter = None
        self.plans.clear()

    def after_fork_in_child(self) -> None:
        # Another thread may have held a lock or been inside the hook when the
        # process forked; and the child is a new process: it starts fresh.
        self.counts = Counts()
        if self.emitter is not None:
            self.emitter.after_fork_in_child(self.counts)
        if self.impl is not None:
            self.impl.reset_after_fork()
            # Plans hold the token buckets: the child's rate limits start full.
            self.impl.clear_cache()
        self.plans.clear()

    def install(self) -> None:
        """Install the hook once per process; later calls do nothing.  Never
        raises for what other audit hooks do: it falls back, or warns."""
        if self.impl is not None:
            return
        impl = _impl.choose()
        if impl is not _purehook:
            impl.set_fast_path(*_fast_path_args())
        outcome = impl.install(self.resolve, self.handle)
        if outcome is False and impl is not _purehook:
            _logger.warning(
                "an existing audit hook vetoed the C audit hook; using the pure-Python one"
            )
            impl = _purehook
            outcome = impl.install(self.resolve, self.handle)
        if outcome is None:
            _logger.warning(
                "an existing audit hook refused the probe event %r: assuming the audit hook"
                " is installed; events that hook refuses are not recorded",
                _purehook.PROBE_EVENT,
            )
        elif not impl.installed():
            _logger.warning(
                "an existing audit hook vetoes new audit hooks: audit events cannot be recorded"
            )
        for name in UNRECORDABLE:
            impl.pin(name, 0)
        self.impl = impl
        os.register_at_fork(after_in_child=self.after_fork_in_child)
        # At exit the SDK flushes and shuts down; events raised after that could
        # not be exported, and recording them would only print warnings.
        atexit.register(self.disarm)


STATE = State()
