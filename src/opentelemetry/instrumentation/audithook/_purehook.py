"""The audit hook in pure Python: the twin of ``_speedups`` (C).

Same functions, same behaviour; used where the C extension could not be
built, or when ``OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true``.  The hot path is one
dict lookup: each event name maps to its flags (0 when it is not selected or
the hook is disarmed), so an unselected event costs one ``dict.get`` and one
truth test.

Where the twins differ, by necessity: pure Python can reach a frame only
through ``sys._getframe``, ``frame.f_code`` or ``traceback.tb_frame``, each
of which raises an audit event (``sys._getframe``, ``object.__getattr__``)
that other hooks see.  So ``caller_location`` (code location, off by default
with this hook) and ``raised_by`` (only after an exception) are visible to
other hooks here, and invisible in C.  CPython itself runs this hook with
tracing off, which the C hook does for itself.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import signal
import sys
import threading
from _thread import get_ident
from collections.abc import Callable
from types import FunctionType, MethodType, TracebackType
from typing import Any

FLAG_SELECTED = 1
FLAG_FAST = 4
FLAG_OVERFLOW = 8
PROBE_EVENT = "opentelemetry.instrumentation.audithook.probe"
# caller_location needs sys._getframe and frame.f_code: other hooks see them
WALK_IS_SILENT = False

# Names remembered at once; past that the cache starts over (the C hook's
# cache has the same bound).
_CACHE_LIMIT = 3072

_Resolve = Callable[[str], int]
_Handle = Callable[[str, tuple[Any, ...]], None]

# Python runs signal handlers in the main thread between any two bytecodes,
# ours and the SDK's included, where an ``except Exception`` would swallow an
# application's exception (a timeout on SIGALRM): while our code runs there,
# asynchronous signals wait, and are delivered when it is done.
_MAIN_THREAD = threading.main_thread().ident
_SYNCHRONOUS = {"SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGABRT", "SIGSYS"}
_DEFERRED = (
    frozenset(s for s in signal.valid_signals() if getattr(s, "name", "") not in _SYNCHRONOUS)
    if hasattr(signal, "pthread_sigmask")
    else frozenset()
)

# Never rebound: the hook holds direct references to these.
_cache: dict[str, int] = {}
_busy: set[int] = set()
# names resolved ahead of their first event, for good (pin())
_pinned: dict[str, int] = {}


class _State:
    enabled = False
    installed = False
    probe_seen = False
    resolve: _Resolve | None = None
    handle: _Handle | None = None


def _make_hook() -> Callable[[str, tuple[Any, ...]], None]:
    get_flags = _cache.get
    busy = _busy
    state = _State
    main_thread = _MAIN_THREAD
    deferred = _DEFERRED
    # the C function: signal.pthread_sigmask's Python wrapper would give a
    # handler bytecodes to run in between
    sigmask = getattr(_signal, "pthread_sigmask", None)
    block = signal.SIG_BLOCK if sigmask else 0
    setmask = signal.SIG_SETMASK if sigmask else 0

    def audit_hook(event: str, args: tuple[Any, ...]) -> None:
        flags = get_flags(event)
        if flags == 0:
            return
        if flags is None and not state.enabled:
            if event == PROBE_EVENT:
                state.probe_seen = True
            return
        thread = get_ident()
        if thread in busy:
            return  # an event raised by our own work
        # The mask as it is, read first: a handler that runs on the way out
        # of this call raises before anything needs undoing.
        saved = sigmask(block, ()) if sigmask and thread == main_thread else None
        busy.add(thread)
        # No except here: resolve() and handle() drop the errors of our own
        # code; what they let through is the application's (a signal
        # handler's exception, KeyboardInterrupt) and goes on to it.
        try:
            if saved is not None:
                sigmask(block, deferred)  # type: ignore[misc]
            if flags is None:
                # First sight of this name: ask once.
                flags = state.resolve(event)  # type: ignore[misc]
                if state.enabled:
                    if len(_cache) >= _CACHE_LIMIT:
                        clear_cache()
                    _cache[event] = flags
                if not flags:
                    return
            state.handle(event, args)  # type: ignore[misc]
        finally:
            busy.discard(thread)
            if saved is not None:
                # Pending signals are delivered now: their handlers run at the
                # next bytecode, and what they raise leaves this hook.
                sigmask(setmask, saved)  # type: ignore[misc]

    return audit_hook


def install(resolve: _Resolve, handle: _Handle, /) -> bool | None:
    """Install the hook once: True, False if another hook refused it, None
    if another hook refused the probe event that would tell."""
    _State.resolve = resolve
    _State.handle = handle
    if _State.installed:
        return True
    try:
        sys.addaudithook(_make_hook())
    except Exception:  # a hook refused sys.addaudithook with more than RuntimeError
        return False
    # An existing hook may veto ours (sys.addaudithook then adds nothing and
    # says nothing): raise a probe event and see whether it arrives.
    _State.probe_seen = False
    try:
        sys.audit(PROBE_EVENT)
    except Exception:  # refused before it reached us: ours may well be there
        _State.installed = True
        return None
    _State.installed = _State.probe_seen
    return _State.installed


def installed() -> bool:
    return _State.installed


def set_enabled(flag: bool, /) -> None:
    _State.enabled = bool(flag) and _State.installed


def clear_cache() -> None:
    """Forget every resolved event name but the pinned ones."""
    _cache.clear()
    _cache.update(_pinned)


def pin(name: str, flags: int, /) -> None:
    """Resolve a name ahead of its first event, for good."""
    _pinned[name] = _cache[name] = flags


def set_fast_path(context_var: Any, suppress_keys: tuple[Any, ...], span_key: Any, /) -> None:
    """Only the C hook counts without calling Python; here the handler counts."""


def counts() -> dict[str | None, tuple[int, int, int]]:
    # Events of other interpreters do not reach this hook: a Python hook
    # belongs to the interpreter that added it.
    return {}


def reset_after_fork() -> None:
    _busy.clear()


def caller_location(
    skip: dict[str, bool], classify: Callable[[str], bool], /
) -> tuple[str, int, str] | None:
    """(file, line, function) of the first frame whose file is not skipped."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        skipped = skip.get(filename)
        if skipped is None:
            skipped = skip[filename] = classify(filename)
        if not skipped:
            return filename, frame.f_lineno, code.co_qualname
        frame = frame.f_back  # type: ignore[assignment]
    return None


def raised_by(tb: TracebackType | None, functions: tuple[Any, ...], /) -> bool:
    """Whether a frame of the traceback runs one of the functions' code."""
    codes = set()
    for function in functions:
        # type() is: a user's callable object runs no code of its own here
        f = function.__func__ if type(function) is MethodType else function
        if type(f) is FunctionType:
            codes.add(f.__code__)
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return True
        tb = tb.tb_next
    return False


def _install_bare_hook() -> None:
    sys.addaudithook(lambda event, args: None)
