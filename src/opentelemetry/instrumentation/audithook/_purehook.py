"""The audit hook in pure Python: the twin of ``_speedups`` (C).

Same functions, same behaviour; used where the C extension could not be
built, or when ``OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true``.  The hot path is one
dict lookup: each event name maps to 0 (not selected) or to its ``_Name``
(flags, sample ratio, counts), so an unselected event costs one ``dict.get``
and one truth test.  A selected event then goes through the same decisions,
in the same order, as in C (standard-library import, suppression, sampling,
no span, rate limits), each drop counted here; only what is left reaches the
handler.

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
from random import random
from time import monotonic
from types import FrameType, FunctionType, MethodType, TracebackType
from typing import Any

FLAG_SELECTED = 1
FLAG_NEED_SPAN = 2
FLAG_NON_STDLIB = 4
FLAG_OVERFLOW = 8
FLAG_HANDLE_FIRST = 16
COUNTS: tuple[str, ...] = (
    "selected", "no_span", "sampled_out", "rate_limited", "rate_limited_total",
    "repeated", "other_interpreter",
)  # fmt: skip
PROBE_EVENT = "opentelemetry.instrumentation.audithook.probe"
# caller_location needs sys._getframe and frame.f_code: other hooks see them
WALK_IS_SILENT = False

# situation()'s answers: _hook.SUPPRESSED, NO_SPAN and IN_SPAN
_SUPPRESSED, _NO_SPAN, _IN_SPAN = 0, 1, 2
_SELECTED, _N_NO_SPAN, _SAMPLED_OUT, _RATE_LIMITED, _RATE_LIMITED_TOTAL, _REPEATED = range(6)

# Names remembered at once; past that the cache starts over (the C hook's
# cache has the same bound).
_CACHE_LIMIT = 3072

_Resolve = Callable[[str], tuple[int, float]]
_Handle = Callable[[str, tuple[Any, ...]], None]
_Report = Callable[[str, Exception], None]

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


class _Bucket:
    """A token bucket: it fills at its rate and holds ``burst_seconds`` of it
    (at least one token); full at first use."""

    __slots__ = ("tokens", "last")

    def __init__(self) -> None:
        self.tokens = -1.0  # full at first use
        self.last = 0.0

    def take(self, rate: float, now: float) -> bool:
        capacity = max(1.0, rate * _State.burst_seconds)
        tokens = (
            capacity if self.tokens < 0 else min(capacity, self.tokens + (now - self.last) * rate)
        )
        self.last = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class _Counted:
    """Where a selected name is counted, with its rate limit."""

    __slots__ = ("n", "bucket")

    def __init__(self) -> None:
        self.n = [0] * len(COUNTS)
        self.bucket = _Bucket()


class _Name:
    """A selected name's flags, sample ratio and counts (truthy, unlike 0)."""

    __slots__ = ("flags", "ratio", "count")

    def __init__(self, flags: int, ratio: float, count: _Counted) -> None:
        self.flags = flags
        self.ratio = ratio
        self.count = count


# Never rebound: the hook holds direct references to these.  The cache maps a
# name to 0 (not selected, or disarmed) or to its _Name.
_cache: dict[str, _Name | int] = {}
_busy: set[int] = set()
# names resolved ahead of their first event, for good (pin())
_pinned: dict[str, _Name | int] = {}
# Counts are never emptied; past the names Python admits, they share None's.
_counted: dict[str | None, _Counted] = {None: _Counted()}
_lock = threading.Lock()


class _State:
    enabled = False
    installed = False
    probe_seen = False
    resolve: _Resolve | None = None
    handle: _Handle | None = None
    report: _Report | None = None
    situation: Callable[[str], int] | None = None
    context_var: Any = None
    suppress_keys: tuple[Any, ...] = ()
    span_key: Any = None
    non_recording: Any = None
    rate_limit = 0.0
    rate_limit_total = 0.0
    burst_seconds = 1.0
    repeat_window = 0.0
    total = _Bucket()
    stdlib: frozenset[str] = frozenset()


