"""The process-wide audit hook (pure Python).

Audit hooks cannot be removed, so one hook is installed for the life of the
process and armed or disarmed by instrument() and uninstrument().  The hot
path is a single dict lookup: each event name maps to its Plan, or to 0 when
it is not selected or the hook is disarmed, so an unselected event costs one
``dict.get`` and one truth test.
"""

from __future__ import annotations

import atexit
import os
import sys
from _thread import get_ident
from collections.abc import Callable
from typing import Any

from opentelemetry.instrumentation.audithook._emit import Counts, Emitter, Plan

AuditHook = Callable[[str, tuple[Any, ...]], None]


class State:
    """The hook's view of the world; one per process."""

    def __init__(self) -> None:
        self.emitter: Emitter | None = None
        # Never rebound: the hook holds direct references to these two.
        self.plans: dict[str, Plan | int] = {}
        self.busy: set[int] = set()
        self.counts = Counts()
        self.installed = False

    def resolve(self, event: str) -> Plan | int:
        """Work out, once per event name, what the hook does with it."""
        emitter = self.emitter
        if emitter is None:
            return 0
        mode = emitter.config.selection.mode(event)
        plan: Plan | int = emitter.plan(event, mode) if mode else 0
        # A disarm that raced with us has cleared the table; do not refill it.
        if self.emitter is emitter:
            self.plans[event] = plan
        return plan

    def arm(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.plans.clear()

    def disarm(self) -> None:
        self.emitter = None
        self.plans.clear()

    def after_fork_in_child(self) -> None:
        # Another thread may have held a lock or been inside the hook when the
        # process forked; and the child is a new process: it starts fresh.
        self.counts = Counts()
        if self.emitter is not None:
            self.emitter.after_fork_in_child(self.counts)
        self.busy.clear()
        # Plans hold the token buckets: the child's rate limits start full.
        self.plans.clear()


STATE = State()


def make_hook(state: State) -> AuditHook:
    get_plan = state.plans.get
    busy = state.busy
    resolve = state.resolve

    def audit_hook(event: str, args: tuple[Any, ...]) -> None:
        plan = get_plan(event)
        if plan is None:
            plan = resolve(event)
        if not plan:
            return
        thread = get_ident()
        if thread in busy:
            # An event raised by our own work (the SDK opening a file, say).
            return
        busy.add(thread)
        try:
            emitter = state.emitter
            if emitter is not None:
                try:
                    emitter.handle(plan, args)  # type: ignore[arg-type]
                except Exception as exc:  # never BaseException: Ctrl-C must reach the app
                    emitter.report_error(event, exc)
        except Exception:  # noqa: S110 - reporting failed; the application must not see it
            pass
        finally:
            busy.discard(thread)

    return audit_hook


def install(state: State = STATE) -> None:
    """Install the hook once per process; later calls do nothing."""
    if state.installed:
        return
    state.installed = True
    sys.addaudithook(make_hook(state))
    os.register_at_fork(after_in_child=state.after_fork_in_child)
    # At exit the SDK flushes and shuts down; events raised after that could
    # not be exported, and recording them would only print warnings.
    atexit.register(state.disarm)
