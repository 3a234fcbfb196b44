"""Telling the application's exceptions from ours.

Python runs signal handlers between any two bytecodes, ours included: an
application's handler that raises (a timeout on SIGALRM) raises inside our
code, and its exception belongs to the application.  Only exceptions that
our own code caused may be dropped.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from types import FunctionType, MethodType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    RaisedBy = Callable[[TracebackType | None, tuple[Any, ...]], bool]

_MAIN_THREAD = threading.main_thread().ident


def _handlers() -> tuple[Any, ...]:
    """The Python functions installed as signal handlers."""
    found = []
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):  # pragma: no cover - platform-specific
            continue
        while type(handler) is functools.partial:
            handler = handler.func
        # type() is: a user's object runs no code of its own here
        if type(handler) is FunctionType or type(handler) is MethodType:
            found.append(handler)
    return tuple(found)


def is_ours(exc: Exception, raised_by: RaisedBy) -> bool:
    """Whether exc was raised by our code rather than by a signal handler
    that ran inside it.  ``raised_by`` is the hook implementation's."""
    if threading.get_ident() != _MAIN_THREAD:
        return True  # signal handlers run in the main thread only
    handlers = _handlers()
    return not (handlers and raised_by(exc.__traceback__, handlers))