def _situation(event: str) -> int:
    """Where the event happens, as the C hook reads it from the context."""
    state = _State
    var = state.context_var
    if var is None:
        situation = state.situation
        return situation(event) if situation is not None else _IN_SPAN
    ctx = var.get(None)
    if ctx is None:
        return _NO_SPAN
    if not issubclass(type(ctx), dict):
        return state.situation(event) if state.situation is not None else _IN_SPAN
    for key in state.suppress_keys:
        value = dict.get(ctx, key)
        if value is True:
            return _SUPPRESSED
        if value is not None and value is not False:
            return state.situation(event) if state.situation is not None else _IN_SPAN
    span = dict.get(ctx, state.span_key)
    if span is None or type(span) is state.non_recording:
        return _NO_SPAN
    return _IN_SPAN


# Repeats: the events exported in the last repeat window, by a fingerprint
# of their name and arguments, in slots as C keeps them (a collision forgets
# one: an export more, never a new behaviour hidden).
_REPEAT_SLOTS = 1024
_seen: list[tuple[int, float] | None] = [None] * _REPEAT_SLOTS
_LONG_VALUE = 4096
_FINGERPRINT_DEPTH = 3
_FINGERPRINT_ITEMS = 16
_identity_hash = object.__hash__
# the key of the event this thread's handler is exporting (unsee())
_handling = threading.local()


class _Unknown(Exception):
    """An argument whose value cannot be read without running its code."""


def _fingerprint(value: Any, depth: int) -> int:
    """What identifies an argument, as C's ``fingerprint``: the value of a
    str, bytes, int, float, bool or None (exact types), of a tuple or list of
    those; a dict by its type.  Anything else raises _Unknown (a code object
    too: ``exec`` of dynamic code always goes out).  Types are hashed by
    ``object.__hash__``: ``hash()`` of a class could run its metaclass's, and
    ``id()`` raises an audit event."""
    kind = type(value)
    tag = _identity_hash(kind)
    if value is None or value is True or value is False:
        return hash((tag, _identity_hash(value)))
    if kind is dict:
        return tag
    if kind is str or kind is bytes:
        n = len(value)
        if n > _LONG_VALUE:
            half = _LONG_VALUE // 2
            return hash((tag, n, value[:half], value[-half:]))
        return hash((tag, value))
    if kind is int or kind is float:
        return hash((tag, value))
    if (kind is tuple or kind is list) and depth < _FINGERPRINT_DEPTH:
        items = value[:_FINGERPRINT_ITEMS]
        return hash((tag, len(value), *[_fingerprint(v, depth + 1) for v in items]))
    raise _Unknown


def _repeat_key(event: str, args: tuple[Any, ...], flags: int) -> int | None:
    """The event's key among the repeats; None: not one we can tell a repeat of."""
    if type(args) is not tuple:
        return None
    parts: list[Any] = [event, len(args)]
    try:
        for i, arg in enumerate(args[:_FINGERPRINT_ITEMS]):
            if i == 0 and flags & FLAG_HANDLE_FIRST:
                parts.append(_identity_hash(type(arg)))
            else:
                parts.append(_fingerprint(arg, 1))
    except _Unknown:
        return None
    return hash(tuple(parts))


