"""The process-wide audit hook's Python side, whichever implementation runs it.

Audit hooks cannot be removed, so one hook is installed for the life of the
process and armed or disarmed by instrument() and uninstrument().  The hook
itself (``_speedups`` in C, or ``_purehook``) asks ``State.resolve`` once per
distinct event name for its flags and sample ratio (``_plan``), drops and
counts what it can by itself (``_impl.Backend``), and hands the rest to
``State.handle``.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.audithook import _config, _impl, _log, _plan, _sdk, _signals
from opentelemetry.instrumentation.audithook._emit import Emitter

if TYPE_CHECKING:
    from opentelemetry.instrumentation.audithook._impl import Backend


class State:
    """The hook's view of the world; one per process."""

    def __init__(self) -> None:
        self.emitter: Emitter | None = None
        self.counts = _plan.Counts()
        self.impl: Backend | None = None

    @property
    def implementation(self) -> str:
        return _impl.name(self.impl) if self.impl is not None else "none"

    def _is_ours(self, exc: Exception) -> bool:
        """Whether our own code raised exc, so that we may drop it."""
        return self.impl is None or _signals.is_ours(exc, self.impl.raised_by)

    def resolve(self, event: str) -> tuple[int, float]:
        """The hook's (flags, sample ratio) for a name, asked once per name."""
        emitter = self.emitter
        if emitter is None:
            return 0, 1.0
        try:
            return emitter.planner.resolve(event)
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            # Counted and reported once; the name is then treated as unselected.
            emitter.report_error(event, exc)
            return 0, 1.0

    def situation(self, event: str) -> int:
        """Where an event happens, for a hook that cannot read the context."""
        emitter = self.emitter
        if emitter is None:
            return _impl.SUPPRESSED
        try:
            return emitter.situation()
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            # Counted as hook_error and reported once; SUPPRESSED counts nothing more.
            emitter.report_error(event, exc)
            return _impl.SUPPRESSED

    def handle(self, event: str, args: tuple[Any, ...]) -> None:
        emitter = self.emitter
        if emitter is None:
            return
        try:
            emitter.handle(event, args)
        except Exception as exc:  # never BaseException: Ctrl-C must reach the app
            if not self._is_ours(exc):
                raise
            emitter.report_error(event, exc)

    def report(self, event: str, exc: Exception) -> None:
        """An error in the hook's own decisions: counted, reported once."""
        if not self._is_ours(exc):
            raise exc
        if self.emitter is not None:
            self.emitter.report_error(event, exc)

    def snapshot(
        self,
    ) -> tuple[dict[str | None, int], dict[tuple[str | None, str], int]]:
        """Selected events and drops: the hook's counts, and the drops
        decided in Python."""
        selected: dict[str | None, int] = {}
        dropped = self.counts.snapshot()
        if self.impl is not None:
            names = self.impl.COUNTS
            for event, row in self.impl.counts().items():
                for kind, n in zip(names, row, strict=True):
                    if not n:
                        continue
                    if kind == "selected":
                        selected[event] = n
                    else:
                        key = (event, kind)
                        dropped[key] = dropped.get(key, 0) + n
        return selected, dropped

    def arm(self, emitter: Emitter) -> None:
        self.emitter = emitter
        if self.impl is not None:
            config = emitter.config
            self.impl.configure(
                config.rate_limit,
                config.rate_limit_total,
                sys.stdlib_module_names,
                _config.BURST_SECONDS,
                config.repeat_window,
            )
            self.impl.clear_cache()
            self.impl.set_enabled(True)

    def disarm(self) -> None:
        if self.impl is not None:
            self.impl.set_enabled(False)
            self.impl.clear_cache()
        self.emitter = None

    def after_fork_in_child(self) -> None:
        # Another thread may have held a lock or been inside the hook when the
        # process forked; and the child is a new process: it starts fresh.
        self.counts = _plan.Counts()
        if self.emitter is not None:
            self.emitter.after_fork_in_child(self.counts)
        if self.impl is not None:
            # the child's counts start at zero and its rate limits full
            self.impl.reset_after_fork()

    def install(self, pure_python: bool) -> None:
        """Install the hook once per process; later calls do nothing.  Never
        raises for what other audit hooks do: it falls back, or warns."""
        if self.impl is not None:
            return
        impl = _impl.choose(pure_python)
        impl.set_context(*_sdk.SEAM.context_args, self.situation)
        outcome = impl.install(self.resolve, self.handle, self.report)
        if outcome is False and _impl.name(impl) == "c":
            _log.warning(
                "an existing audit hook vetoed the C audit hook; using the pure-Python one"
            )
            impl = _impl.choose(pure_python=True)
            impl.set_context(*_sdk.SEAM.context_args, self.situation)
            outcome = impl.install(self.resolve, self.handle, self.report)
        if outcome is None:
            _log.warning(
                "an existing audit hook refused the probe event %r: assuming the audit hook"
                " is installed; events that hook refuses are not recorded",
                impl.PROBE_EVENT,
            )
        elif not impl.installed():
            _log.warning(
                "an existing audit hook vetoes new audit hooks: audit events cannot be recorded"
            )
        for name in _plan.UNRECORDABLE:
            impl.pin(name, 0)
        self.impl = impl
        os.register_at_fork(after_in_child=self.after_fork_in_child)
        # At exit the SDK flushes and shuts down; events raised after that could
        # not be exported, and recording them would only print warnings.
        atexit.register(self.disarm)


STATE = State()