def _admit(name: _Name, where: int, event: str, args: tuple[Any, ...]) -> bool:
    """Count a selected event; whether it goes to the handler (the C order)."""
    count = name.count
    state = _State
    kind = -1
    if name.ratio < 1.0 and random() >= name.ratio:
        kind = _SAMPLED_OUT
    elif where == _NO_SPAN and name.flags & FLAG_NEED_SPAN:
        kind = _N_NO_SPAN
    key = None
    window = state.repeat_window
    if kind < 0 and window:
        key = _repeat_key(event, args, name.flags)
    with _lock:
        count.n[_SELECTED] += 1
        if kind < 0 and (state.rate_limit or state.rate_limit_total or key is not None):
            now = monotonic()
            slot = key & (_REPEAT_SLOTS - 1) if key is not None else 0
            last = _seen[slot] if key is not None else None
            if last is not None and last[0] == key and now - last[1] < window:
                kind = _REPEATED
            elif state.rate_limit and not count.bucket.take(state.rate_limit, now):
                kind = _RATE_LIMITED
            elif state.rate_limit_total and not state.total.take(state.rate_limit_total, now):
                kind = _RATE_LIMITED_TOTAL
            elif key is not None:
                _seen[slot] = (key, now)
        if kind >= 0:
            count.n[kind] += 1
    _handling.key = key if kind < 0 else None
    return kind < 0


def _name_for(event: str, flags: int, ratio: float) -> _Name | int:
    if not flags & FLAG_SELECTED:
        return 0
    key = None if flags & FLAG_OVERFLOW else event
    with _lock:
        count = _counted.get(key)
        if count is None:
            count = _counted[key] = _Counted()
    return _Name(flags, ratio, count)


def _is_stdlib_import(args: tuple[Any, ...]) -> bool:
    module = args[0] if args else None
    return type(module) is str and module.partition(".")[0] in _State.stdlib


def _make_hook() -> Callable[[str, tuple[Any, ...]], None]:
    get_name = _cache.get
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
        name = get_name(event)
        if not name:
            if name is not None:
                return  # the hot path: an unselected event
            if not state.enabled:
                if event == PROBE_EVENT:
                    state.probe_seen = True
                return
        thread = get_ident()
        if thread in busy:
            return  # an event raised by our own work
        masking = sigmask is not None and thread == main_thread
        saved = None
        busy.add(thread)
        # resolve(), report() and handle() drop the errors of our own code;
        # what they let through is the application's (a signal handler's
        # exception, KeyboardInterrupt) and goes on to it.
        try:
            if name is None:
                if masking:
                    # The mask as it is, read first: a handler that runs on
                    # the way out of this call raises before anything needs
                    # undoing.
                    saved = sigmask(block, ())  # type: ignore[misc]
                    sigmask(block, deferred)  # type: ignore[misc]
                # First sight of this name: ask once.
                flags, ratio = state.resolve(event)  # type: ignore[misc]
                name = _name_for(event, flags, ratio)
                if state.enabled:
                    if len(_cache) >= _CACHE_LIMIT:
                        clear_cache()
                    _cache[event] = name
                if not name:
                    return
            selected: _Name = name  # type: ignore[assignment]
            # The decisions run unmasked, as C's run without Python: report()
            # tells a signal handler's exception from ours.
            try:
                if selected.flags & FLAG_NON_STDLIB and _is_stdlib_import(args):
                    return
                where = _situation(event)
                admitted = where != _SUPPRESSED and _admit(selected, where, event, args)
            except Exception as exc:  # never BaseException: Ctrl-C must reach the app
                state.report(event, exc)  # type: ignore[misc]
                return
            if admitted:
                if masking and saved is None:
                    saved = sigmask(block, ())  # type: ignore[misc]
                    sigmask(block, deferred)  # type: ignore[misc]
                state.handle(event, args)  # type: ignore[misc]
                _handling.key = None
        finally:
            busy.discard(thread)
            if saved is not None:
                # Pending signals are delivered now: their handlers run at the
                # next bytecode, and what they raise leaves this hook.
                sigmask(setmask, saved)  # type: ignore[misc]

    return audit_hook


def install(resolve: _Resolve, handle: _Handle, report: _Report, /) -> bool | None:
    """Install the hook once: True, False if another hook refused it, None
    if another hook refused the probe event that would tell."""
    _State.resolve = resolve
    _State.handle = handle
    _State.report = report
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


def unsee() -> None:
    """The event being handled was not exported: its repeats are not repeats."""
    key = getattr(_handling, "key", None)
    if key is not None:
        slot = key & (_REPEAT_SLOTS - 1)
        with _lock:
            last = _seen[slot]
            if last is not None and last[0] == key:
                _seen[slot] = None


def clear_cache() -> None:
    """Forget every resolved event name but the pinned ones."""
    _cache.clear()
    _cache.update(_pinned)


def pin(name: str, flags: int, /) -> None:
    """Resolve a name ahead of its first event, for good."""
    _pinned[name] = _cache[name] = _name_for(name, flags, 1.0)


def set_context(
    context_var: Any,
    suppress_keys: tuple[Any, ...],
    span_key: Any,
    non_recording: type | None,
    situation: Callable[[str], int],
    /,
) -> None:
    """Where to read suppression and the span; context_var None: ask situation(event)."""
    _State.situation = situation
    _State.context_var = context_var
    _State.suppress_keys = suppress_keys
    _State.span_key = span_key
    _State.non_recording = non_recording


def configure(
    rate_limit: float,
    rate_limit_total: float,
    stdlib: frozenset[str],
    burst_seconds: float,
    repeat_window: float,
    /,
) -> None:
    """The rate limits (events per second; 0: none), the module names that
    FLAG_NON_STDLIB leaves out, how many seconds of its rate each bucket holds
    (they start full), and for how many seconds an exported event makes its
    repeats drop (0: never; none is remembered from before)."""
    if not (rate_limit >= 0 and rate_limit_total >= 0):
        raise ValueError("rate limits are >= 0")
    if not 0 < burst_seconds <= 3600:
        raise ValueError("burst_seconds is > 0 and <= 3600")
    if not 0 <= repeat_window <= 86400:
        raise ValueError("repeat_window is >= 0 and <= 86400")
    _State.stdlib = stdlib
    with _lock:
        _State.rate_limit = float(rate_limit)
        _State.rate_limit_total = float(rate_limit_total)
        _State.burst_seconds = float(burst_seconds)
        _State.repeat_window = float(repeat_window)
        _refill()


def _refill() -> None:
    for count in _counted.values():
        count.bucket = _Bucket()
    _State.total = _Bucket()
    _seen[:] = [None] * _REPEAT_SLOTS


def counts() -> dict[str | None, tuple[int, ...]]:
    """{name or None: counts in the order of COUNTS}; None: the overflow names.
    Events of other interpreters do not reach this hook (a Python hook belongs
    to the interpreter that added it)."""
    with _lock:
        return {name: tuple(c.n) for name, c in _counted.items() if any(c.n)}


def reset_after_fork() -> None:
    global _lock
    _busy.clear()
    # the child's own lock, counts and full rate limits
    _lock = threading.Lock()
    for count in _counted.values():
        count.n[:] = [0] * len(count.n)
    _refill()


def caller_location(
    skip: dict[str, bool], classify: Callable[[str], bool], /
) -> tuple[str, int, str, str | None] | None:
    """(file, line, function) of the first frame whose file is not skipped,
    and the module whose import is running it (or None)."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        skipped = skip.get(filename)
        if skipped is None:
            skipped = skip[filename] = classify(filename)
        if not skipped:
            return filename, frame.f_lineno, code.co_qualname, _importing_module(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _importing_module(frame: FrameType | None) -> str | None:
    # the innermost module body that importlib's _call_with_frames_removed ran
    while frame is not None:
        back = frame.f_back
        if frame.f_code.co_name == "<module>" and back is not None:
            caller = back.f_code
            if (
                caller.co_name == "_call_with_frames_removed"
                and caller.co_filename == "<frozen importlib._bootstrap>"
            ):
                name = frame.f_globals.get("__name__")
                return name if type(name) is str else None
        frame = back
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
